CREATE TYPE "public"."user_role" AS ENUM('user', 'admin');--> statement-breakpoint
CREATE TYPE "public"."instance_status" AS ENUM('provisioned', 'starting', 'running', 'stopping', 'stopped', 'restarting', 'destroying', 'destroyed', 'failed');--> statement-breakpoint
CREATE TYPE "public"."key_source" AS ENUM('minted', 'fallback');--> statement-breakpoint
CREATE TYPE "public"."machine_provider" AS ENUM('local', 'fly');--> statement-breakpoint
CREATE TYPE "public"."actor_type" AS ENUM('user', 'admin', 'internal', 'scheduler', 'system');--> statement-breakpoint
CREATE TYPE "public"."event_outcome" AS ENUM('success', 'failure', 'noop');--> statement-breakpoint
CREATE TABLE "sign_in_attempts" (
	"key" text PRIMARY KEY NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"window_started_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"name" text,
	"password_hash" text,
	"role" "user_role" DEFAULT 'user' NOT NULL,
	"api_token_pepper" text NOT NULL,
	"pepper_rotated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_email_unique" UNIQUE("email")
);
--> statement-breakpoint
CREATE TABLE "instances" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid NOT NULL,
	"name" text NOT NULL,
	"status" "instance_status" DEFAULT 'provisioned' NOT NULL,
	"provider" "machine_provider" NOT NULL,
	"machine_id" text,
	"machine_version" text,
	"region" text NOT NULL,
	"image_tag" text NOT NULL,
	"encrypted_key" text,
	"key_id" text,
	"key_expires_at" timestamp with time zone,
	"key_minted_at" timestamp with time zone,
	"key_source" "key_source",
	"key_pepper_fingerprint" text,
	"key_revoked_at" timestamp with time zone,
	"deployed_key_id" text,
	"deployed_key_expires_at" timestamp with time zone,
	"deployed_at" timestamp with time zone,
	"last_error_code" text,
	"last_error_message" text,
	"last_error_at" timestamp with time zone,
	"lease_token" uuid,
	"lease_operation" text,
	"lease_step" text,
	"lease_expires_at" timestamp with time zone,
	"refresh_attempts" integer DEFAULT 0 NOT NULL,
	"next_refresh_attempt_at" timestamp with time zone,
	"status_checked_at" timestamp with time zone,
	"last_activity_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"destroyed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "instance_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"instance_id" uuid,
	"user_id" uuid,
	"actor_type" "actor_type" NOT NULL,
	"actor_id" text,
	"action" text NOT NULL,
	"outcome" "event_outcome" NOT NULL,
	"key_source" "key_source",
	"key_id" text,
	"error_code" text,
	"error_message" text,
	"duration_ms" integer,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instance_events" ADD CONSTRAINT "instance_events_instance_id_instances_id_fk" FOREIGN KEY ("instance_id") REFERENCES "public"."instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "users_created_at_idx" ON "users" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "instances_owner_idx" ON "instances" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "instances_status_idx" ON "instances" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "instances_deployed_expiry_idx" ON "instances" USING btree ("deployed_key_expires_at","id");--> statement-breakpoint
CREATE INDEX "instances_key_expiry_idx" ON "instances" USING btree ("key_expires_at","id");--> statement-breakpoint
CREATE INDEX "instances_last_activity_idx" ON "instances" USING btree ("last_activity_at","id");--> statement-breakpoint
CREATE INDEX "instances_refresh_due_idx" ON "instances" USING btree ("deployed_key_expires_at") WHERE "instances"."status" = 'running';--> statement-breakpoint
CREATE INDEX "instance_events_instance_idx" ON "instance_events" USING btree ("instance_id","id");--> statement-breakpoint
CREATE INDEX "instance_events_user_idx" ON "instance_events" USING btree ("user_id","id");