CREATE TABLE "fleet_health_counts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"status" "instance_status" NOT NULL,
	"revoked" boolean NOT NULL,
	"key_signing_kid" text,
	"deployed_key_signing_kid" text,
	"undeployed" boolean NOT NULL,
	"expiry_bucket" bigint,
	"deployed_expiry_null" boolean NOT NULL,
	"n" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fleet_pepper_recheck" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL
);
--> statement-breakpoint
CREATE INDEX "fleet_pepper_recheck_owner_idx" ON "fleet_pepper_recheck" USING btree ("owner_id");--> statement-breakpoint
CREATE INDEX "instances_live_expiry_idx" ON "instances" USING btree (coalesce("deployed_key_expires_at", "key_expires_at")) WHERE "instances"."destroyed_at" is null;--> statement-breakpoint
CREATE INDEX "instances_running_expiry_idx" ON "instances" USING btree ("deployed_key_expires_at","id") WHERE "instances"."status" = 'running' and "instances"."destroyed_at" is null;--> statement-breakpoint
CREATE INDEX "instances_running_revoked_idx" ON "instances" USING btree ("key_revoked_at","deployed_key_expires_at","id") WHERE "instances"."status" = 'running' and "instances"."key_revoked_at" is not null and "instances"."destroyed_at" is null;--> statement-breakpoint
-- Kept by hand (drizzle-kit does not model functions or triggers): the counts behind the admin
-- overview (db/schema/fleet-health.ts, lib/admin/health-counts.ts). Statement-level triggers with
-- transition tables, so a bulk statement appends one row per changed class, not one per instance;
-- appends only, so concurrent writers never wait on each other here.
--> statement-breakpoint
CREATE FUNCTION "fleet_health_counts_on_insert"() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = '20ms' AS $$
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
      AND r.key_pepper_fingerprint <> 'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || u.api_token_pepper, 'UTF8')), 'hex'), 12)
      AND NOT EXISTS (SELECT 1 FROM fleet_pepper_recheck p WHERE p.owner_id = r.owner_id);
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM fleet_pepper_recheck p WHERE p.owner_id = r.owner_id);
  END;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "fleet_health_counts_on_update"() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = '20ms' AS $$
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
  -- Only a stored key changes the fingerprint (a pepper change is the users trigger's), so most
  -- updates (lease renewals, steps, status) skip this and its subtransaction.
  -- The users table may be what is unavailable (locked, failing) while instances are written with
  -- a fallback key: then wait at most lock_timeout (set on the function) and re-check every owner
  -- written here instead, so instance writes never depend on users.
  IF NOT EXISTS (
    SELECT 1 FROM new_rows r JOIN old_rows o ON o.id = r.id WHERE r.key_pepper_fingerprint IS DISTINCT FROM o.key_pepper_fingerprint
  ) THEN
    RETURN NULL;
  END IF;
  BEGIN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r JOIN users u ON u.id = r.owner_id
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
      AND r.key_pepper_fingerprint <> 'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || u.api_token_pepper, 'UTF8')), 'hex'), 12)
      AND NOT EXISTS (SELECT 1 FROM fleet_pepper_recheck p WHERE p.owner_id = r.owner_id);
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO fleet_pepper_recheck (owner_id)
    SELECT DISTINCT r.owner_id FROM new_rows r
    WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM fleet_pepper_recheck p WHERE p.owner_id = r.owner_id);
  END;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "fleet_health_counts_on_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fleet_health_counts (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  SELECT status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, sum(n)
  FROM (
    SELECT r.status, r.key_revoked_at IS NOT NULL, r.key_signing_kid, r.deployed_key_signing_kid,
           (r.key_id IS NOT NULL AND r.deployed_key_id IS DISTINCT FROM r.key_id),
           floor(extract(epoch FROM coalesce(r.deployed_key_expires_at, r.key_expires_at)) / 900)::bigint,
           r.deployed_key_expires_at IS NULL, -1 FROM old_rows r WHERE r.destroyed_at IS NULL
  ) AS changes (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  HAVING sum(n) <> 0;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "fleet_health_counts_on_truncate"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM fleet_health_counts;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- A pepper change may leave the owner's stored keys under a fingerprint that is no longer current.
CREATE FUNCTION "fleet_pepper_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fleet_pepper_recheck (owner_id) VALUES (NEW.id);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "instances_health_counts_insert" AFTER INSERT ON "instances" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_health_counts_on_insert();
--> statement-breakpoint
CREATE TRIGGER "instances_health_counts_update" AFTER UPDATE ON "instances" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_health_counts_on_update();
--> statement-breakpoint
CREATE TRIGGER "instances_health_counts_delete" AFTER DELETE ON "instances" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_health_counts_on_delete();
--> statement-breakpoint
CREATE TRIGGER "instances_health_counts_truncate" AFTER TRUNCATE ON "instances" FOR EACH STATEMENT EXECUTE FUNCTION fleet_health_counts_on_truncate();
--> statement-breakpoint
CREATE TRIGGER "users_pepper_changed" AFTER UPDATE OF "api_token_pepper" ON "users" FOR EACH ROW WHEN (OLD.api_token_pepper IS DISTINCT FROM NEW.api_token_pepper) EXECUTE FUNCTION fleet_pepper_changed();
--> statement-breakpoint
-- The fleet as it is now.
--> statement-breakpoint
INSERT INTO fleet_health_counts (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
SELECT r.status, r.key_revoked_at IS NOT NULL, r.key_signing_kid, r.deployed_key_signing_kid,
           (r.key_id IS NOT NULL AND r.deployed_key_id IS DISTINCT FROM r.key_id),
           floor(extract(epoch FROM coalesce(r.deployed_key_expires_at, r.key_expires_at)) / 900)::bigint,
           r.deployed_key_expires_at IS NULL, count(*) FROM instances r WHERE r.destroyed_at IS NULL GROUP BY 1, 2, 3, 4, 5, 6, 7;
--> statement-breakpoint
INSERT INTO fleet_pepper_recheck (owner_id)
SELECT DISTINCT r.owner_id FROM instances r JOIN users u ON u.id = r.owner_id
WHERE r.destroyed_at IS NULL AND r.key_revoked_at IS NULL AND r.key_pepper_fingerprint IS NOT NULL
  AND r.key_pepper_fingerprint <> 'pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || u.api_token_pepper, 'UTF8')), 'hex'), 12);
