"use client";

import { Loader2, RefreshCw, RotateCw } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { formatCount, plural } from "@/components/shared/format";
import { ClockProvider } from "@/components/shared/time";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { fleetHref, hasFilters, withoutCursor } from "@/lib/admin/fleet-url";
import type { FleetViewData } from "@/lib/admin/read";
import type { FleetQuery, FleetSort } from "@/lib/admin/schemas";
import { BulkRedeployDialog, useBulkRedeployWithToasts } from "./bulk-redeploy-dialog";
import { ActiveFleetJobsBanner } from "./fleet-jobs";
import { FleetFilters } from "./fleet-filters";
import { FleetPager } from "./fleet-pager";
import { FleetTable, isRedeployable } from "./fleet-table";
import { describeView, matchingCount } from "./fleet-view-text";
import { sortLook } from "./labels";

/**
 * The fleet table with its filters, sort, keyset pages and bulk redeploy. The URL holds the whole
 * query (server-rendered for each one); this component only navigates, keeps the row selection of
 * the page on screen, and runs bulk redeploys.
 */
export function FleetView({ data }: { data: FleetViewData }) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const { query, page, overview } = data;
  const href = fleetHref(query);
  const fromSearch = href.includes("?") ? href.slice(href.indexOf("?") + 1) : "";

  const navigate = (next: FleetQuery | string, options: { replace?: boolean } = {}) => {
    const target = typeof next === "string" ? next : fleetHref(next.cursor ? next : withoutCursor(next));
    startTransition(() => (options.replace ? router.replace(target, { scroll: false }) : router.push(target, { scroll: false })));
  };
  const refresh = () => startTransition(() => router.refresh());

  // The selection belongs to the page on screen: another page, filter or sort starts afresh.
  const [selection, setSelection] = useState<{ href: string; ids: Set<string> }>({ href, ids: new Set() });
  const selected = selection.href === href ? selection.ids : new Set<string>();
  const select = (ids: string[], checked: boolean) => {
    const next = new Set(selected);
    for (const id of ids) {
      if (checked) next.add(id);
      else next.delete(id);
    }
    setSelection({ href, ids: next });
  };

  const bulk = useBulkRedeployWithToasts();

  const selectedTargets = page.instances.filter((instance) => selected.has(instance.id) && isRedeployable(instance));
  const matching = matchingCount(query, overview);
  const running = bulk.starting;
  const resolving = bulk.resolving;
  const busy = pending;
  const sortBy = (sort: FleetSort) =>
    navigate({ ...query, sort, order: query.sort === sort ? (query.order === "asc" ? "desc" : "asc") : sortLook[sort].defaultOrder });

  return (
    <ClockProvider serverNow={data.generatedAt}>
      <section aria-labelledby="fleet-table-heading" className="space-y-4">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="fleet-table-heading" className="text-lg font-semibold">
            Instances
          </h2>
          <Button variant="ghost" size="sm" onClick={refresh} aria-disabled={busy || undefined}>
            {busy ? <Loader2 aria-hidden className="animate-spin" /> : <RefreshCw aria-hidden />}
            Refresh
          </Button>
        </div>

        <FleetFilters query={query} navigate={navigate} />

        {data.ignored.length ? (
          <Callout tone="warning" title="Part of this link was not understood">
            Left out: {data.ignored.join(", ")}.
          </Callout>
        ) : null}
        {data.cursorReset ? (
          <Callout tone="info" title="Showing the first page">
            The page in this link no longer fits this view, so the view starts from the beginning.
          </Callout>
        ) : null}
        <ActiveFleetJobsBanner />

        <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
          <p id="fleet-table-summary" className="text-sm text-slate-600" aria-live="polite">
            {describeView(query)}
            {matching !== null ? <> {plural(matching, "instance matches", "instances match")}.</> : null}
            {busy ? <span className="sr-only"> Loading…</span> : null}
          </p>
          <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Bulk actions">
            {selectedTargets.length ? (
              <>
                <span className="text-sm text-slate-700" data-testid="selection-count">
                  {formatCount(selectedTargets.length)} selected
                </span>
                <Button variant="ghost" size="sm" onClick={() => setSelection({ href, ids: new Set() })}>
                  Clear selection
                </Button>
                <Button
                  size="sm"
                  aria-disabled={running || undefined}
                  title={running ? "Starting the bulk redeploy…" : undefined}
                  onClick={() => bulk.redeploySelected(selectedTargets)}
                >
                  <RotateCw aria-hidden /> Redeploy selected
                </Button>
              </>
            ) : null}
            <Button
              size="sm"
              variant="secondary"
              aria-disabled={running || resolving || page.instances.length === 0 || undefined}
              title="Every live instance this view matches, as a job on the servers."
              onClick={() => page.instances.length > 0 && bulk.redeployMatching(query)}
            >
              {resolving ? <Loader2 aria-hidden className="animate-spin" /> : <RotateCw aria-hidden />}
              Redeploy all matching…
            </Button>
          </div>
        </div>

        {page.instances.length ? (
          <FleetTable instances={page.instances} query={query} fromSearch={fromSearch} onSort={sortBy} selected={selected} onSelect={select} busy={busy} />
        ) : (
          <EmptyState data={data} onNavigate={navigate} />
        )}

        <FleetPager query={query} page={page} onNavigate={navigate} />
      </section>
      <BulkRedeployDialog bulk={bulk} />
    </ClockProvider>
  );
}

function EmptyState({ data, onNavigate }: { data: FleetViewData; onNavigate: (href: string) => void }) {
  const { query, overview } = data;
  if (query.cursor) {
    return (
      <div className="rounded-md border border-dashed border-slate-300 px-6 py-10 text-center">
        <p className="font-medium">No more instances</p>
        <p className="mt-1 text-sm text-slate-600">Instances changed since this page was linked.</p>
        <Button className="mt-4" variant="secondary" onClick={() => onNavigate(fleetHref(withoutCursor(query)))}>
          Back to the first page
        </Button>
      </div>
    );
  }
  if (!hasFilters(query) && overview.total === 0) {
    return (
      <div className="rounded-md border border-dashed border-slate-300 px-6 py-10 text-center" data-testid="fleet-empty">
        <p className="font-medium">No instances yet</p>
        <p className="mt-1 text-sm text-slate-600">When users create instances, they appear here with the health of their keys.</p>
      </div>
    );
  }
  return (
    <div className="rounded-md border border-dashed border-slate-300 px-6 py-10 text-center" data-testid="fleet-empty">
      <p className="font-medium">No instances match this view</p>
      <p className="mt-1 text-sm text-slate-600">Try fewer filters, or another owner email.</p>
      <Button className="mt-4" variant="secondary" onClick={() => onNavigate(fleetHref({ sort: query.sort, order: query.order }))}>
        Clear filters
      </Button>
    </div>
  );
}
