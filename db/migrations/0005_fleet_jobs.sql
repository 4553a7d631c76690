CREATE TYPE "public"."fleet_job_item_state" AS ENUM('pending', 'running', 'succeeded', 'noop', 'failed', 'cancelled');--> statement-breakpoint
CREATE TYPE "public"."fleet_job_kind" AS ENUM('redeploy', 'start', 'stop', 'revoke_keys');--> statement-breakpoint
CREATE TYPE "public"."fleet_job_state" AS ENUM('running', 'paused', 'cancelled', 'finished');--> statement-breakpoint
CREATE TABLE "fleet_job_items" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"target_id" uuid NOT NULL,
	"state" "fleet_job_item_state" DEFAULT 'pending' NOT NULL,
	"not_before" timestamp with time zone DEFAULT now() NOT NULL,
	"claim_token" uuid,
	"claim_expires_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error_code" text,
	"error_message" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "fleet_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" "fleet_job_kind" NOT NULL,
	"state" "fleet_job_state" DEFAULT 'running' NOT NULL,
	"created_by" uuid,
	"selection" jsonb NOT NULL,
	"total_items" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "fleet_job_items" ADD CONSTRAINT "fleet_job_items_job_id_fleet_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."fleet_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fleet_jobs" ADD CONSTRAINT "fleet_jobs_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fleet_job_items_job_idx" ON "fleet_job_items" USING btree ("job_id","position");--> statement-breakpoint
CREATE INDEX "fleet_job_items_open_idx" ON "fleet_job_items" USING btree ("job_id","state","not_before") WHERE "fleet_job_items"."state" in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "fleet_job_items_claim_idx" ON "fleet_job_items" USING btree ("id") WHERE "fleet_job_items"."state" in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "fleet_jobs_created_idx" ON "fleet_jobs" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "fleet_jobs_active_idx" ON "fleet_jobs" USING btree ("state") WHERE "fleet_jobs"."state" in ('running', 'paused');