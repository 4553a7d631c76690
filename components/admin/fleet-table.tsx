"use client";

import { ArrowDown, ArrowUp, ArrowUpDown } from "lucide-react";
import Link from "next/link";
import { KeyHealthBadge, StatusBadge } from "@/components/instances/badges";
import { RelativeTime, useFormatExact, useNow } from "@/components/shared/time";
import { Checkbox } from "@/components/ui/checkbox";
import type { FleetQuery, FleetSort } from "@/lib/admin/schemas";
import { cn } from "@/lib/utils";
import { sortLook } from "./labels";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";

export function isRedeployable(instance: FleetInstanceDto): boolean {
  return instance.status !== "destroyed" && instance.status !== "destroying";
}

/** The admin instance page, remembering which fleet view it was opened from. */
export function adminInstanceHref(id: string, fromSearch: string): string {
  return `/admin/instances/${id}${fromSearch ? `?from=${encodeURIComponent(fromSearch)}` : ""}`;
}

function SortHeader({ sort, query, onSort, children, className }: { sort: FleetSort; query: FleetQuery; onSort: (sort: FleetSort) => void; children: string; className?: string }) {
  const active = query.sort === sort;
  const Icon = !active ? ArrowUpDown : query.order === "asc" ? ArrowUp : ArrowDown;
  return (
    <th scope="col" aria-sort={active ? (query.order === "asc" ? "ascending" : "descending") : undefined} className={cn("px-3 py-2 font-medium", className)}>
      <button
        type="button"
        onClick={() => onSort(sort)}
        className="-mx-1 inline-flex items-center gap-1 rounded px-1 py-0.5 hover:bg-slate-200/60 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-brand-600"
      >
        {children}
        <Icon aria-hidden className={cn("size-3.5", active ? "text-brand-700" : "text-slate-400")} />
        <span className="sr-only">
          {active ? `, sorted ${query.order === "asc" ? sortLook[sort].asc : sortLook[sort].desc}. Reverse` : `. Sort by ${sortLook[sort].label.toLowerCase()}`}
        </span>
      </button>
    </th>
  );
}

function KeyExpiry({ instance }: { instance: FleetInstanceDto }) {
  const now = useNow();
  const exact = useFormatExact();
  const { config } = instance;
  const expiresAt = config.activeKeyExpiresAt;
  if (!expiresAt) return <span className="text-slate-500">—</span>;
  return (
    <span className="block" data-testid="fleet-key-expiry">
      <RelativeTime date={expiresAt} className={cn(Date.parse(expiresAt) <= now && "text-red-800")} />
      <span className="block text-xs text-slate-500">{exact(expiresAt)}</span>
      {config.deployedDiffersFromLatest ? <span className="block text-xs text-violet-800">newest key not deployed</span> : null}
    </span>
  );
}

/**
 * One page of the fleet as a table: selectable rows, sortable column headers (aria-sort), each
 * instance linking to its admin page. Wide tables scroll sideways inside their card on phones.
 */
export function FleetTable({
  instances,
  query,
  fromSearch,
  onSort,
  selected,
  onSelect,
  busy,
}: {
  instances: FleetInstanceDto[];
  query: FleetQuery;
  fromSearch: string;
  onSort: (sort: FleetSort) => void;
  selected: ReadonlySet<string>;
  onSelect: (ids: string[], checked: boolean) => void;
  busy: boolean;
}) {
  const selectable = instances.filter(isRedeployable);
  const selectedHere = selectable.filter((instance) => selected.has(instance.id)).length;
  const all = selectable.length > 0 && selectedHere === selectable.length;
  return (
    <div className="relative overflow-x-auto rounded-md border border-slate-200">
      {/* Loading shows as a bar along the top: dimming the rows would take their text below AA contrast. */}
      {busy ? <div aria-hidden className="absolute inset-x-0 top-0 z-10 h-0.5 animate-pulse bg-brand-600" /> : null}
      <table className="w-full min-w-[58rem] text-left text-sm" aria-busy={busy || undefined} aria-describedby="fleet-table-summary">
        <thead className="bg-slate-50 text-xs text-slate-600">
          <tr>
            <th scope="col" className="w-10 px-3 py-2">
              <Checkbox
                aria-label="Select every instance on this page"
                checked={all ? true : selectedHere > 0 ? "indeterminate" : false}
                disabled={selectable.length === 0}
                onCheckedChange={() => onSelect(selectable.map((instance) => instance.id), !all)}
              />
            </th>
            <th scope="col" className="px-3 py-2 font-medium">
              Instance
            </th>
            <SortHeader sort="owner" query={query} onSort={onSort}>
              Owner
            </SortHeader>
            <SortHeader sort="status" query={query} onSort={onSort}>
              Status
            </SortHeader>
            <th scope="col" className="px-3 py-2 font-medium">
              Key health
            </th>
            <SortHeader sort="deployedKeyExpiresAt" query={query} onSort={onSort}>
              Key expires
            </SortHeader>
            <SortHeader sort="lastActivityAt" query={query} onSort={onSort}>
              Last activity
            </SortHeader>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100 bg-white">
          {instances.map((instance) => {
            const canSelect = isRedeployable(instance);
            return (
              <tr key={instance.id} data-instance-id={instance.id} className={cn("align-top", selected.has(instance.id) && "bg-brand-50/50")}>
                <td className="px-3 py-2.5">
                  <Checkbox
                    aria-label={`Select ${instance.name} (${instance.owner.email})`}
                    checked={selected.has(instance.id)}
                    disabled={!canSelect}
                    onCheckedChange={(checked) => onSelect([instance.id], checked === true)}
                  />
                </td>
                <th scope="row" className="max-w-64 min-w-40 px-3 py-2.5 font-medium">
                  <Link
                    href={adminInstanceHref(instance.id, fromSearch)}
                    className="rounded-sm break-words text-brand-700 hover:underline focus-visible:outline-2 focus-visible:outline-brand-600"
                  >
                    {instance.name}
                  </Link>
                  <span className="block text-xs font-normal text-slate-500">{instance.region}</span>
                </th>
                <td className="max-w-64 px-3 py-2.5">
                  <span className="block break-words [overflow-wrap:anywhere]">{instance.owner.email}</span>
                  {instance.owner.name ? <span className="block text-xs text-slate-500">{instance.owner.name}</span> : null}
                </td>
                <td className="px-3 py-2.5">
                  <StatusBadge status={instance.status} />
                </td>
                <td className="px-3 py-2.5">
                  <KeyHealthBadge config={instance.config} />
                </td>
                <td className="px-3 py-2.5 whitespace-nowrap">
                  <KeyExpiry instance={instance} />
                </td>
                <td className="px-3 py-2.5 whitespace-nowrap text-slate-600">
                  <RelativeTime date={instance.lastActivityAt} past />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
