-- Kept by hand, like 0007: every write that stores a key under a fingerprint that is not its
-- owner's current one now adds its own fleet_pepper_recheck row (no "already listed" check), so the
-- retention pass can prune owners with nothing left to re-check: a row it cannot see yet belongs to
-- a write it cannot see yet, and survives. lib/admin/health-counts.ts, prunePepperRechecks.
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "fleet_health_counts_on_insert"() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = '20ms' AS $$
BEGIN
  INSERT INTO fleet_health_counts (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  SELECT status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, sum(n)
  FROM (
    SELECT r.status, r.key_revoked_at IS NOT NULL, r.key_signing_kid, r.deployed_key_signing_kid,
           (r.key_id IS NOT NULL AND r.deployed_key_id IS DISTINCT FROM r.key_id),
           floor(extract(epoch FROM coalesce(r.deployed_key_expires_at, r.key_expires_at)) / 900)::bigint,
           r.deployed_key_expires_at IS NULL, 1 FROM new_rows r WHERE r.destroyed_at IS NULL
  ) AS changes (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  HAVING sum(n) <> 0;
  -- A live key stored under a fingerprint that is not its owner's current one: re-check that owner.
  -- The users table may be what is unavailable (locked, failing) while instances are written with
  -- a fallback key: then wait at most lock_timeout (set on the function) and re-check every owner
  -- written here instead, so instance writes never depend on users.
  BEGIN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r JOIN users u ON u.id = r.owner_id
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
      AND r.key_pepper_fingerprint <> 'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || u.api_token_pepper, 'UTF8')), 'hex'), 12);
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL;
  END;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "fleet_health_counts_on_update"() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = '20ms' AS $$
BEGIN
  INSERT INTO fleet_health_counts (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  SELECT status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, sum(n)
  FROM (
    SELECT r.status, r.key_revoked_at IS NOT NULL, r.key_signing_kid, r.deployed_key_signing_kid,
           (r.key_id IS NOT NULL AND r.deployed_key_id IS DISTINCT FROM r.key_id),
           floor(extract(epoch FROM coalesce(r.deployed_key_expires_at, r.key_expires_at)) / 900)::bigint,
           r.deployed_key_expires_at IS NULL, 1 FROM new_rows r WHERE r.destroyed_at IS NULL
    UNION ALL
    SELECT r.status, r.key_revoked_at IS NOT NULL, r.key_signing_kid, r.deployed_key_signing_kid,
           (r.key_id IS NOT NULL AND r.deployed_key_id IS DISTINCT FROM r.key_id),
           floor(extract(epoch FROM coalesce(r.deployed_key_expires_at, r.key_expires_at)) / 900)::bigint,
           r.deployed_key_expires_at IS NULL, -1 FROM old_rows r WHERE r.destroyed_at IS NULL
  ) AS changes (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  HAVING sum(n) <> 0;
  -- A live key stored under a fingerprint that is not its owner's current one: re-check that owner.
  -- Only a stored key (a new key id, or a fingerprint or revocation that changed) can make one (a
  -- pepper change is the users trigger's), so most updates (lease renewals, steps, status) skip
  -- this and its subtransaction. A key minted under the pepper a rotation just replaced keeps the
  -- old key's fingerprint: the new key id is what catches it.
  -- The users table may be what is unavailable (locked, failing) while instances are written with
  -- a fallback key: then wait at most lock_timeout (set on the function) and re-check every owner
  -- written here instead, so instance writes never depend on users.
  IF NOT EXISTS (
    SELECT 1 FROM new_rows r JOIN old_rows o ON o.id = r.id
    WHERE r.key_id IS DISTINCT FROM o.key_id OR r.key_pepper_fingerprint IS DISTINCT FROM o.key_pepper_fingerprint
       OR (o.key_revoked_at IS NOT NULL AND r.key_revoked_at IS NULL)
  ) THEN
    RETURN NULL;
  END IF;
  BEGIN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r JOIN users u ON u.id = r.owner_id
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
      AND r.key_pepper_fingerprint <> 'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || u.api_token_pepper, 'UTF8')), 'hex'), 12);
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL;
  END;
  RETURN NULL;
END $$;
