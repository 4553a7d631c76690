import { z } from "zod";

export const emailSchema = z.email({ message: "Enter a valid email address" }).trim().toLowerCase();

export const passwordSchema = z
  .string()
  .min(10, { message: "Passwords must be at least 10 characters" })
  .max(200, { message: "Passwords must be at most 200 characters" });

export const signInSchema = z.object({
  email: emailSchema,
  password: z.string().min(1, { message: "Enter your password" }).max(200),
});

export const userRoleSchema = z.enum(["user", "admin"]);
export type UserRole = z.infer<typeof userRoleSchema>;

/** The `[id]` segment of admin user routes. */
export const userIdSchema = z.uuid({ message: "User ids are UUIDs" });

/** Body of `PATCH /api/admin/users/{id}`: the user's instance quota; null returns it to MAX_INSTANCES_PER_USER. */
export const userLimitsBodySchema = z.strictObject({
  maxInstances: z.number().int().min(0).max(10_000).nullable(),
});

export const userLimitsSchema = z.object({ id: z.uuid(), maxInstances: z.number().int().nullable() });
export const signedOutEverywhereSchema = z.object({ id: z.uuid(), signedOutEverywhere: z.literal(true) });
