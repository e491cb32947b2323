-- The audit trail (164.312(b), (c)(1)): one row per request, each chained to the previous by SHA-256.
-- Appends go only through audit_append() (SECURITY DEFINER, owned by phistack_audit_writer): the application
-- role has no privilege on the table at all, so it can neither read, edit nor forge a row; it can only call
-- the function, which computes the chain inside the database under an advisory lock.
CREATE EXTENSION IF NOT EXISTS vector;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phistack_audit_writer') THEN
    CREATE ROLE phistack_audit_writer NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phistack_app') THEN
    CREATE ROLE phistack_app LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phistack_auditor') THEN
    CREATE ROLE phistack_auditor LOGIN; END IF;
  -- An owner that is not a superuser (Aurora's master user) gives objects to a role only as a member of it.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT phistack_audit_writer TO %I', current_user); END IF;
END $$;

CREATE TABLE audit_events (
  seq          bigint PRIMARY KEY,
  at           text NOT NULL,             -- UTC, microseconds, as hashed
  actor        text NOT NULL,
  groups       text[] NOT NULL,
  action       text NOT NULL,
  collection   text,
  document_ids bigint[] NOT NULL DEFAULT '{}',
  chunk_ids    bigint[] NOT NULL DEFAULT '{}',
  outcome      text NOT NULL,
  latency_ms   integer NOT NULL,
  query_ref    text,                      -- 'sha256:<hex>' or 'aes256gcm:<key id>:<base64>', never the text
  answer_ref   text,                      -- the same for the answer given
  prev_hash    text NOT NULL,
  hash         text NOT NULL UNIQUE
);
REVOKE ALL ON audit_events FROM PUBLIC;
-- Only a superuser may give objects to a role that cannot create in their schema; an owner that is not one
-- (Aurora's) lends the writer CREATE on public for the hand-over and takes it back at the end of this file.
GRANT CREATE ON SCHEMA public TO phistack_audit_writer;
ALTER TABLE audit_events OWNER TO phistack_audit_writer;

-- The exact bytes hashed. Fields are joined by the unit separator (U+001F), arrays by the record separator
-- (U+001E); the gateway refuses identifiers holding control characters. stack/audit.py mirrors this.
CREATE FUNCTION audit_canonical(seq bigint, at text, actor text, groups text[], action text, collection text,
                                document_ids bigint[], chunk_ids bigint[], outcome text, latency_ms integer,
                                query_ref text, answer_ref text, prev_hash text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws(E'\x1f', seq::text, at, actor, array_to_string(groups, E'\x1e'), action,
                   coalesce(collection, ''), array_to_string(document_ids, E'\x1e'),
                   array_to_string(chunk_ids, E'\x1e'), outcome, latency_ms::text,
                   coalesce(query_ref, ''), coalesce(answer_ref, ''), prev_hash)
$$;

CREATE FUNCTION audit_append(p_actor text, p_groups text[], p_action text, p_collection text,
                             p_document_ids bigint[], p_chunk_ids bigint[], p_outcome text, p_latency_ms integer,
                             p_query_ref text, p_answer_ref text)
RETURNS TABLE (event_seq bigint, event_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE v_seq bigint; v_prev text; v_at text; v_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(7160011);  -- one append at a time: the chain has one tip
  SELECT e.seq, e.hash INTO v_seq, v_prev FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  v_seq := coalesce(v_seq, 0) + 1;
  v_prev := coalesce(v_prev, repeat('0', 64));
  v_at := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
  v_hash := encode(sha256(convert_to(audit_canonical(v_seq, v_at, p_actor, p_groups, p_action, p_collection,
                   coalesce(p_document_ids, '{}'), coalesce(p_chunk_ids, '{}'), p_outcome, p_latency_ms,
                   p_query_ref, p_answer_ref, v_prev), 'UTF8')), 'hex');
  INSERT INTO audit_events VALUES (v_seq, v_at, p_actor, p_groups, p_action, p_collection,
                                   coalesce(p_document_ids, '{}'), coalesce(p_chunk_ids, '{}'), p_outcome,
                                   p_latency_ms, p_query_ref, p_answer_ref, v_prev, v_hash);
  RETURN QUERY SELECT v_seq, v_hash;
END $$;
ALTER FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text) OWNER TO phistack_audit_writer;
REVOKE ALL ON FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text) TO phistack_app;
GRANT SELECT ON audit_events TO phistack_auditor;

-- Defense in depth: even the owner cannot update or delete a row without first disabling this trigger
-- (which needs table ownership or superuser, and is itself what the chain check then exposes).
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP; END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
REVOKE CREATE ON SCHEMA public FROM phistack_audit_writer;
