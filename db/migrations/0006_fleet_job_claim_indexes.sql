DROP INDEX "fleet_job_items_claim_idx";--> statement-breakpoint
CREATE INDEX "fleet_job_items_pending_idx" ON "fleet_job_items" USING btree ("job_id","id") WHERE "fleet_job_items"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "fleet_job_items_claim_expiry_idx" ON "fleet_job_items" USING btree ("claim_expires_at") WHERE "fleet_job_items"."state" = 'running';