"use client";

import { CircleCheck, CircleMinus, CircleX, Clock, Loader2, TriangleAlert } from "lucide-react";
import { useRef, useState } from "react";
import { useFormatExact } from "@/components/instances/time";
import type { InstanceDto } from "@/components/instances/types";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogTitle } from "@/components/ui/dialog";
import { Progress } from "@/components/ui/progress";
import { runWithConcurrency } from "@/lib/admin/concurrency";
import { BULK_REDEPLOY_CONCURRENCY } from "@/lib/admin/schemas";
import { cn } from "@/lib/utils";
import { formatCount, plural } from "./labels";
import type { BulkTargetsResult } from "./types";

export type BulkTarget = BulkTargetsResult["targets"][number];

export interface BulkRun {
  targets: BulkTarget[];
  /** More instances matched than one run may touch; `cap` is that limit. */
  truncated: boolean;
  cap: number;
  source: "selected" | "filter";
}

type ItemState =
  | { status: "queued" }
  | { status: "running" }
  | { status: "done"; instance: InstanceDto }
  | { status: "failed"; code: string; message: string }
  | { status: "skipped" };

/**
 * Redeploys one instance through the admin API (`POST /api/admin/instances/{id}/redeploy`), as the
 * signed-in admin. Never throws: every outcome, network failures included, is a value.
 */
async function redeployOne(id: string): Promise<ItemState> {
  try {
    const response = await fetch(`/api/admin/instances/${encodeURIComponent(id)}/redeploy`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: "{}",
      cache: "no-store",
    });
    const body = (await response.json().catch(() => undefined)) as (InstanceDto & { error?: { code: string; message: string } }) | undefined;
    if (response.ok && body && !body.error) return { status: "done", instance: body };
    return {
      status: "failed",
      code: body?.error?.code ?? "unavailable",
      message: body?.error?.message ?? `The server answered ${response.status}.`,
    };
  } catch (error) {
    return { status: "failed", code: "unreachable", message: error instanceof Error ? `The request did not reach the server (${error.message}).` : "The request did not reach the server." };
  }
}

/**
 * A bulk redeploy run, driven from the browser: one request per instance through the admin API,
 * BULK_REDEPLOY_CONCURRENCY at a time. Each request is an ordinary single redeploy (its own lease,
 * mint and audit event), so the run needs no server-side job, survives any replica serving any
 * request, and shows every result the moment it is known. Closing the tab stops the queue: the
 * redeploys in flight finish on the server, the rest are not started. A signed-out session stops it.
 */
export function useBulkRedeploy(onFinished: () => void) {
  const [run, setRun] = useState<BulkRun | null>(null);
  const [phase, setPhase] = useState<"confirm" | "running" | "finished">("confirm");
  const [results, setResults] = useState<ItemState[]>([]);
  const [stopping, setStopping] = useState(false);
  const stopRequested = useRef(false);

  const prepare = (next: BulkRun) => {
    setRun(next);
    setResults(next.targets.map(() => ({ status: "queued" })));
    setPhase("confirm");
    setStopping(false);
    stopRequested.current = false;
  };

  const start = async () => {
    if (!run || phase !== "confirm") return;
    setPhase("running");
    const set = (index: number, state: ItemState) =>
      setResults((previous) => previous.map((item, position) => (position === index ? state : item)));
    const { skipped } = await runWithConcurrency(
      run.targets,
      BULK_REDEPLOY_CONCURRENCY,
      async (target, index) => {
        set(index, { status: "running" });
        const outcome = await redeployOne(target.id);
        if (outcome.status === "failed" && outcome.code === "unauthorized") stopRequested.current = true;
        set(index, outcome);
      },
      () => stopRequested.current,
    );
    for (const index of skipped) set(index, { status: "skipped" });
    setPhase("finished");
    onFinished();
  };

  const stop = () => {
    stopRequested.current = true;
    setStopping(true);
  };

  const counts = {
    total: results.length,
    done: results.filter((item) => item.status === "done").length,
    failed: results.filter((item) => item.status === "failed").length,
    running: results.filter((item) => item.status === "running").length,
    skipped: results.filter((item) => item.status === "skipped").length,
  };
  return { run, phase, results, counts, stopping, prepare, start, stop, clear: () => setRun(null) };
}

export type BulkRedeploy = ReturnType<typeof useBulkRedeploy>;

/** The id of the fleet view's "Show progress" button, where focus goes when a running bulk redeploy is hidden. */
export const SHOW_BULK_PROGRESS_ID = "show-bulk-progress";

const itemLook = {
  queued: { icon: <Clock aria-hidden className="size-4 text-slate-400" />, label: "Waiting" },
  running: { icon: <Loader2 aria-hidden className="size-4 animate-spin text-brand-600" />, label: "Redeploying…" },
  done: { icon: <CircleCheck aria-hidden className="size-4 text-emerald-600" />, label: "Redeployed" },
  failed: { icon: <CircleX aria-hidden className="size-4 text-red-600" />, label: "Failed" },
  skipped: { icon: <CircleMinus aria-hidden className="size-4 text-slate-400" />, label: "Not started" },
} as const;

export function progressSentence({ counts, phase, stopping }: Pick<BulkRedeploy, "counts" | "phase" | "stopping">): string {
  const finished = counts.done + counts.failed;
  const parts = [`${formatCount(counts.done)} redeployed`, `${formatCount(counts.failed)} failed`];
  if (phase === "running") {
    parts.push(`${formatCount(counts.running)} in progress`);
    return `${formatCount(finished)} of ${formatCount(counts.total)} finished: ${parts.join(", ")}${stopping ? ". Stopping after the ones in progress" : ""}.`;
  }
  if (counts.skipped) parts.push(`${formatCount(counts.skipped)} not started`);
  return `${parts.join(", ")}.`;
}

/**
 * The bulk redeploy dialog: first a confirmation that says how many instances the run touches (and
 * when a filter matched more than one run may take), then a live progress bar and one result line
 * per instance. While it runs the dialog can be hidden (the run goes on; the fleet view offers to
 * show it again) and the queue can be stopped.
 */
export function BulkRedeployDialog({ bulk, open, onOpenChange }: { bulk: BulkRedeploy; open: boolean; onOpenChange: (open: boolean) => void }) {
  const { run, phase, results, counts, stopping } = bulk;
  const exact = useFormatExact();
  // The dialog has no trigger of its own: remember the button that started the run, to give focus back to it.
  const startedFrom = useRef<HTMLElement | null>(null);
  if (!run) return null;
  const n = run.targets.length;
  const title =
    phase === "confirm"
      ? run.source === "selected"
        ? `Redeploy ${plural(n, "selected instance", "selected instances")}?`
        : `Redeploy ${plural(n, "instance", "instances")} matching this view?`
      : phase === "running"
        ? `Redeploying ${plural(n, "instance", "instances")}`
        : counts.skipped
          ? "Bulk redeploy stopped"
          : "Bulk redeploy finished";

  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        onOpenChange(next);
        if (!next && phase === "confirm") bulk.clear();
      }}
    >
      <DialogContent
        className="sm:max-w-2xl"
        onInteractOutside={(event) => phase === "running" && event.preventDefault()}
        onOpenAutoFocus={() => {
          if (phase === "confirm") startedFrom.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
        }}
        onCloseAutoFocus={(event) => {
          // Hidden while it runs: focus goes to the button that shows it again; otherwise back to where the run started.
          event.preventDefault();
          const showAgain = document.getElementById(SHOW_BULK_PROGRESS_ID);
          (showAgain ?? (startedFrom.current?.isConnected ? startedFrom.current : null))?.focus();
        }}
      >
        <DialogTitle>{title}</DialogTitle>
        {phase === "confirm" ? (
          <>
            <DialogDescription>
              Each instance gets a freshly minted 30-day API key and its machine restarts with it; its gateway is unavailable for a few
              seconds. An instance whose key cannot be minted is left exactly as it is.
            </DialogDescription>
            <div className="mt-4 space-y-3 text-sm text-slate-700">
              <p>
                Fleetdeck redeploys {BULK_REDEPLOY_CONCURRENCY} at a time and records you as the administrator who did it. Keep this page
                open until the run finishes: closing it stops the queue after the redeploys in progress.
              </p>
              {run.truncated ? (
                <Callout tone="warning" title={`More than ${formatCount(run.cap)} instances match`} data-testid="bulk-truncated">
                  One run redeploys at most {formatCount(run.cap)} instances: these are the first {formatCount(run.cap)} in the current
                  order. Run it again afterwards for the rest.
                </Callout>
              ) : null}
              <div>
                <p className="font-medium text-slate-900">{n === 1 ? "The instance:" : `The ${formatCount(n)} instances, in order:`}</p>
                <ul className="mt-1 max-h-40 list-disc space-y-0.5 overflow-y-auto pl-5 text-slate-700" aria-label="Instances to redeploy">
                  {run.targets.slice(0, 8).map((target) => (
                    <li key={target.id} className="break-words [overflow-wrap:anywhere]">
                      {target.name} <span className="text-slate-500">· {target.ownerEmail}</span>
                    </li>
                  ))}
                  {n > 8 ? <li className="list-none text-slate-500">… and {plural(n - 8, "more", "more")}</li> : null}
                </ul>
              </div>
            </div>
            <DialogFooter>
              <Button
                variant="secondary"
                onClick={() => {
                  onOpenChange(false);
                  bulk.clear();
                }}
              >
                Cancel
              </Button>
              <Button onClick={() => void bulk.start()}>Redeploy {plural(n, "instance", "instances")}</Button>
            </DialogFooter>
          </>
        ) : (
          <>
            <DialogDescription>
              {phase === "running"
                ? `${BULK_REDEPLOY_CONCURRENCY} at a time, as you. You can hide this window; the run goes on while this page stays open.`
                : "Each result is also in that instance's activity, recorded as you."}
            </DialogDescription>
            <div className="mt-4 space-y-2">
              <Progress
                value={counts.done + counts.failed}
                max={Math.max(counts.total, 1)}
                aria-label="Bulk redeploy progress"
                aria-valuetext={`${formatCount(counts.done + counts.failed)} of ${formatCount(counts.total)} finished`}
                indicatorClassName={counts.failed && phase === "finished" ? "bg-amber-500" : undefined}
              />
              <p role="status" className="text-sm text-slate-700" data-testid="bulk-progress">
                {progressSentence(bulk)}
              </p>
            </div>
            <ol className="mt-3 max-h-72 divide-y divide-slate-100 overflow-y-auto rounded-md border border-slate-200" aria-label="Results per instance">
              {run.targets.map((target, index) => {
                const state = results[index] ?? { status: "queued" as const };
                return (
                  <li key={target.id} className="flex gap-3 px-3 py-2 text-sm" data-testid="bulk-result" data-status={state.status}>
                    <span className="mt-0.5">{itemLook[state.status].icon}</span>
                    <div className="min-w-0 flex-1">
                      <p className="break-words [overflow-wrap:anywhere]">
                        <span className="font-medium text-slate-900">{target.name}</span> <span className="text-slate-500">· {target.ownerEmail}</span>
                      </p>
                      <p className={cn("text-xs", state.status === "failed" ? "text-red-800" : "text-slate-600")}>
                        {state.status === "done" ? (
                          <DoneText instance={state.instance} exact={exact} />
                        ) : state.status === "failed" ? (
                          <>
                            Failed: {state.message} <code className="font-mono opacity-75">{state.code}</code>
                          </>
                        ) : (
                          itemLook[state.status].label
                        )}
                      </p>
                    </div>
                  </li>
                );
              })}
            </ol>
            <DialogFooter>
              {phase === "running" ? (
                <>
                  <Button variant="secondary" onClick={() => onOpenChange(false)}>
                    Hide
                  </Button>
                  <Button variant="danger-outline" aria-disabled={stopping || undefined} onClick={() => !stopping && bulk.stop()}>
                    {stopping ? <Loader2 aria-hidden className="animate-spin" /> : null}
                    {stopping ? "Stopping…" : "Stop after the ones in progress"}
                  </Button>
                </>
              ) : (
                <Button
                  onClick={() => {
                    onOpenChange(false);
                    bulk.clear();
                  }}
                >
                  Done
                </Button>
              )}
            </DialogFooter>
          </>
        )}
      </DialogContent>
    </Dialog>
  );
}

function DoneText({ instance, exact }: { instance: InstanceDto; exact: (date: string) => string }) {
  const expiresAt = instance.config.deployedKeyExpiresAt ?? instance.config.keyExpiresAt;
  if (instance.config.keySource === "fallback") {
    return (
      <span className="text-amber-800">
        <TriangleAlert aria-hidden className="mr-1 inline size-3.5" />
        Redeployed on its previous key (a fresh key could not be minted){expiresAt ? `, valid until ${exact(expiresAt)}` : ""}
      </span>
    );
  }
  return (
    <>
      Redeployed with a fresh key{instance.config.keyId ? <> <code className="font-mono">{instance.config.keyId}</code></> : null}
      {expiresAt ? `, valid until ${exact(expiresAt)}` : ""}
    </>
  );
}
