"use client";

import { Loader2 } from "lucide-react";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogTitle } from "@/components/ui/dialog";
import type { FleetQuery } from "@/lib/admin/schemas";
import { useCreateFleetJob } from "@/lib/hooks/use-fleet-jobs";
import type { FleetJobSelection } from "@/lib/fleet-jobs/schemas";
import { formatCount, plural } from "@/components/shared/format";
import type { BulkTargetsResult } from "@/lib/actions/admin";

export type BulkTarget = BulkTargetsResult["targets"][number];

export interface BulkRun {
  /** The instances to show in the confirmation (for a filter, the first `cap` of them). */
  targets: BulkTarget[];
  /** More instances matched than the confirmation lists; the job takes all of them. */
  truncated: boolean;
  cap: number;
  source: "selected" | "filter";
  /** The fleet view's query, for a run over everything matching it. */
  query?: FleetQuery;
}

function selectionOf(run: BulkRun): FleetJobSelection {
  if (run.source === "selected" || !run.query) return { type: "instances", ids: run.targets.map((target) => target.id) };
  const { keyHealth, status, owner, ownerSearch, sort, order } = run.query;
  return { type: "filter", filter: { keyHealth, status, owner, ownerSearch }, sort, order };
}

/**
 * A bulk redeploy, confirmed in the browser and run on the servers: confirming starts a fleet job
 * (POST /api/admin/jobs) and goes to its page. The job goes on when the page closes, on whichever
 * replica claims its items, and every admin can watch it on /admin/jobs.
 */
export function useBulkRedeploy() {
  const router = useRouter();
  const [run, setRun] = useState<BulkRun | null>(null);
  // The confirmation has no trigger of its own: focus goes back to whatever opened it.
  const opener = useRef<HTMLElement | null>(null);
  const create = useCreateFleetJob();
  const start = () => {
    if (!run || create.isPending) return;
    create.mutate(
      { kind: "redeploy", selection: selectionOf(run) },
      {
        onSuccess: (job) => {
          setRun(null);
          router.push(`/admin/jobs/${job.id}`);
        },
        onError: (error) => toast.error("Could not start the bulk redeploy", { description: error.message }),
      },
    );
  };
  const prepare = (next: BulkRun | null) => {
    opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setRun(next);
  };
  const clear = () => {
    setRun(null);
    const element = opener.current;
    opener.current = null;
    requestAnimationFrame(() => element?.focus());
  };
  return { run, starting: create.isPending, prepare, start, clear };
}

export type BulkRedeploy = ReturnType<typeof useBulkRedeploy>;

/** The confirmation of a bulk redeploy: how many instances it touches (a filter takes every match, beyond the list shown), then a job starts. */
export function BulkRedeployDialog({ bulk, open, onOpenChange }: { bulk: BulkRedeploy; open: boolean; onOpenChange: (open: boolean) => void }) {
  const { run, starting } = bulk;
  if (!run) return null;
  const n = run.targets.length;
  const close = () => {
    onOpenChange(false);
    bulk.clear();
  };
  return (
    <Dialog open={open} onOpenChange={(next) => (next ? onOpenChange(true) : close())}>
      <DialogContent className="sm:max-w-2xl">
        <DialogTitle>
          {run.source === "selected"
            ? `Redeploy ${plural(n, "selected instance", "selected instances")}?`
            : `Redeploy ${run.truncated ? `more than ${formatCount(run.cap)} instances` : plural(n, "instance", "instances")} matching this view?`}
        </DialogTitle>
        <DialogDescription>
          Each instance gets a freshly minted 30-day API key and its machine restarts with it; its gateway is unavailable for a few seconds.
          An instance whose key cannot be minted is left exactly as it is.
        </DialogDescription>
        <div className="mt-4 space-y-3 text-sm text-slate-700">
          <p>
            Fleetdeck runs this as a job on its servers and records you as the administrator who did it. You can close this page: the job goes
            on, and its page shows each result.
          </p>
          {run.truncated ? (
            <Callout tone="info" title={`More than ${formatCount(run.cap)} instances match`} data-testid="bulk-truncated">
              Every instance matching the view when you confirm is redeployed; the list shows the first {formatCount(run.cap)}.
            </Callout>
          ) : null}
          <div>
            <p className="font-medium text-slate-900">{n === 1 ? "The instance:" : `The ${run.truncated ? "first " : ""}${formatCount(n)} instances, in order:`}</p>
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
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button onClick={bulk.start} aria-disabled={starting || undefined}>
            {starting ? <Loader2 aria-hidden className="animate-spin" /> : null}
            Redeploy {run.truncated ? "all matching" : plural(n, "instance", "instances")}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
