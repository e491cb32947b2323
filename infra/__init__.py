"""phistack infrastructure: the client config model and the Pulumi program that provisions a client."""
