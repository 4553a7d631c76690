/**
 * `npm run user:delete -- --email E`: destroys the user's instances (their machines first), then
 * deletes the user and records it in the audit log. Uses the same configuration as the app
 * (.env.local, DATABASE_URL, MACHINE_PROVIDER). With the embedded PGlite database, stop
 * `npm run dev` first (two processes must not open one PGlite directory; its local machines end
 * with it).
 */
import { parseArgs } from "node:util";
import { getDatabaseHandle } from "@/db";
import { getLifecycleDeps } from "@/lib/instances/deps";
import { deleteUser } from "@/lib/users/delete-user";
import { loadLocalEnv } from "./load-env";

async function main() {
  const { values } = parseArgs({ options: { email: { type: "string" } } });
  if (!values.email) throw new Error("Usage: npm run user:delete -- --email E");
  loadLocalEnv();
  const deps = await getLifecycleDeps();
  try {
    const result = await deleteUser({ email: values.email, actor: { type: "system", id: "user-delete-cli" } }, deps);
    console.log(`Deleted ${values.email} (${result.userId}) after destroying ${result.destroyedInstances} instance(s).`);
  } finally {
    await (await getDatabaseHandle()).close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
