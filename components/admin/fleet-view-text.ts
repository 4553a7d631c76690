import { statusLabel } from "@/components/instances/badges";
import type { FleetViewData } from "@/lib/admin/read";
import { instanceStatusValues, type FleetQuery } from "@/lib/admin/schemas";
import { keyHealthValues } from "@/lib/instances/schemas";
import { healthLook, sortLook } from "./labels";

type FleetOverview = FleetViewData["overview"];

/** How many instances the filters match, from the overview's status × health counts; null when an owner filter is set. */
export function matchingCount(query: FleetQuery, overview: FleetOverview): number | null {
  if (query.owner || query.ownerSearch || query.status?.includes("destroyed")) return null;
  const statuses = query.status ?? instanceStatusValues.filter((value) => value !== "destroyed");
  const health = query.keyHealth ?? keyHealthValues;
  let total = 0;
  for (const status of statuses) for (const value of health) total += overview.statusHealth[status as keyof FleetOverview["statusHealth"]]?.[value] ?? 0;
  return total;
}

/** The view in one sentence: "Instances with key health Critical, sorted by key expiry (soonest first)." */
export function describeView(query: FleetQuery): string {
  const parts: string[] = [];
  if (query.keyHealth?.length) parts.push(`key health ${query.keyHealth.map((value) => healthLook[value].label).join(" or ")}`);
  if (query.status?.length) parts.push(`status ${query.status.map(statusLabel).join(" or ")}`);
  if (query.owner) parts.push(`owner ${query.owner}`);
  if (query.ownerSearch) parts.push(`owner email starting with “${query.ownerSearch}”`);
  const sort = sortLook[query.sort];
  return `${parts.length ? `Instances with ${parts.join(", ")}` : "All live instances"}, sorted by ${sort.label.toLowerCase()} (${query.order === "asc" ? sort.asc : sort.desc}).`;
}
