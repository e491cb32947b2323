-- A managed database (Aurora PostgreSQL, RDS): what the cluster's parameters cannot do by themselves.
--
-- rds_iam exists only on RDS and Aurora. A member logs in with an IAM authentication token and no longer with
-- a password: the gateways sign one per connection with their instance profile (rds-db:connect on this user
-- only), so no database password exists on any host. pgaudit is loaded through the cluster parameter group
-- (and the host engine's postgresql.conf); its extension adds the DDL event triggers, and is created only where
-- the library is loaded (CREATE EXTENSION fails otherwise). On a plain PostgreSQL neither applies, and this
-- migration changes nothing.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') THEN
    GRANT rds_iam TO phistack_app;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit')
     AND 'pgaudit' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
    CREATE EXTENSION IF NOT EXISTS pgaudit;
  END IF;
END $$;
