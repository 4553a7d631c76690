export * from "./users";
export * from "./instances";
export * from "./events";
