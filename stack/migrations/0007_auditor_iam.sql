-- The audit reader on a managed database (Aurora): the gateway hosts anchor and ship the audit trail, and
-- playbooks/verify.yml checks it, as phistack_auditor (SELECT on audit_events only), logging in with an IAM
-- authentication token signed by the host's instance profile (rds-db:connect on this user too), as phistack_app
-- does (0006). On a plain PostgreSQL rds_iam does not exist, and this migration changes nothing.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') THEN
    GRANT rds_iam TO phistack_auditor;
  END IF;
END $$;
