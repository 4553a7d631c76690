import "server-only";
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, users, type InstanceStatus } from "@/db/schema";
import { toInstanceDto, type InstanceDto } from "@/lib/instances/dto";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { fleetFilterWhere } from "./fleet-filter";
import { decodeCursor, encodeCursor, flip, sorts, walkSegments } from "./fleet-sort";
import type { FleetQuery, instanceStatusValues } from "./schemas";

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time guard: the zod-only status list in ./schemas matches the database enum. */
export type StatusValuesMatchDatabase = Exact<(typeof instanceStatusValues)[number], InstanceStatus> extends true ? true : never;

export interface FleetInstanceDto extends InstanceDto {
  owner: { id: string; email: string; name: string | null };
}

export interface FleetPage {
  instances: FleetInstanceDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** A page as the admin fleet view shows it: it can also go back. */
export interface FleetPageWithPrevious extends FleetPage {
  /** Pass as `cursor` for the page before this one; null on the first page. */
  prevCursor: string | null;
}

/**
 * One page of the whole fleet (every user's instances: admin callers only), filtered by key health,
 * status and owner email (exact, or a prefix with `ownerSearch`), sorted by an indexed column with
 * keyset pagination: pages never skip or repeat rows while instances change, and each page costs
 * the same however deep it is. Destroyed instances appear only when the status filter asks for
 * them. Health is as of `now`. Throws `bad_request` for a cursor of another sort or order.
 */
export async function listFleetInstances(db: Database, query: FleetQuery, now: Date): Promise<FleetPage> {
  const { instances: page, nextCursor } = await listFleetPage(db, query, now);
  return { instances: page, nextCursor };
}

/**
 * listFleetInstances, plus a cursor back to the previous page (the admin fleet view's "Previous").
 * A `prevCursor` walks the index the other way from the page's first row, so going back costs the
 * same as going forward.
 */
export async function listFleetPage(db: Database, query: FleetQuery, now: Date): Promise<FleetPageWithPrevious> {
  const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  const backwards = cursor?.dir === "before";
  const rows: Awaited<ReturnType<ReturnType<typeof fleetPageQueries>[number]>> = [];
  for (const segment of fleetPageQueries(db, query, now)) {
    rows.push(...(await segment(query.limit + 1 - rows.length)));
    if (rows.length > query.limit) break;
  }
  const more = rows.length > query.limit;
  const page = rows.slice(0, query.limit);
  if (backwards) page.reverse();
  const [first, last] = [page[0], page.at(-1)];
  const at = (row: (typeof page)[number], dir?: "before"): string =>
    encodeCursor({ sort: query.sort, order: query.order, value: row.sortValue, id: row.instance.id, ...(dir ? { dir } : {}) });
  return {
    instances: page.map((row) => ({
      ...toInstanceDto({ ...row.instance, encryptedKey: null }, pepperFingerprint(row.ownerPepper), now),
      owner: { id: row.instance.ownerId, email: row.ownerEmail, name: row.ownerName },
    })),
    // Going back, the rows after this page are the ones we came from.
    nextCursor: last && (backwards || more) ? at(last) : null,
    prevCursor: first && (backwards ? more : cursor !== undefined) ? at(first, "before") : null,
  };
}

// Every instance column but the encrypted key: a list never needs key material (nor its bytes).
const { encryptedKey: _encryptedKey, ...listedColumns } = getTableColumns(instances);
void _encryptedKey;

/**
 * The page's queries, one per segment of the walk (see walkSegments), each taking the number of
 * rows still wanted: listFleetPage runs them in order until it has one row more than the limit (to
 * know whether another page follows). Exported for the plan test.
 */
export function fleetPageQueries(db: Database, query: FleetQuery, now: Date) {
  const spec = sorts[query.sort];
  const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  // A `before` cursor walks the other way; listFleetPage puts the rows back in page order.
  const walk = cursor?.dir === "before" ? flip(query.order) : query.order;
  const orderBy =
    walk === "asc"
      ? [sql`${spec.column} asc nulls last`, sql`${instances.id} asc`]
      : [sql`${spec.column} desc nulls first`, sql`${instances.id} desc`];
  return walkSegments(spec, walk, cursor).flatMap((segment) => {
    // In the deployed-expiry sort each segment knows whether that expiry is null, so a health
    // filter's expiry range becomes an index range on the column being walked (and a segment
    // where no row can match is not queried at all).
    const deployedNull = spec.column === instances.deployedKeyExpiresAt ? segment.columnNull : undefined;
    const filter = fleetFilterWhere(query, now, { deployedNull });
    if (filter === false) return [];
    const where = and(filter, segment.where);
    return (limit: number) =>
      db
        .select({
          instance: listedColumns,
          ownerEmail: users.email,
          ownerName: users.name,
          ownerPepper: users.apiTokenPepper,
          sortValue: spec.cursorValue,
        })
        .from(instances)
        .innerJoin(users, eq(users.id, instances.ownerId))
        .where(where)
        .orderBy(...orderBy)
        .limit(limit);
  });
}
