ALTER TABLE "instances" ADD COLUMN "key_jti" text;--> statement-breakpoint
ALTER TABLE "instances" ADD COLUMN "key_signing_kid" text;--> statement-breakpoint
ALTER TABLE "instances" ADD COLUMN "deployed_key_jti" text;--> statement-breakpoint
ALTER TABLE "instances" ADD COLUMN "deployed_key_signing_kid" text;