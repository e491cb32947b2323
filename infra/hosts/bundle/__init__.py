"""The offline install bundle: everything the hosts install, with a manifest of SHA-256 sums."""
