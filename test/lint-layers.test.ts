/**
 * The layer rule in eslint.config.mjs is live: a deliberate violation of each boundary fails lint,
 * and the same import one layer down passes.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint();

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((message) => message.ruleId === "no-restricted-imports").map((message) => message.message);
}

describe("layer rule", () => {
  it.each([
    ["lib/instances/probe.ts", 'import { x } from "@/app/(app)/dashboard/page";\nexport const y = x;\n'],
    ["lib/instances/probe.ts", 'import { x } from "@/components/instances/badges";\nexport const y = x;\n'],
    ["components/instances/probe.tsx", 'import { x } from "@/app/(app)/layout";\nexport const y = x;\n'],
    ["db/probe.ts", 'import { x } from "@/lib/errors";\nexport const y = x;\n'],
    ["db/probe.test.ts", 'import { x } from "@/lib/errors";\nexport const y = x;\n'],
    ["shared/probe.ts", 'import { x } from "../db/client";\nexport const y = x;\n'],
    ["lib/keys/probe.ts", 'import { x } from "@/test/fixtures/keys";\nexport const y = x;\n'],
    ["app/api/probe/route.ts", 'import { x } from "@/test/http/api-server";\nexport const y = x;\n'],
    ["scripts/probe.ts", 'import { x } from "@/test/db";\nexport const y = x;\n'],
  ])("refuses %s importing across: %s", async (filePath, code) => {
    expect(await restrictedImports(filePath, code)).toHaveLength(1);
  });

  it.each([
    ["lib/instances/probe.ts", 'import { x } from "@/db/client";\nexport const y = x;\n'],
    ["components/instances/probe.tsx", 'import { x } from "@/lib/utils";\nexport const y = x;\n'],
    ["db/probe.ts", 'import { x } from "@/shared/env";\nexport const y = x;\n'],
    ["lib/keys/probe.test.ts", 'import { x } from "@/test/fixtures/keys";\nexport const y = x;\n'],
  ])("allows %s importing downward: %s", async (filePath, code) => {
    expect(await restrictedImports(filePath, code)).toEqual([]);
  });
});
