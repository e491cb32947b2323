"""phistack compliance: one HIPAA control catalog, evaluated on a plan or on a live AWS account."""
