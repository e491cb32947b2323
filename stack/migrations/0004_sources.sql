-- Documents have a source, and a source has one current version (issue 16).
--
-- A document's source is what it is a version of: 's3://<bucket>/<key>' for the document bucket (with the S3
-- version id beside it), 'external:<id>' or 'title:<title>' for an HTTP upload. (collection, source) is unique,
-- so a new version replaces the old one in one transaction (stack.store.ingest) and no query can see both.
-- Older rows that shared a title (uploaded before this migration) keep their text under 'document:<id>'; the
-- newest row with each title becomes that title's source.
ALTER TABLE documents ADD COLUMN source text;
ALTER TABLE documents ADD COLUMN source_version text;
UPDATE documents d SET source = CASE
  WHEN d.id = (SELECT max(o.id) FROM documents o WHERE o.collection_id = d.collection_id AND o.title = d.title)
  THEN 'title:' || d.title ELSE 'document:' || d.id END;
ALTER TABLE documents ALTER COLUMN source SET NOT NULL;
ALTER TABLE documents DROP CONSTRAINT documents_collection_id_content_hash_key;
ALTER TABLE documents ADD CONSTRAINT documents_collection_source_key UNIQUE (collection_id, source);
ALTER TABLE documents ADD CONSTRAINT documents_source_form
  CHECK (source ~ '^(s3://|external:|title:|document:)' AND length(source) <= 2048);

-- A chunk's pages are a range (first..last), and a chunk of a document with headings knows its section.
ALTER TABLE chunks RENAME COLUMN page TO page_start;
ALTER TABLE chunks ADD COLUMN page_end integer;
UPDATE chunks SET page_end = page_start;
ALTER TABLE chunks ADD COLUMN section text;

-- Full-text search beside the vectors: exact terms (drug names, ICD-10 codes, form numbers) match as words.
-- 'english' keeps codes whole ('e11.9', 'j45.909', '99213') and stems the prose.
ALTER TABLE chunks ADD COLUMN lexemes tsvector
  GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(section, '') || ' ' || text)) STORED;
CREATE INDEX chunks_lexemes_gin ON chunks USING gin (lexemes);

-- Sync events name the object they acted on: 's3://<bucket>/<key>?versionId=<id>' (never the content). The
-- field is hashed after prev_hash when present, so every event written before it still verifies unchanged.
ALTER TABLE audit_events ADD COLUMN source text;  -- concat_ws skips a NULL: older events hash as before

DROP FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text);
DROP FUNCTION audit_canonical(bigint, text, text, text[], text, text, bigint[], bigint[], text, integer, text, text,
                              text);

CREATE FUNCTION audit_canonical(seq bigint, at text, actor text, groups text[], action text, collection text,
                                document_ids bigint[], chunk_ids bigint[], outcome text, latency_ms integer,
                                query_ref text, answer_ref text, prev_hash text, source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws(E'\x1f', seq::text, at, actor, array_to_string(groups, E'\x1e'), action,
                   coalesce(collection, ''), array_to_string(document_ids, E'\x1e'),
                   array_to_string(chunk_ids, E'\x1e'), outcome, latency_ms::text,
                   coalesce(query_ref, ''), coalesce(answer_ref, ''), prev_hash, source)
$$;

CREATE FUNCTION audit_append(p_actor text, p_groups text[], p_action text, p_collection text,
                             p_document_ids bigint[], p_chunk_ids bigint[], p_outcome text, p_latency_ms integer,
                             p_query_ref text, p_answer_ref text, p_source text)
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
                   p_query_ref, p_answer_ref, v_prev, p_source), 'UTF8')), 'hex');
  INSERT INTO audit_events (seq, at, actor, groups, action, collection, document_ids, chunk_ids, outcome,
                            latency_ms, query_ref, answer_ref, prev_hash, hash, source)
  VALUES (v_seq, v_at, p_actor, p_groups, p_action, p_collection, coalesce(p_document_ids, '{}'),
          coalesce(p_chunk_ids, '{}'), p_outcome, p_latency_ms, p_query_ref, p_answer_ref, v_prev, v_hash, p_source);
  RETURN QUERY SELECT v_seq, v_hash;
END $$;
GRANT CREATE ON SCHEMA public TO phistack_audit_writer;  -- for the hand-over, as in 0001
ALTER FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text, text)
  OWNER TO phistack_audit_writer;
REVOKE CREATE ON SCHEMA public FROM phistack_audit_writer;
REVOKE ALL ON FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, text[], text, text, bigint[], bigint[], text, integer, text, text, text)
  TO phistack_app;
