import "server-only";
import { and, gte, isNotNull, isNull, lte, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { z } from "zod";
import { instances, users } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { hasControlCharacters } from "@/lib/validation/text";
import { fleetSortValues, instanceStatusValues, type FleetQuery, type FleetSort } from "./schemas";

export interface SortSpec {
  column: PgColumn;
  nullable: boolean;
  /** The row's sort value as the cursor stores it: exact (µs for timestamps), never parsed by JS. */
  cursorValue: SQL<string | null>;
  /** The cursor's value as SQL; never throws in Postgres for a value `valueSchema` accepted. */
  fromCursor: (value: string) => SQL;
  valueSchema: z.ZodType<string>;
  /**
   * The column is not in `instances` (the owner's email), so no (column, id) index exists: the
   * cursor's bound is repeated on the column alone, so the column's own index can start there.
   */
  boundOnColumn?: boolean;
}

// Timestamps travel in cursors as integer microseconds since the epoch: exact, and turned back into
// a timestamp by integer arithmetic that cannot fail on any value the schema lets through.
const epochMicros = z.string().regex(/^-?\d{1,16}$/);
function timestampSort(column: PgColumn, nullable: boolean): SortSpec {
  return {
    column,
    nullable,
    cursorValue: sql<string | null>`(extract(epoch from ${column}) * 1000000)::bigint::text`,
    fromCursor: (value) => sql`(timestamptz 'epoch' + ${value}::bigint * interval '1 microsecond')`,
    valueSchema: epochMicros,
  };
}

export const sorts: Record<FleetSort, SortSpec> = {
  deployedKeyExpiresAt: timestampSort(instances.deployedKeyExpiresAt, true),
  keyExpiresAt: timestampSort(instances.keyExpiresAt, true),
  lastActivityAt: timestampSort(instances.lastActivityAt, false),
  status: {
    column: instances.status,
    nullable: false,
    cursorValue: sql<string | null>`${instances.status}::text`,
    fromCursor: (value) => sql`${value}::instance_status`,
    valueSchema: z.enum(instanceStatusValues),
  },
  owner: {
    column: users.email,
    nullable: false,
    cursorValue: sql<string | null>`${users.email}`,
    fromCursor: (value) => sql`${value}::text`,
    // A NUL byte would make Postgres itself fail the `::text` cast (a 500), so it never gets there.
    valueSchema: z.string().min(1).max(320).refine((value) => !hasControlCharacters(value)),
    boundOnColumn: true,
  },
};

const cursorSchema = z.strictObject({
  sort: z.enum(fleetSortValues),
  order: z.enum(["asc", "desc"]),
  value: z.string().max(320).nullable(),
  id: z.uuid(),
  /** `before`: the page that ends just before this row (going back). Absent means `after`. */
  dir: z.literal("before").optional(),
});
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

export function decodeCursor(raw: string, query: Pick<FleetQuery, "sort" | "order">): Cursor {
  const invalid = () => new AppError("bad_request", "The cursor is not valid for this query. Start again without one.");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.sort !== query.sort || parsed.data.order !== query.order) throw invalid();
  const spec = sorts[query.sort];
  if (parsed.data.value === null ? !spec.nullable : !spec.valueSchema.safeParse(parsed.data.value).success) throw invalid();
  return parsed.data;
}

export interface Segment {
  where: SQL | undefined;
  /** Whether the sort column is null throughout the segment (nullable sorts only). */
  columnNull?: boolean;
}

/**
 * The rows beyond the cursor when walking in `walk` order over `(sort column, id)`, as contiguous
 * stretches of the (column, id) index, in walk order. NULLs sort last ascending and first
 * descending (Postgres' defaults, so the indexes serve both ways). A nullable column's non-null and
 * NULL stretches are separate segments: `(column, id) > (…)` and `column is null` are each an index
 * condition, where one `… or column is null` could only be a filter over the whole index, making
 * deep pages cost more than the first.
 */
export function walkSegments(spec: SortSpec, walk: "asc" | "desc", cursor: Cursor | undefined): Segment[] {
  const column = spec.column;
  const beyond = (value: string) => {
    const bound = spec.fromCursor(value);
    const id = sql`${cursor!.id}::uuid`;
    return walk === "asc"
      ? and(spec.boundOnColumn ? gte(column, bound) : undefined, sql`(${column}, ${instances.id}) > (${bound}, ${id})`)
      : and(spec.boundOnColumn ? lte(column, bound) : undefined, sql`(${column}, ${instances.id}) < (${bound}, ${id})`);
  };
  if (!spec.nullable) return [{ where: cursor ? beyond(cursor.value!) : undefined }];

  const nonNull: Segment = { where: cursor && cursor.value !== null ? beyond(cursor.value) : isNotNull(column), columnNull: false };
  const idBeyond = cursor?.value === null ? sql`${instances.id} ${walk === "asc" ? sql`>` : sql`<`} ${cursor.id}::uuid` : undefined;
  const nulls: Segment = { where: and(isNull(column), idBeyond), columnNull: true };
  if (walk === "asc") return cursor?.value === null ? [nulls] : [nonNull, nulls];
  return cursor && cursor.value !== null ? [nonNull] : [nulls, nonNull];
}

export const flip = (order: "asc" | "desc") => (order === "asc" ? "desc" : "asc");
