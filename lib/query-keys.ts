/**
 * Every react-query key in the app, from one factory, so invalidation can target exactly what a
 * mutation changes (`instanceKeys.all` covers the list, every detail and every operation).
 */
export const instanceKeys = {
  all: ["instances"] as const,
  list: () => [...instanceKeys.all, "list"] as const,
  detail: (id: string) => [...instanceKeys.all, "detail", id] as const,
  /** Mutation key of lifecycle operations (start, stop, redeploy); the instance is in the variables. */
  operations: () => [...instanceKeys.all, "operation"] as const,
  create: () => [...instanceKeys.all, "create"] as const,
};

export const accountKeys = {
  all: ["account"] as const,
  revokeKeys: () => [...accountKeys.all, "revoke-keys"] as const,
};

/**
 * The admin views. Admin lifecycle operations live under `instanceKeys.operations()`, so the shared
 * instance components (OperationProgress) follow them exactly like the owner's own operations.
 */
export const adminKeys = {
  all: ["admin"] as const,
  instance: (id: string) => [...adminKeys.all, "instance", id] as const,
  operations: () => [...instanceKeys.operations(), "admin"] as const,
  bulkTargets: () => [...adminKeys.all, "bulk-targets"] as const,
  revokeUserKeys: (userId: string) => [...adminKeys.all, "revoke-user-keys", userId] as const,
  jobs: () => [...adminKeys.all, "jobs"] as const,
  job: (id: string) => [...adminKeys.jobs(), id] as const,
};
