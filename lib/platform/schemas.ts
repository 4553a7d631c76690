import { z } from "zod";
import { provisionInstanceSchema } from "@/lib/instances/schemas";

/** Body of `POST /api/platform/instances`: whose instance, and optionally its name, region and image. */
export const platformProvisionBodySchema = z.strictObject({
  userId: z.uuid({ message: "userId must be a user id (UUID)" }),
  ...provisionInstanceSchema.shape,
});

export type PlatformProvisionBody = z.infer<typeof platformProvisionBodySchema>;

/** Printable ASCII without spaces, as most clients send (UUIDs, ULIDs, hashes). */
export const idempotencyKeySchema = z
  .string()
  .min(1, { message: "Idempotency-Key must not be empty" })
  .max(255, { message: "Idempotency-Key is at most 255 characters" })
  .regex(/^[\x21-\x7e]+$/, { message: "Idempotency-Key is printable ASCII without spaces" })
  .meta({
    description:
      "Makes the call safe to retry: a repeat with the same key and body replays the first answer instead of provisioning again; the same key with another body is refused (409).",
    example: "7c1f4a52-3f8e-4d7c-9a57-2f4f3c1b9e10",
  });

export const provisionHeadersSchema = z.object({ "Idempotency-Key": idempotencyKeySchema.optional() });

/** Body of `POST /api/cron/refresh-keys` (optional). */
export const refreshKeysBodySchema = z.strictObject({
  limit: z.number().int().min(1).max(500).optional().meta({ description: "Most instances to refresh in this pass (default 50)." }),
});
