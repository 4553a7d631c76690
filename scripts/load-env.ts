import { existsSync } from "node:fs";

/** Loads .env.local (as `next dev` would) so scripts see the same configuration as the app. */
export function loadLocalEnv(file = ".env.local"): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
