-- Service API keys, stored as SHA-256 of the key (keys are 256-bit random, so a fast hash is enough): the
-- database never holds a usable key. The gateway looks keys up by hash; only administrators add or revoke.
CREATE TABLE api_keys (
  key_hash   text PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  groups     text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
GRANT SELECT ON api_keys TO phistack_app;
