"""A local Debian 13 host that stands in for a GPU host (systemd-nspawn), and what it installs from: used by the
Molecule test, the host tests and `phistack demo --host`. Needs root; nothing here runs at import."""
