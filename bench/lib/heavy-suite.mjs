// The 20-table, 4,000-row schema the isolation benches share: each table references the one before.
export const TABLES = 20
export const ROWS_PER_TABLE = 200

export const tableNames = Array.from({ length: TABLES }, (_, i) => `t${i + 1}`)

export const HEAVY_SCHEMA = tableNames
  .map(
    (t, i) => `CREATE TABLE ${t} (
  id serial PRIMARY KEY,
  ${i > 0 ? `parent_id int REFERENCES ${tableNames[i - 1]} (id),` : ''}
  name text NOT NULL,
  qty int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ${t}_name_idx ON ${t} (name);`,
  )
  .join('\n')

export const HEAVY_SEED = tableNames
  .map(
    (t, i) =>
      `INSERT INTO ${t} (${i > 0 ? 'parent_id, ' : ''}name, qty)
       SELECT ${i > 0 ? `(g % ${ROWS_PER_TABLE}) + 1, ` : ''}'row ' || g, g FROM generate_series(1, ${ROWS_PER_TABLE}) g;`,
  )
  .join('\n')
