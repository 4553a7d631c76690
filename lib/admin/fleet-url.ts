import { keyHealthValues } from "@/lib/instances/schemas";
import { fleetQuerySchema, instanceStatusValues, type FleetQuery } from "./schemas";

// The admin fleet view keeps its whole query in the URL (`/admin?keyHealth=critical&sort=owner…`),
// with the same parameter names as GET /api/admin/instances, so a view can be shared as a link.
// Zod-only, so the server page and the client components share it.

export const FLEET_PAGE_SIZE = 50;

const defaults = fleetQuerySchema.parse({});

type SearchParams = Record<string, string | string[] | undefined>;

/**
 * The fleet query in the URL's search parameters. Forgiving, unlike the API: a value that is not
 * valid is dropped (and named in `ignored`) instead of failing the page, so an old or hand-edited
 * link still shows the fleet. Unknown parameters are ignored.
 */
export function parseFleetSearchParams(params: SearchParams): { query: FleetQuery; ignored: string[] } {
  const ignored: string[] = [];
  const first = (name: string) => {
    const value = params[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const list = <T extends string>(name: string, allowed: readonly T[]): T[] | undefined => {
    const raw = params[name];
    const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((value) => value.split(",")).map((value) => value.trim()).filter(Boolean);
    const valid = [...new Set(values.filter((value): value is T => (allowed as readonly string[]).includes(value)))];
    if (valid.length < values.length) ignored.push(name);
    return valid.length ? valid.sort((a, b) => allowed.indexOf(a) - allowed.indexOf(b)) : undefined;
  };
  const query: FleetQuery = { ...defaults, limit: FLEET_PAGE_SIZE };
  const keyHealth = list("keyHealth", keyHealthValues);
  if (keyHealth) query.keyHealth = keyHealth;
  const status = list("status", instanceStatusValues);
  if (status) query.status = status;
  for (const name of ["owner", "ownerSearch", "sort", "order", "limit", "cursor"] as const) {
    const raw = first(name);
    if (raw === undefined || raw === "") continue;
    const parsed = fleetQuerySchema.shape[name].safeParse(raw);
    if (parsed.success && parsed.data !== undefined) (query as Record<string, unknown>)[name] = parsed.data;
    else ignored.push(name);
  }
  return { query, ignored };
}

/** `/admin` with the query's non-default parameters, in a stable order. */
export function fleetHref(query: Partial<FleetQuery>): string {
  const params = new URLSearchParams();
  if (query.keyHealth?.length) params.set("keyHealth", query.keyHealth.join(","));
  if (query.status?.length) params.set("status", query.status.join(","));
  if (query.owner) params.set("owner", query.owner);
  if (query.ownerSearch) params.set("ownerSearch", query.ownerSearch);
  if (query.sort && query.sort !== defaults.sort) params.set("sort", query.sort);
  if (query.order && query.order !== defaults.order) params.set("order", query.order);
  if (query.limit && query.limit !== FLEET_PAGE_SIZE) params.set("limit", String(query.limit));
  if (query.cursor) params.set("cursor", query.cursor);
  const search = params.toString();
  return search ? `/admin?${search}` : "/admin";
}

/** The same view from its first page (filters and sort kept, cursor dropped). */
export function withoutCursor(query: FleetQuery): FleetQuery {
  const { cursor: _cursor, ...rest } = query;
  void _cursor;
  return rest;
}

/** Whether any filter is set (sort and paging aside). */
export function hasFilters(query: Partial<FleetQuery>): boolean {
  return Boolean(query.keyHealth?.length || query.status?.length || query.owner || query.ownerSearch);
}

/**
 * The `from` parameter of an admin instance link: the fleet view it was opened from, so "Back to
 * the fleet" returns there. Only a query string is accepted, and only `/admin` is ever linked.
 */
export function fleetBackHref(from: string | undefined): string {
  if (!from) return "/admin";
  const { query } = parseFleetSearchParams(Object.fromEntries(new URLSearchParams(from)));
  return fleetHref(query);
}
