export * from "./users";
export * from "./instances";
export * from "./events";
export * from "./idempotency";
export * from "./fleet-jobs";
export * from "./fleet-health";
