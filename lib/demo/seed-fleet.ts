import { sql, type SQL } from "drizzle-orm";
import type { Database } from "@/db";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";

export interface SeedFleetOptions {
  count: number;
  /** Instances per owner; owners are created as needed. */
  instancesPerUser?: number;
  /** Deterministic spread for benchmarks; defaults to a random seed. */
  seed?: number;
  /**
   * The key ring's `kid`s the seeded keys are signed under: most under `current`, some under the first
   * `previous` (a rotation being rolled out). Null or absent: keys carry no `kid` (deployed before keys had one).
   */
  signingKeys?: SigningKeyIds | null;
  /**
   * Drop the keys, indexes and foreign keys of `users` and `instances` for the load and rebuild them
   * afterwards (same definitions, read from the catalog), which is several times faster than
   * maintaining them row by row. Default: from REBUILD_INDEXES_FROM instances on.
   */
  rebuildIndexes?: boolean;
}

/** From this many instances on, seedFleet rebuilds indexes after the load instead of maintaining them. */
export const REBUILD_INDEXES_FROM = 50_000;

type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/**
 * Drops what makes a bulk load slow on `users` and `instances` — their primary and unique keys,
 * other indexes, and every foreign key from or to them — and returns the statements that put each
 * back exactly as it was (pg_get_constraintdef / pg_get_indexdef): keys first, then indexes, then
 * foreign keys, which are validated by one scan each instead of one lookup per row.
 */
async function dropForLoad(tx: Transaction): Promise<string[]> {
  const result = await tx.execute(sql`
    with tables as (select unnest(array['users', 'instances']::regclass[]) as rel),
    parts as (
      select 1 as phase, format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname) as drop,
             format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) as restore
      from pg_constraint c
      where c.contype = 'f' and (c.conrelid in (select rel from tables) or c.confrelid in (select rel from tables))
      union all
      select 2, format('drop index %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
      from pg_index i
      where i.indrelid in (select rel from tables)
        and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
      union all
      select 3, format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname),
             format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
      from pg_constraint c
      where c.contype in ('p', 'u') and c.conrelid in (select rel from tables)
    )
    select drop, restore from parts order by phase`);
  const { rows } = result as unknown as { rows: { drop: string; restore: string }[] };
  for (const row of rows) await tx.execute(sql.raw(row.drop));
  return rows.map((row) => row.restore).reverse();
}

/**
 * Bulk-inserts `count` instances (and their owners) with a realistic spread: mostly running,
 * some stopped, failed or provisioned; deployed key expiries from a few days ago to 30 days out;
 * a few keys revoked by a rotation, a few never recorded, a few minted but not yet deployed; keys
 * signed under the ring's current secret, some under a previous one. One INSERT … SELECT per table
 * over generate_series, in one transaction, with index maintenance deferred for large loads (see
 * `rebuildIndexes`: it locks both tables for the load), so a million rows take well under a minute.
 * Seeded users have no password (they cannot sign in) and emails under fleet.fleetdeck.test.
 */
export async function seedFleet(db: Database, options: SeedFleetOptions): Promise<{ users: number; instances: number }> {
  const perUser = Math.max(1, options.instancesPerUser ?? 2);
  const userCount = Math.ceil(options.count / perUser);
  const runId = Date.now().toString(36);
  const seed = options.seed ?? Math.random();
  const rebuild = options.rebuildIndexes ?? options.count >= REBUILD_INDEXES_FROM;
  const currentKid = options.signingKeys?.current ?? null;
  const previousKid = options.signingKeys?.previous[0] ?? currentKid;
  // Owner n's id and pepper, derived from the run and n (seeded owners cannot sign in: their pepper
  // guards nothing), so the instances can name their owner without joining half a million users.
  const ownerId = (n: SQL) => sql`md5(${runId}::text || ':owner:' || ${n})::uuid`;
  const ownerPepper = (n: SQL) => sql`md5(${`${runId}:${seed}`}::text || ':pepper:' || ${n})`;

  await db.transaction(async (tx) => {
    await tx.execute(sql`select setseed(${seed})`);
    // Index builds sort in memory when they can (the default 64 MB spills at a million rows).
    await tx.execute(sql`set local maintenance_work_mem = '256MB'`);
    const restore = rebuild ? await dropForLoad(tx) : [];
    await tx.execute(sql`
      insert into users (id, email, name, role, api_token_pepper, created_at, updated_at)
      select ${ownerId(sql`n`)},
             'fleet-' || ${runId} || '-' || n || '@fleet.fleetdeck.test',
             'Fleet user ' || n,
             'user',
             ${ownerPepper(sql`n`)},
             now() - (random() * interval '365 days'),
             now()
      from generate_series(1, ${userCount}) as n`);
    await tx.execute(sql`
      with spread as (
        select n, random() as r_status, random() as r_key, random() as r_expiry, random() as r_signer,
               ((n - 1) % ${userCount}) + 1 as owner_n
        from generate_series(1, ${options.count}) as n
      ),
      owned as (
        -- The owner's id and current pepper fingerprint (the SQL twin of pepperFingerprint()) are
        -- functions of the owner's number, so no join with users: keys count as minted under the
        -- current pepper unless the spread below revokes them.
        select s.*, ${ownerId(sql`s.owner_n`)} as owner_id,
               'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || ${ownerPepper(sql`s.owner_n`)}, 'UTF8')), 'hex'), 12) as pepper_fingerprint
        from spread s
      )
      insert into instances (
        owner_id, name, status, provider, machine_id, machine_version, region, image_tag,
        key_id, key_signing_kid, key_expires_at, key_minted_at, key_source, key_pepper_fingerprint, key_revoked_at,
        deployed_key_id, deployed_key_signing_kid, deployed_key_expires_at, deployed_at, last_activity_at, created_at, updated_at
      )
      select s.owner_id,
             'gateway-' || s.n,
             (case when s.r_status < 0.80 then 'running' when s.r_status < 0.90 then 'stopped'
                   when s.r_status < 0.95 then 'failed' else 'provisioned' end)::instance_status,
             'fly',
             case when s.r_status < 0.95 then substr(md5('m' || s.n), 1, 14) end,
             case when s.r_status < 0.95 then substr(md5('v' || s.n), 1, 26) end,
             (array['iad','ord','lhr','fra','syd','nrt'])[1 + (s.n % 6)],
             'latest',
             k.key_id,
             k.kid,
             e.expires_at,
             e.expires_at - interval '30 days',
             case when s.r_status < 0.95 then (case when s.r_key < 0.1 then 'fallback' else 'minted' end)::key_source end,
             -- Revoked keys were minted under a pepper that a rotation has since replaced.
             case when s.r_status >= 0.95 then null
                  when s.r_key > 0.97 then 'pf_' || substr(md5('p' || s.n), 1, 12)
                  else s.pepper_fingerprint end,
             case when s.r_status < 0.95 and s.r_key > 0.97 then now() - (random() * interval '5 days') end,
             case when s.r_status >= 0.95 then null
                  when s.r_key between 0.95 and 0.97 then 'key_' || substr(md5('old' || s.n), 1, 12)
                  else k.key_id end,
             k.kid,
             e.expires_at,
             case when s.r_status < 0.95 then e.expires_at - interval '30 days' end,
             now() - (random() * interval '30 days'),
             now() - (random() * interval '400 days'),
             now()
      from owned s
      cross join lateral (
        select case when s.r_status >= 0.95 or s.r_expiry < 0.01 then null
                    else now() + ((s.r_expiry * 33) - 3) * interval '1 day' end as expires_at
      ) e
      cross join lateral (
        select case when s.r_status < 0.95 then 'key_' || substr(md5('k' || s.n), 1, 12) end as key_id,
               case when s.r_status < 0.95 then (case when s.r_signer < 0.05 then ${previousKid}::text else ${currentKid}::text end) end as kid
      ) k`);
    for (const statement of restore) await tx.execute(sql.raw(statement));
  });
  await db.execute(sql`analyze users`);
  await db.execute(sql`analyze instances`);
  return { users: userCount, instances: options.count };
}
