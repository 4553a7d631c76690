"use client";

import { CircleCheck, CircleMinus, CircleX, Clock, Loader2, Pause, Play, Square } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import { useFormatExact } from "@/components/shared/time";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Badge, type BadgeTone } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { Progress } from "@/components/ui/progress";
import { useActiveFleetJobs, useFleetJob, useFleetJobs, useFleetJobTransition, type FleetJobTransition } from "@/lib/hooks/use-fleet-jobs";
import type { FleetJobDto, FleetJobItemDto, FleetJobPage, FleetJobWithItems } from "@/lib/fleet-jobs/jobs";
import { JOB_PAGE_ITEMS } from "@/lib/fleet-jobs/schemas";
import { formatCount, plural } from "@/components/shared/format";

const kindLabel: Record<FleetJobDto["kind"], string> = { redeploy: "Redeploy", start: "Start", stop: "Stop", revoke_keys: "Revoke keys" };
const stateLook: Record<FleetJobDto["state"], { label: string; tone: BadgeTone }> = {
  running: { label: "Running", tone: "info" },
  paused: { label: "Paused", tone: "warning" },
  cancelled: { label: "Cancelled", tone: "neutral" },
  finished: { label: "Finished", tone: "success" },
};
const itemLook: Record<FleetJobItemDto["state"], { label: string; icon: React.ReactNode }> = {
  pending: { label: "Waiting", icon: <Clock aria-hidden className="size-4 text-slate-400" /> },
  running: { label: "In progress", icon: <Loader2 aria-hidden className="size-4 animate-spin text-brand-600" /> },
  succeeded: { label: "Done", icon: <CircleCheck aria-hidden className="size-4 text-emerald-600" /> },
  noop: { label: "Nothing to do", icon: <CircleMinus aria-hidden className="size-4 text-slate-500" /> },
  failed: { label: "Failed", icon: <CircleX aria-hidden className="size-4 text-red-600" /> },
  cancelled: { label: "Cancelled", icon: <CircleMinus aria-hidden className="size-4 text-slate-400" /> },
};

function finishedCount(job: FleetJobDto): number {
  return job.counts.succeeded + job.counts.noop + job.counts.failed + job.counts.cancelled;
}

/** "12 of 40 finished: 10 done, 2 failed, …" — every non-zero count by outcome. */
export function jobProgressSentence(job: FleetJobDto): string {
  const parts = (["succeeded", "noop", "failed", "cancelled", "running", "pending"] as const)
    .filter((state) => job.counts[state] > 0)
    .map((state) => `${formatCount(job.counts[state])} ${itemLook[state].label.toLowerCase()}`);
  return `${formatCount(finishedCount(job))} of ${formatCount(job.totalItems)} finished${parts.length ? `: ${parts.join(", ")}` : ""}.`;
}

function JobProgress({ job }: { job: FleetJobDto }) {
  return (
    <div className="space-y-1">
      <Progress
        value={finishedCount(job)}
        max={Math.max(job.totalItems, 1)}
        aria-label={`Progress of the ${kindLabel[job.kind].toLowerCase()} job`}
        aria-valuetext={`${formatCount(finishedCount(job))} of ${formatCount(job.totalItems)} finished`}
        indicatorClassName={job.counts.failed ? "bg-amber-500" : undefined}
      />
      <p className="text-xs text-slate-600" data-testid="job-progress">
        {jobProgressSentence(job)}
      </p>
    </div>
  );
}

function describeSelection(selection: Record<string, unknown>): string {
  if (selection.type === "filter") return "everything matching the fleet view's filters";
  if (selection.type === "owners") return "selected users";
  return "selected instances";
}

/** The jobs page: every fleet job, newest first, with who started it, when, and its progress. */
export function FleetJobsList({ initialData }: { initialData: FleetJobPage }) {
  const { data } = useFleetJobs(initialData);
  const exact = useFormatExact();
  if (data.jobs.length === 0) {
    return (
      <div className="rounded-md border border-dashed border-slate-300 px-6 py-10 text-center">
        <p className="font-medium">No jobs yet</p>
        <p className="mt-1 text-sm text-slate-600">Bulk operations started from the fleet view appear here.</p>
      </div>
    );
  }
  return (
    <ul className="divide-y divide-slate-200 rounded-md border border-slate-200" aria-label="Fleet jobs">
      {data.jobs.map((job) => (
        <li key={job.id} className="space-y-2 px-4 py-3" data-testid="job-row">
          <div className="flex flex-wrap items-baseline justify-between gap-2">
            <Link href={`/admin/jobs/${job.id}`} className="font-medium text-brand-700 hover:underline">
              {kindLabel[job.kind]} · {plural(job.totalItems, job.kind === "revoke_keys" ? "user" : "instance", job.kind === "revoke_keys" ? "users" : "instances")}
            </Link>
            <Badge tone={stateLook[job.state].tone}>{stateLook[job.state].label}</Badge>
          </div>
          <p className="text-xs text-slate-600">
            Started by {job.createdBy.email ?? "a deleted user"} on {exact(job.createdAt)}, over {describeSelection(job.selection)}.
          </p>
          <JobProgress job={job} />
        </li>
      ))}
    </ul>
  );
}

/**
 * One job: its progress and per-item results, live while it runs (polled), with pause, resume
 * and cancel (confirmed first: it cannot be undone).
 */
export function FleetJobDetail({ initialData }: { initialData: FleetJobWithItems }) {
  const { data: job } = useFleetJob(initialData);
  const exact = useFormatExact();
  const transition = useFleetJobTransition(job.id);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const act = (verb: FleetJobTransition) =>
    transition.mutate(verb, { onError: (error) => toast.error(`Could not ${verb} the job`, { description: error.message }) });
  const over = job.state === "finished" || job.state === "cancelled";

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold">
            {kindLabel[job.kind]} · {plural(job.totalItems, job.kind === "revoke_keys" ? "user" : "instance", job.kind === "revoke_keys" ? "users" : "instances")}
          </h1>
          <p className="text-sm text-slate-600">
            Started by {job.createdBy.email ?? "a deleted user"} on {exact(job.createdAt)}, over {describeSelection(job.selection)}.
            {job.finishedAt ? ` Ended ${exact(job.finishedAt)}.` : " It runs on the servers: closing this page does not stop it."}
          </p>
        </div>
        <div className="flex items-center gap-2">
          <Badge tone={stateLook[job.state].tone} data-testid="job-state">
            {stateLook[job.state].label}
          </Badge>
          {job.state === "running" ? (
            <Button size="sm" variant="secondary" onClick={() => act("pause")} aria-disabled={transition.isPending || undefined}>
              <Pause aria-hidden /> Pause
            </Button>
          ) : null}
          {job.state === "paused" ? (
            <Button size="sm" variant="secondary" onClick={() => act("resume")} aria-disabled={transition.isPending || undefined}>
              <Play aria-hidden /> Resume
            </Button>
          ) : null}
          {!over ? (
            <ConfirmDialog
              open={confirmCancel}
              onOpenChange={setConfirmCancel}
              trigger={
                <Button size="sm" variant="danger-outline" aria-disabled={transition.isPending || undefined}>
                  <Square aria-hidden /> Cancel job
                </Button>
              }
              title="Cancel this job?"
              description={
                <p>
                  The {plural(job.counts.pending, "item that has not started", "items that have not started")} will not run. Items in progress
                  finish. A cancelled job cannot be resumed.
                </p>
              }
              confirmLabel="Cancel job"
              confirmVariant="danger"
              onConfirm={() => act("cancel")}
            />
          ) : null}
        </div>
      </div>

      {job.state === "paused" ? (
        <Callout tone="warning" title="Paused">
          No new item starts until you resume the job.
        </Callout>
      ) : null}

      <div role="status" aria-live="polite">
        <JobProgress job={job} />
      </div>

      <section aria-labelledby="job-items-heading" className="space-y-2">
        <h2 id="job-items-heading" className="text-lg font-semibold">
          Results
        </h2>
        <ol className="divide-y divide-slate-100 rounded-md border border-slate-200" aria-label="Results per item">
          {job.items.map((item) => (
            <li key={item.position} className="flex gap-3 px-3 py-2 text-sm" data-testid="job-item" data-state={item.state}>
              <span className="mt-0.5">{itemLook[item.state].icon}</span>
              <div className="min-w-0 flex-1">
                <p className="break-words [overflow-wrap:anywhere]">
                  {item.target.type === "instance" ? (
                    <Link href={`/admin/instances/${item.target.id}`} className="font-medium text-slate-900 hover:underline">
                      {item.target.name ?? item.target.id}
                    </Link>
                  ) : (
                    <span className="font-medium text-slate-900">{item.target.name ?? item.target.id}</span>
                  )}
                  {item.target.type === "instance" && item.target.ownerEmail ? <span className="text-slate-500"> · {item.target.ownerEmail}</span> : null}
                </p>
                <p className={item.state === "failed" ? "text-xs text-red-800" : "text-xs text-slate-600"}>
                  {itemLook[item.state].label}
                  {item.error && item.state !== "succeeded" ? (
                    <>
                      {item.state === "pending" ? " (will retry): " : ": "}
                      {item.error.message} <code className="font-mono opacity-75">{item.error.code}</code>
                    </>
                  ) : null}
                  {item.attempts > 1 ? ` · ${plural(item.attempts, "attempt", "attempts")}` : ""}
                </p>
              </div>
            </li>
          ))}
        </ol>
        {job.nextCursor !== null ? (
          <p className="text-xs text-slate-500">
            Showing the first {formatCount(JOB_PAGE_ITEMS)} items; the counts above cover all {formatCount(job.totalItems)}. The API pages through the rest.
          </p>
        ) : null}
      </section>
    </div>
  );
}

/** On the fleet view: the jobs still running or paused, linked. Nothing when there are none. */
export function ActiveFleetJobsBanner() {
  const { data } = useActiveFleetJobs();
  const jobs = data?.jobs ?? [];
  if (jobs.length === 0) return null;
  return (
    <Callout tone="info" title={jobs.length === 1 ? "A fleet job is in progress" : `${formatCount(jobs.length)} fleet jobs are in progress`} data-testid="active-jobs">
      <ul>
        {jobs.map((job) => (
          <li key={job.id}>
            <Link href={`/admin/jobs/${job.id}`} className="font-medium text-brand-700 hover:underline">
              {kindLabel[job.kind]} · {stateLook[job.state].label}
            </Link>{" "}
            — {jobProgressSentence(job)}
          </li>
        ))}
      </ul>
    </Callout>
  );
}
