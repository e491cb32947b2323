"""The gateway's local tooling, never deployed: an embedded PostgreSQL (``postgres``), the dev server with a
stand-in IdP (``server``), ``phistack-gateway dev`` (``stack``), the load check (``loadcheck``) and their small
loopback helpers (``net``). Nothing here imports infra: the gateway stands apart."""
