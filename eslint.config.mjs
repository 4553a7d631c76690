import { defineConfig, globalIgnores } from "eslint/config";
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

/**
 * The layers, lowest first: shared ← db ← lib ← components ← app. A folder imports only from the
 * folders below it; production code never imports test support (test/). README "Layout" says why.
 */
const LAYERS = {
  shared: ["db", "lib", "components", "app"],
  db: ["lib", "components", "app"],
  lib: ["components", "app"],
  components: ["app"],
  app: [],
};
const TESTS = ["**/*.test.ts", "**/*.test.tsx"];

/** The import patterns that reach `folders`, by alias or by a relative path climbing into them. */
function importsOf(folders) {
  return folders.map((folder) => ({
    regex: `^(@/|(\\.\\./)+)${folder}(/|$)`,
    message:
      folder === "test"
        ? "test/ is test support: production code never imports it."
        : `${folder}/ is a higher layer: see the import rules in README "Layout".`,
  }));
}

function layerRule(forbidden) {
  return { "no-restricted-imports": ["error", { patterns: importsOf(forbidden) }] };
}

const layerRules = Object.entries(LAYERS).flatMap(([folder, above]) => [
  { files: [`${folder}/**/*.{ts,tsx}`], ignores: TESTS, rules: layerRule([...above, "test"]) },
  // A suite may use test support, never a higher layer.
  { files: TESTS.map((glob) => `${folder}/${glob}`), rules: layerRule(above) },
]);

export default defineConfig([
  ...nextVitals,
  ...nextTs,
  ...layerRules,
  { files: ["proxy.ts", "instrumentation.ts"], rules: layerRule(["test"]) },
  // Operator commands (dev, users, seeding, the machine service) run on lib/, never on the UI or test support.
  { files: ["scripts/**/*.ts"], ignores: TESTS, rules: layerRule(["components", "app", "test"]) },
  globalIgnores([".next/**", ".next-*/**", ".data/**", "node_modules/**", "test-results/**", "playwright-report/**", "next-env.d.ts"]),
]);
