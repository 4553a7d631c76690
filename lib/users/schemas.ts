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
