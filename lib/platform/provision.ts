import type { LifecycleDeps } from "@/lib/instances/deps";
import type { InstanceDto } from "@/lib/instances/dto";
import { provisionInstance, type ProvisionDeps } from "@/lib/instances/provision";
import { presentInstance } from "@/lib/instances/present";
import type { PlatformProvisionBody } from "./schemas";
import { runIdempotently } from "./idempotency";

const INTERNAL_ACTOR = { type: "internal", id: "platform-api" } as const;
export const PROVISION_SCOPE = "platform.provision";

/**
 * Provisions an instance for `userId` on behalf of an internal service. With an idempotency key the
 * call is safe to retry and to race: every call with that key and the same body answers with the
 * one instance the first call created (`replayed: true` for the repeats), and the same key with
 * another body is a 409 `conflict`. Without a key every call creates an instance. An unknown user
 * is `not_found` and leaves nothing behind (not even the key).
 */
export async function provisionInstanceIdempotently(
  input: PlatformProvisionBody & { idempotencyKey?: string },
  deps: ProvisionDeps & Pick<LifecycleDeps, "now">,
): Promise<{ instance: InstanceDto; replayed: boolean }> {
  const { idempotencyKey, ...request } = input;
  const provision = async (db: LifecycleDeps["db"]) => {
    const row = await provisionInstance({ ...request, actor: INTERNAL_ACTOR }, { ...deps, db });
    return presentInstance(row, { db, now: deps.now });
  };
  if (!idempotencyKey) return { instance: await provision(deps.db), replayed: false };

  const result = await runIdempotently(deps.db, { scope: PROVISION_SCOPE, key: idempotencyKey, request }, async (tx) => {
    const instance = await provision(tx);
    return { status: 201, body: instance, resourceId: instance.id };
  });
  return { instance: result.body as InstanceDto, replayed: result.replayed };
}
