/** Accounts the e2e server seeds before it starts; the browser signs in with them through the real form. */
export const E2E_PORT = Number(process.env.E2E_PORT ?? 3100);
export const E2E_BASE_URL = `http://127.0.0.1:${E2E_PORT}`;

export const e2eUsers = {
  user: { email: "user@e2e.fleetdeck.test", password: "e2e-user-password-1", name: "Erin User" },
  other: { email: "other@e2e.fleetdeck.test", password: "e2e-other-password-1", name: "Oscar Other" },
  admin: { email: "admin@e2e.fleetdeck.test", password: "e2e-admin-password-1", name: "Ada Admin" },
} as const;
