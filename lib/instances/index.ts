import "server-only";
export { provisionInstance } from "./provision";
export { startInstance, type InstanceOperationInput } from "./start";
export { stopInstance } from "./stop";
export { redeployInstance } from "./redeploy";
export { destroyInstance } from "./destroy";
export { getInstanceStatus, getInstanceConfig } from "./status";
export { reconcileInstance } from "./reconcile";
export { getLifecycleDeps, type LifecycleDeps } from "./deps";
