"""The gateway's API routes, one module per resource."""
