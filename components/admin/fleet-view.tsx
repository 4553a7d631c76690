"use client";

import { useMutation } from "@tanstack/react-query";
import { ChevronLeft, ChevronRight, ChevronsLeft, Loader2, RefreshCw, RotateCw } from "lucide-react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition, type MouseEvent, type ReactNode } from "react";
import { toast } from "sonner";
import { listBulkRedeployTargetsAction } from "@/lib/actions/admin";
import { statusLabel } from "@/components/instances/badges";
import { ClockProvider } from "@/components/instances/time";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { fleetHref, hasFilters, withoutCursor } from "@/lib/admin/fleet-url";
import { BULK_REDEPLOY_MAX, instanceStatusValues, type FleetQuery, type FleetSort } from "@/lib/admin/schemas";
import { ServerError } from "@/lib/hooks/use-instances";
import { keyHealthValues } from "@/lib/instances/schemas";
import { adminKeys } from "@/lib/query-keys";
import { BulkRedeployDialog, useBulkRedeploy, type BulkRun } from "./bulk-redeploy";
import { ActiveFleetJobsBanner } from "./fleet-jobs";
import { FleetFilters } from "./fleet-filters";
import { FleetTable, isRedeployable } from "./fleet-table";
import { formatCount, healthLook, plural, sortLook } from "./labels";
import type { BulkTargetsResult } from "@/lib/actions/admin";
import type { FleetOverview } from "@/lib/admin/overview";
import type { FleetViewData } from "@/lib/admin/read";

/** How many instances the filters match, from the overview's status × health counts; null when an owner filter is set. */
function matchingCount(query: FleetQuery, overview: FleetOverview): number | null {
  if (query.owner || query.ownerSearch || query.status?.includes("destroyed")) return null;
  const statuses = query.status ?? instanceStatusValues.filter((value) => value !== "destroyed");
  const health = query.keyHealth ?? keyHealthValues;
  let total = 0;
  for (const status of statuses) for (const value of health) total += overview.statusHealth[status as keyof FleetOverview["statusHealth"]]?.[value] ?? 0;
  return total;
}

function describeView(query: FleetQuery): string {
  const parts: string[] = [];
  if (query.keyHealth?.length) parts.push(`key health ${query.keyHealth.map((value) => healthLook[value].label).join(" or ")}`);
  if (query.status?.length) parts.push(`status ${query.status.map(statusLabel).join(" or ")}`);
  if (query.owner) parts.push(`owner ${query.owner}`);
  if (query.ownerSearch) parts.push(`owner email starting with “${query.ownerSearch}”`);
  const sort = sortLook[query.sort];
  return `${parts.length ? `Instances with ${parts.join(", ")}` : "All live instances"}, sorted by ${sort.label.toLowerCase()} (${query.order === "asc" ? sort.asc : sort.desc}).`;
}

/** A link that navigates inside a transition (so the table shows it is loading) unless opened in a new tab. */
function PageLink({ href, onNavigate, children, label }: { href: string; onNavigate: (href: string) => void; children: ReactNode; label: string }) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button !== 0) return;
    event.preventDefault();
    onNavigate(href);
  };
  return (
    <Button asChild variant="secondary" size="sm">
      <Link href={href} prefetch={false} onClick={click} aria-label={label}>
        {children}
      </Link>
    </Button>
  );
}

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

  const bulk = useBulkRedeploy();
  const [dialogOpen, setDialogOpen] = useState(false);
  const openRun = (run: BulkRun) => {
    bulk.prepare(run);
    setDialogOpen(true);
  };
  const resolve = useMutation<BulkTargetsResult, ServerError, FleetQuery>({
    mutationKey: adminKeys.bulkTargets(),
    mutationFn: async (view) => {
      const result = await listBulkRedeployTargetsAction({
        keyHealth: view.keyHealth,
        status: view.status,
        owner: view.owner,
        ownerSearch: view.ownerSearch,
        sort: view.sort,
        order: view.order,
      });
      if (!result.ok) throw new ServerError(result.error.code, result.error.message);
      return result.data;
    },
    onSuccess: (result, view) => {
      if (result.targets.length === 0) toast.info("Nothing to redeploy", { description: "No live instance matches this view." });
      else openRun({ ...result, source: "filter", query: view });
    },
    onError: (error) => toast.error("Could not list the matching instances", { description: error.message }),
  });

  const selectedTargets = page.instances.filter((instance) => selected.has(instance.id) && isRedeployable(instance));
  const matching = matchingCount(query, overview);
  const running = bulk.starting;
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
                  onClick={() => !running && openRun({ targets: selectedTargets.map((instance) => ({ id: instance.id, name: instance.name, ownerEmail: instance.owner.email })), truncated: false, cap: BULK_REDEPLOY_MAX, source: "selected" })}
                >
                  <RotateCw aria-hidden /> Redeploy selected
                </Button>
              </>
            ) : null}
            <Button
              size="sm"
              variant="secondary"
              aria-disabled={running || resolve.isPending || page.instances.length === 0 || undefined}
              title="Every live instance this view matches, as a job on the servers."
              onClick={() => !running && !resolve.isPending && page.instances.length > 0 && resolve.mutate(query)}
            >
              {resolve.isPending ? <Loader2 aria-hidden className="animate-spin" /> : <RotateCw aria-hidden />}
              Redeploy all matching…
            </Button>
          </div>
        </div>

        {page.instances.length ? (
          <FleetTable instances={page.instances} query={query} fromSearch={fromSearch} onSort={sortBy} selected={selected} onSelect={select} busy={busy} />
        ) : (
          <EmptyState data={data} onNavigate={navigate} />
        )}

        {page.prevCursor || page.nextCursor ? (
          <nav aria-label="Pages" className="flex flex-wrap items-center justify-between gap-2">
            <div className="flex gap-2">
              {query.cursor ? (
                <PageLink href={fleetHref(withoutCursor(query))} onNavigate={navigate} label="First page">
                  <ChevronsLeft aria-hidden /> First
                </PageLink>
              ) : null}
              {page.prevCursor ? (
                <PageLink href={fleetHref({ ...query, cursor: page.prevCursor })} onNavigate={navigate} label="Previous page">
                  <ChevronLeft aria-hidden /> Previous
                </PageLink>
              ) : null}
            </div>
            <p className="text-xs text-slate-500">{plural(page.instances.length, "instance", "instances")} on this page</p>
            {page.nextCursor ? (
              <PageLink href={fleetHref({ ...query, cursor: page.nextCursor })} onNavigate={navigate} label="Next page">
                Next <ChevronRight aria-hidden />
              </PageLink>
            ) : (
              <span />
            )}
          </nav>
        ) : null}
      </section>
      <BulkRedeployDialog bulk={bulk} open={dialogOpen && bulk.run !== null} onOpenChange={setDialogOpen} />
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
