"use client";

import { Loader2 } from "lucide-react";
import { toast } from "sonner";
import { plural, formatCount } from "@/components/shared/format";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogTitle } from "@/components/ui/dialog";
import { useBulkRedeploy, type BulkRedeploy } from "@/lib/hooks/use-bulk-redeploy";

/** A bulk redeploy whose outcome is announced: nothing to redeploy, or why it could not start. */
export function useBulkRedeployWithToasts(): BulkRedeploy {
  return useBulkRedeploy({
    onNothingMatches: () => toast.info("Nothing to redeploy", { description: "No live instance matches this view." }),
    onError: (error, phase) =>
      toast.error(phase === "resolve" ? "Could not list the matching instances" : "Could not start the bulk redeploy", { description: error.message }),
  });
}

/** The confirmation of a bulk redeploy: how many instances it touches (a filter takes every match, beyond the list shown), then a job starts. */
export function BulkRedeployDialog({ bulk }: { bulk: BulkRedeploy }) {
  const { run, starting, close } = bulk;
  if (!run) return null;
  const n = run.targets.length;
  return (
    <Dialog open onOpenChange={(next) => (next ? undefined : close())}>
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
