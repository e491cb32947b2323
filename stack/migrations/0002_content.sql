-- Collections, documents and their embedded chunks. Access is decided inside PostgreSQL: every query runs with
-- the caller's groups in the transaction setting phistack.groups (joined by U+001E), and row-level security
-- lets the application role see and change only rows of collections those groups may read or write. The
-- retrieval query filters on the same ACL; RLS makes a mistake in it harmless.
CREATE TABLE collections (
  id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  title        text NOT NULL,
  read_groups  text[] NOT NULL,
  write_groups text[] NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE documents (
  id            bigserial PRIMARY KEY,
  collection_id text NOT NULL REFERENCES collections ON DELETE CASCADE,
  title         text NOT NULL,
  media_type    text NOT NULL,
  content_hash  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (collection_id, content_hash)            -- ingestion is idempotent by content
);
CREATE TABLE chunks (
  id            bigserial PRIMARY KEY,
  document_id   bigint NOT NULL REFERENCES documents ON DELETE CASCADE,
  collection_id text NOT NULL REFERENCES collections ON DELETE CASCADE,
  ordinal       integer NOT NULL,
  start_offset  integer NOT NULL,
  end_offset    integer NOT NULL,
  page          integer,
  text          text NOT NULL,
  embedding     vector(384) NOT NULL,
  UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_collection ON chunks (collection_id);
CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);

CREATE FUNCTION phistack_groups() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_to_array(nullif(current_setting('phistack.groups', true), ''), E'\x1e'), '{}'::text[])
$$;

ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY collections_read ON collections FOR SELECT TO phistack_app
  USING (read_groups && phistack_groups() OR write_groups && phistack_groups());
CREATE POLICY collections_admin ON collections FOR ALL TO phistack_app
  USING (write_groups && phistack_groups()) WITH CHECK (write_groups && phistack_groups());
CREATE POLICY documents_read ON documents FOR SELECT TO phistack_app
  USING (collection_id IN (SELECT id FROM collections WHERE read_groups && phistack_groups()));
CREATE POLICY documents_write ON documents FOR ALL TO phistack_app
  USING (collection_id IN (SELECT id FROM collections WHERE write_groups && phistack_groups()))
  WITH CHECK (collection_id IN (SELECT id FROM collections WHERE write_groups && phistack_groups()));
CREATE POLICY chunks_read ON chunks FOR SELECT TO phistack_app
  USING (collection_id IN (SELECT id FROM collections WHERE read_groups && phistack_groups()));
CREATE POLICY chunks_write ON chunks FOR ALL TO phistack_app
  USING (collection_id IN (SELECT id FROM collections WHERE write_groups && phistack_groups()))
  WITH CHECK (collection_id IN (SELECT id FROM collections WHERE write_groups && phistack_groups()));

GRANT SELECT, INSERT, UPDATE, DELETE ON collections, documents, chunks TO phistack_app;
GRANT USAGE ON SEQUENCE documents_id_seq, chunks_id_seq TO phistack_app;
