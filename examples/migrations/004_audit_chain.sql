-- An append-only audit trail: every change to orders adds a row whose hash covers the previous
-- row's hash, so editing or deleting any past row breaks the chain from that row on.
CREATE TABLE IF NOT EXISTS audit_log (
  -- Numbered by the trigger under its lock, so ids follow the chain even with concurrent writers
  -- (an identity column would hand out numbers before the lock, in a different order).
  id         bigint PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  table_name text NOT NULL,
  operation  text NOT NULL,
  row_id     uuid NOT NULL,
  data       jsonb NOT NULL,
  prev_hash  bytea,
  hash       bytea NOT NULL
);

-- The time goes in as epoch seconds: its text form would depend on each session's TimeZone.
CREATE OR REPLACE FUNCTION audit_row_hash(
  prev bytea, at timestamptz, table_name text, operation text, row_id uuid, data jsonb
) RETURNS bytea
  LANGUAGE sql IMMUTABLE
  AS $$
    SELECT digest(
      coalesce(prev, '\x'::bytea)
        || convert_to(concat_ws('|', extract(epoch FROM at)::text, table_name, operation, row_id::text, data::text), 'UTF8'),
      'sha256')
  $$;

CREATE OR REPLACE FUNCTION audit_log_link() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  DECLARE
    last_id bigint;
  BEGIN
    -- One writer at a time extends the chain; the lock is released at commit or rollback.
    PERFORM pg_advisory_xact_lock(hashtext('audit_log'));
    SELECT id, hash INTO last_id, NEW.prev_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.id := coalesce(last_id, 0) + 1;
    NEW.hash := audit_row_hash(NEW.prev_hash, NEW.at, NEW.table_name, NEW.operation, NEW.row_id, NEW.data);
    RETURN NEW;
  END
  $$;

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END
  $$;

-- SECURITY DEFINER: application roles write orders, never audit_log itself.
CREATE OR REPLACE FUNCTION audit_changes() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
  AS $$
  DECLARE
    subject record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  BEGIN
    INSERT INTO audit_log (table_name, operation, row_id, data, hash)
      VALUES (TG_TABLE_NAME, TG_OP, subject.id, to_jsonb(subject), '\x');
    RETURN NULL;
  END
  $$;

-- The first id whose hash does not follow from its predecessor, or NULL when the chain holds.
CREATE OR REPLACE FUNCTION audit_verify() RETURNS bigint
  LANGUAGE sql STABLE
  AS $$
    SELECT id FROM (
      SELECT id, hash, prev_hash, at, table_name, operation, row_id, data,
             lag(hash) OVER (ORDER BY id) AS expected_prev
      FROM audit_log
    ) chain
    WHERE prev_hash IS DISTINCT FROM expected_prev
       OR hash <> audit_row_hash(prev_hash, at, table_name, operation, row_id, data)
    ORDER BY id
    LIMIT 1
  $$;

CREATE OR REPLACE TRIGGER audit_log_link
  BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_link();
-- TRUNCATE is left allowed on purpose: pgrig's truncate isolation mode resets tables between tests.
CREATE OR REPLACE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE OR REPLACE TRIGGER orders_audit
  AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit_changes();
