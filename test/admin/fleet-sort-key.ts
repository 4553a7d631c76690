import { instanceStatusValues, type FleetSort } from "@/lib/admin/schemas";

/** What the fleet list sorts an instance by, for suites that check the order of its pages. */
export interface SortableFleetInstance {
  owner: { email: string };
  status: (typeof instanceStatusValues)[number];
  lastActivityAt: string | null;
  config: { keyExpiresAt: string | null; deployedKeyExpiresAt: string | null };
}

/** The value `sort` orders by (status by its place in the status list). */
export function fleetSortKey(instance: SortableFleetInstance, sort: FleetSort): string | number | null {
  if (sort === "owner") return instance.owner.email;
  if (sort === "status") return instanceStatusValues.indexOf(instance.status);
  if (sort === "lastActivityAt") return instance.lastActivityAt;
  if (sort === "keyExpiresAt") return instance.config.keyExpiresAt;
  return instance.config.deployedKeyExpiresAt;
}
