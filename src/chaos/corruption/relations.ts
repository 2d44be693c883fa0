import type pg from 'pg'

export interface StoredRelation {
  oid: number
  /** Schema-qualified and quoted as needed, as `regclass` prints it with the schema. */
  name: string
  kind: 'heap' | 'btree' | 'other-index'
  /** Path of the main fork relative to the data dir (`base/<db>/<filenode>`). */
  path: string
}

/**
 * Relations with storage in the connected database. User objects only by default: everything
 * created after initdb has an oid of at least 16384 (FirstNormalObjectId), toast tables included.
 */
export async function storedRelations(client: pg.Client, includeCatalog = false): Promise<StoredRelation[]> {
  const { rows } = await client.query<{
    oid: number
    name: string
    relkind: string
    amname: string | null
    path: string
  }>(
    `select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as name, c.relkind, am.amname,
            pg_relation_filepath(c.oid) as path
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_am am on am.oid = c.relam
       left join pg_index i on i.indexrelid = c.oid
      where c.relkind in ('r', 'm', 't', 'i')
        and c.relpersistence <> 't'
        and (c.relkind <> 'm' or c.relispopulated)
        and (c.relkind <> 'i' or (i.indisvalid and i.indisready))
        and pg_relation_filepath(c.oid) is not null
        and (c.oid >= 16384 or $1)
      order by c.oid`,
    [includeCatalog],
  )
  return rows.map((row) => ({
    oid: row.oid,
    name: row.name,
    path: row.path,
    kind: row.relkind !== 'i' ? 'heap' : row.amname === 'btree' ? 'btree' : 'other-index',
  }))
}
