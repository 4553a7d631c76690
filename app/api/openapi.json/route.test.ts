import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { METHOD_NOT_ALLOWED } from "@/lib/http/handlers";
import { GET } from "./route";

const API_DIR = path.join(process.cwd(), "app", "api");
/** Routes that are not part of the documented contract (the operator's probes and scrape: README "Operating Fleetdeck"). */
const UNDOCUMENTED = new Set(["/api/auth/{nextauth}", "/api/health", "/api/ready", "/api/metrics", "/api/openapi.json", "/api/{path}"]);
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

function routeFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return routeFiles(full);
    return name === "route.ts" ? [full] : [];
  });
}

function apiPathOf(file: string): string {
  const relative = path.relative(path.join(process.cwd(), "app"), path.dirname(file)).split(path.sep);
  return `/${relative.map((segment) => segment.replace(/^\[(?:\.\.\.)?(.+)\]$/, "{$1}")).join("/")}`;
}

async function fetchDocument() {
  const response = await GET(new Request("http://localhost/api/openapi.json"), { params: Promise.resolve({}) });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  return (await response.json()) as {
    openapi: string;
    paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
    components: { schemas: Record<string, unknown> };
  };
}

describe("GET /api/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const document = await fetchDocument();
    expect(document.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(document as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("lists every implemented route and method under app/api, and nothing else", async () => {
    const document = await fetchDocument();
    const implemented: string[] = [];
    for (const file of routeFiles(API_DIR)) {
      const apiPath = apiPathOf(file);
      if (UNDOCUMENTED.has(apiPath)) continue;
      const routeModule = (await import(file)) as Record<string, unknown>;
      for (const method of METHODS) {
        const handler = routeModule[method] as ((...args: unknown[]) => unknown) & { [METHOD_NOT_ALLOWED]?: boolean } | undefined;
        if (typeof handler === "function" && !handler[METHOD_NOT_ALLOWED]) implemented.push(`${method} ${apiPath}`);
      }
    }
    const documented = Object.entries(document.paths).flatMap(([apiPath, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${apiPath}`));
    expect(documented.sort()).toEqual(implemented.sort());
    expect(implemented.length).toBeGreaterThanOrEqual(20);
  });

  it("documents the error shape on every operation, and its response schemas compile as JSON Schema 2020-12", async () => {
    const document = await fetchDocument();
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      ajv.addSchema(schema as object, `#/components/schemas/${name}`);
    }
    for (const [apiPath, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const statuses = Object.keys(operation.responses);
        expect(statuses.some((status) => Number(status) >= 400), `${method} ${apiPath}`).toBe(true);
        for (const status of statuses.filter((candidate) => Number(candidate) >= 400)) {
          expect(operation.responses[status]!.content!["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/Error" });
        }
      }
    }
    const errorSchema = ajv.getSchema("#/components/schemas/Error");
    expect(errorSchema?.({ error: { code: "not_found", message: "No such instance." } })).toBe(true);
    expect(errorSchema?.({ error: { code: "not_found" } })).toBe(false);
  });
});
