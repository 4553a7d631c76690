import { z } from "zod";

export const instanceIdSchema = z.uuid({ message: "Instance ids are UUIDs" });

export const instanceParamsSchema = z.object({ id: instanceIdSchema });

export const instanceNameSchema = z
  .string()
  .trim()
  .min(1, { message: "Give the instance a name" })
  .max(64, { message: "Names are at most 64 characters" })
  .regex(/^[\p{L}\p{N} ._-]+$/u, { message: "Use letters, digits, spaces, dots, dashes and underscores" });

export const regionSchema = z
  .string()
  .trim()
  .regex(/^[a-z]{3}$|^local$/, { message: "Regions are three-letter codes such as iad, or local" });

export const imageTagSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, { message: "Image tags are letters, digits, dots, dashes and underscores" });

export const provisionInstanceSchema = z.object({
  name: instanceNameSchema.optional(),
  region: regionSchema.optional(),
  imageTag: imageTagSchema.optional(),
});

export type ProvisionInstanceInput = z.infer<typeof provisionInstanceSchema>;

export const keyHealthValues = ["ok", "previous_signing_key", "expiring", "critical", "expired", "revoked", "unknown", "undeployed"] as const;
export type KeyHealth = (typeof keyHealthValues)[number];

/** Where the live re-key of a running instance with a revoked key stands (see rekeyStateOf). */
export const rekeyStateValues = ["pending", "in_progress", "failed"] as const;
export type RekeyState = (typeof rekeyStateValues)[number];
