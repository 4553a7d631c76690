import { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import { fleetOverviewQuery } from "@/lib/admin/overview";
const client = new pg.Client({ connectionString: process.argv[2] });
await client.connect();
const { sql: text, params } = new PgDialect().sqlToQuery(fleetOverviewQuery(new Date(), { refreshThresholdHours: 240, signingKeys: null }));
for (let i = 0; i < 3; i++) { const s = performance.now(); await client.query(text, params as unknown[]); console.log("ms", (performance.now() - s).toFixed(0)); }
const r = await client.query("explain (analyze, buffers) " + text, params as unknown[]);
console.log(r.rows.map((x) => x["QUERY PLAN"]).join("\n"));
await client.end();
