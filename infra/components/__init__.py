"""ComponentResources over plain pulumi_aws resources, one module per concern."""
