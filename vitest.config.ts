import path from "node:path";
import { defineConfig } from "vitest/config";

const SOURCES = "{lib,db,app,components,scripts,gateway,shared,test}";
/** Suites that start the production build (`next start`): their own project, so unit runs build nothing. */
const SERVER_SUITES = `${SOURCES}/**/*.server.test.ts`;

export default defineConfig({
  resolve: {
    alias: {
      "@": path.resolve(import.meta.dirname),
      // Suites are server code: the marker's real entry (which throws outside React's server
      // condition) is for client bundles only.
      "server-only": path.resolve(import.meta.dirname, "node_modules/server-only/empty.js"),
    },
  },
  test: {
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real processes and databases; two cores run two at a time comfortably.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "unit", include: [`${SOURCES}/**/*.test.{ts,tsx}`], exclude: [SERVER_SUITES] } },
      // A `next build` can take a minute or two on a small machine.
      { extends: true, test: { name: "server", include: [SERVER_SUITES], hookTimeout: 240_000 } },
    ],
  },
});
