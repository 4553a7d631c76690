import "server-only";
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, users } from "@/db/schema";
import { fleetFilterWhere } from "./fleet-filter";
import { sorts } from "./fleet-sort";
import type { FleetFilter, FleetQuery } from "./schemas";


export interface BulkTarget {
  id: string;
  ownerId: string;
  name: string;
  ownerEmail: string;
}

/**
 * The instances a bulk operation over "everything matching this filter" touches, in the view's
 * sort order: at most `cap` of them (`truncated` says more matched). Destroyed and destroying
 * instances are left out: there is nothing to redeploy. A snapshot: instances that start matching
 * later are not included, and ones that stop matching are still acted on.
 */
export async function listBulkTargets(
  db: Database,
  query: Pick<FleetQuery, keyof FleetFilter | "sort" | "order">,
  now: Date,
  cap: number,
): Promise<{ targets: BulkTarget[]; truncated: boolean }> {
  const spec = sorts[query.sort];
  const filter = fleetFilterWhere(query, now);
  if (filter === false) return { targets: [], truncated: false };
  const rows = await db
    .select({ id: instances.id, ownerId: instances.ownerId, name: instances.name, ownerEmail: users.email })
    .from(instances)
    .innerJoin(users, eq(users.id, instances.ownerId))
    .where(and(filter, isNull(instances.destroyedAt), sql`${instances.status} not in ('destroyed', 'destroying')`))
    .orderBy(
      ...(query.order === "asc"
        ? [sql`${spec.column} asc nulls last`, sql`${instances.id} asc`]
        : [sql`${spec.column} desc nulls first`, sql`${instances.id} desc`]),
    )
    .limit(cap + 1);
  return { targets: rows.slice(0, cap), truncated: rows.length > cap };
}
