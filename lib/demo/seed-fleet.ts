import { sql } from "drizzle-orm";
import type { Database } from "@/db";

export interface SeedFleetOptions {
  count: number;
  /** Instances per owner; owners are created as needed. */
  instancesPerUser?: number;
  /** Deterministic spread for benchmarks; defaults to a random seed. */
  seed?: number;
}

/**
 * Bulk-inserts `count` instances (and their owners) with a realistic spread: mostly running,
 * some stopped, failed or provisioned; deployed key expiries from a few days ago to 30 days out;
 * a few keys revoked by a rotation, a few never recorded, a few minted but not yet deployed.
 * One INSERT … SELECT per table over generate_series, so 100,000 rows take seconds, not hours.
 * Seeded users have no password (they cannot sign in) and emails under fleet.fleetdeck.test.
 */
export async function seedFleet(db: Database, options: SeedFleetOptions): Promise<{ users: number; instances: number }> {
  const perUser = Math.max(1, options.instancesPerUser ?? 2);
  const userCount = Math.ceil(options.count / perUser);
  const runId = Date.now().toString(36);
  const seed = options.seed ?? Math.random();

  await db.transaction(async (tx) => {
    await tx.execute(sql`select setseed(${seed})`);
    await tx.execute(sql`
      insert into users (id, email, name, role, api_token_pepper, created_at, updated_at)
      select gen_random_uuid(),
             'fleet-' || ${runId} || '-' || n || '@fleet.fleetdeck.test',
             'Fleet user ' || n,
             'user',
             md5(random()::text || n),
             now() - (random() * interval '365 days'),
             now()
      from generate_series(1, ${userCount}) as n`);
    await tx.execute(sql`
      with owners as (
        -- The owner's current pepper fingerprint (the SQL twin of pepperFingerprint()), so keys
        -- count as minted under the current pepper unless the spread below revokes them.
        select id, row_number() over (order by id) as rn,
               'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || api_token_pepper, 'UTF8')), 'hex'), 12) as pepper_fingerprint
        from users where email like ${`fleet-${runId}-%`}
      ),
      spread as (
        select n, random() as r_status, random() as r_key, random() as r_expiry,
               ((n - 1) % ${userCount}) + 1 as owner_rn
        from generate_series(1, ${options.count}) as n
      )
      insert into instances (
        owner_id, name, status, provider, machine_id, machine_version, region, image_tag,
        key_id, key_expires_at, key_minted_at, key_source, key_pepper_fingerprint, key_revoked_at,
        deployed_key_id, deployed_key_expires_at, deployed_at, last_activity_at, created_at, updated_at
      )
      select o.id,
             'gateway-' || s.n,
             (case when s.r_status < 0.80 then 'running' when s.r_status < 0.90 then 'stopped'
                   when s.r_status < 0.95 then 'failed' else 'provisioned' end)::instance_status,
             'fly',
             case when s.r_status < 0.95 then substr(md5('m' || s.n), 1, 14) end,
             case when s.r_status < 0.95 then substr(md5('v' || s.n), 1, 26) end,
             (array['iad','ord','lhr','fra','syd','nrt'])[1 + (s.n % 6)],
             'latest',
             case when s.r_status < 0.95 then 'key_' || substr(md5('k' || s.n), 1, 12) end,
             e.expires_at,
             e.expires_at - interval '30 days',
             case when s.r_status < 0.95 then (case when s.r_key < 0.1 then 'fallback' else 'minted' end)::key_source end,
             -- Revoked keys were minted under a pepper that a rotation has since replaced.
             case when s.r_status >= 0.95 then null
                  when s.r_key > 0.97 then 'pf_' || substr(md5('p' || s.n), 1, 12)
                  else o.pepper_fingerprint end,
             case when s.r_status < 0.95 and s.r_key > 0.97 then now() - (random() * interval '5 days') end,
             case when s.r_status >= 0.95 then null
                  when s.r_key between 0.95 and 0.97 then 'key_' || substr(md5('old' || s.n), 1, 12)
                  else 'key_' || substr(md5('k' || s.n), 1, 12) end,
             e.expires_at,
             case when s.r_status < 0.95 then e.expires_at - interval '30 days' end,
             now() - (random() * interval '30 days'),
             now() - (random() * interval '400 days'),
             now()
      from spread s
      join owners o on o.rn = s.owner_rn
      cross join lateral (
        select case when s.r_status >= 0.95 or s.r_expiry < 0.01 then null
                    else now() + ((s.r_expiry * 33) - 3) * interval '1 day' end as expires_at
      ) e`);
  });
  await db.execute(sql`analyze users`);
  await db.execute(sql`analyze instances`);
  return { users: userCount, instances: options.count };
}
