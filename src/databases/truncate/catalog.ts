import type pg from 'pg'
import type { NamedTable } from './exclude.js'

/** A table that holds rows (relkind `r`: plain tables and the leaf partitions of partitioned ones). */
export interface StoredTable extends NamedTable {
  oid: number
  /** `p` for a partitioned table: no rows of its own, listed only so `exclude` can name it. */
  kind: 'r' | 'p'
  fromExtension: boolean
  /** pg_relation_size > 0: it may hold rows. */
  hasData: boolean
  /** Quoted names of the columns a restore writes (generated columns are recomputed). */
  columns: string[]
  /** User triggers that fire on a restore's insert: tgenabled (`O` or `A`) then the trigger's name. */
  triggers: string[]
  /** Rules on insert (a DO INSTEAD would redirect a restore's rows): ev_enabled (`O` or `A`) then the rule's name. */
  rules: string[]
}

export interface SequenceInfo {
  oid: number
  schema: string
  name: string
  fromExtension: boolean
  /** The reset's role may read and set it. */
  usable: boolean
  /** The table whose column owns it (serial, identity), if any. */
  ownerOid: number | null
}

export const SYSTEM_SCHEMAS = `n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'`
const FROM_EXTENSION = `exists (select 1 from pg_depend e
  where e.classid = 'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')`

const TABLES_SQL = `
select c.oid, c.relkind as kind, n.nspname as schema, c.relname as name, ${FROM_EXTENSION} as "fromExtension",
       c.relkind = 'r' and pg_relation_size(c.oid) > 0 as "hasData",
       coalesce((select array_agg(quote_ident(a.attname)::text order by a.attnum) from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''),
                '{}') as columns,
       coalesce((select array_agg(t.tgenabled::text || t.tgname::text) from pg_trigger t
                  where t.tgrelid = c.oid and not t.tgisinternal and t.tgenabled in ('O', 'A')), '{}') as triggers,
       coalesce((select array_agg(r.ev_enabled::text || r.rulename::text) from pg_rewrite r
                  where r.ev_class = c.oid and r.ev_type = '3' and r.ev_enabled in ('O', 'A')), '{}') as rules,
       case when c.relispartition then
         (select json_agg(json_build_object('schema', an.nspname, 'name', ac.relname))
            from pg_partition_ancestors(c.oid) p join pg_class ac on ac.oid = p.relid
            join pg_namespace an on an.oid = ac.relnamespace where p.relid <> c.oid)
       end as ancestors
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and c.relpersistence <> 't' and ${SYSTEM_SCHEMAS}
 order by 3, 4`

const SEQUENCES_SQL = `
select c.oid, n.nspname as schema, c.relname as name, ${FROM_EXTENSION} as "fromExtension",
       has_sequence_privilege(c.oid, 'SELECT,UPDATE') as usable, d.refobjid as "ownerOid"
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = c.oid
       and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
 where c.relkind = 'S' and c.relpersistence <> 't' and ${SYSTEM_SCHEMAS}`

/** Foreign keys between tables that hold rows (a partitioned table's keys are cloned onto its partitions). */
const FOREIGN_KEYS_SQL = `
select k.conrelid as "fromOid", cn.nspname as "fromSchema", c.relname as "fromName", k.confrelid as "toOid"
  from pg_constraint k
  join pg_class c on c.oid = k.conrelid join pg_namespace cn on cn.oid = c.relnamespace
  join pg_class f on f.oid = k.confrelid
 where k.contype = 'f' and k.conrelid <> k.confrelid and c.relkind = 'r' and f.relkind = 'r'`

export interface ForeignKey {
  fromOid: number
  fromSchema: string
  fromName: string
  toOid: number
}

export async function readTables(client: pg.Client): Promise<StoredTable[]> {
  return (await client.query<StoredTable>(TABLES_SQL)).rows.map((t) => ({
    ...t,
    ancestors: t.ancestors ?? [],
  }))
}

export async function readSequences(client: pg.Client): Promise<SequenceInfo[]> {
  return (await client.query<SequenceInfo>(SEQUENCES_SQL)).rows
}

export async function readForeignKeys(client: pg.Client): Promise<ForeignKey[]> {
  return (await client.query<ForeignKey>({ name: 'pgrig_truncate_fks', text: FOREIGN_KEYS_SQL })).rows
}
