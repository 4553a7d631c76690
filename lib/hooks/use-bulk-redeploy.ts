"use client";

import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { listBulkRedeployTargetsAction, type BulkTargetsResult } from "@/lib/actions/admin";
import { BULK_REDEPLOY_MAX, type FleetQuery } from "@/lib/admin/schemas";
import { callAction, type ServerError } from "@/lib/client/transport";
import type { FleetJobSelection } from "@/lib/fleet-jobs/schemas";
import { useCreateFleetJob } from "@/lib/hooks/use-fleet-jobs";
import { adminKeys } from "@/lib/query-keys";

export type BulkTarget = BulkTargetsResult["targets"][number];

/** A bulk redeploy waiting for its confirmation. */
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
 * A bulk redeploy, confirmed in the browser and run on the servers. `redeploySelected` and
 * `redeployMatching` (which first lists what the view matches) open the confirmation; `start`
 * starts a fleet job through the same server-action transport as a single Redeploy, then goes to
 * the job's page. The job goes on when the page closes, on whichever replica claims its items, and
 * every admin can watch it on /admin/jobs. Closing the confirmation gives focus back to whatever
 * opened it (it has no trigger of its own).
 */
export function useBulkRedeploy(callbacks: {
  /** The view matches no live instance: nothing to confirm. */
  onNothingMatches?: () => void;
  /** Listing the matching instances (`resolve`) or starting the job (`start`) failed. */
  onError?: (error: ServerError, phase: "resolve" | "start") => void;
} = {}) {
  const router = useRouter();
  const [run, setRun] = useState<BulkRun | null>(null);
  const opener = useRef<HTMLElement | null>(null);
  const create = useCreateFleetJob();

  const prepare = (next: BulkRun) => {
    opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setRun(next);
  };
  const resolve = useMutation<BulkTargetsResult, ServerError, FleetQuery>({
    mutationKey: adminKeys.bulkTargets(),
    mutationFn: ({ keyHealth, status, owner, ownerSearch, sort, order }) =>
      callAction(() => listBulkRedeployTargetsAction({ keyHealth, status, owner, ownerSearch, sort, order })),
    onSuccess: (result, view) => {
      if (result.targets.length === 0) callbacks.onNothingMatches?.();
      else prepare({ ...result, source: "filter", query: view });
    },
    onError: (error) => callbacks.onError?.(error, "resolve"),
  });

  const redeploySelected = (instances: { id: string; name: string; owner: { email: string } }[]) => {
    if (create.isPending || instances.length === 0) return;
    const targets = instances.map((instance) => ({ id: instance.id, name: instance.name, ownerEmail: instance.owner.email }));
    prepare({ targets, truncated: false, cap: BULK_REDEPLOY_MAX, source: "selected" });
  };
  const redeployMatching = (query: FleetQuery) => {
    if (create.isPending || resolve.isPending) return;
    resolve.mutate(query);
  };
  const start = () => {
    if (!run || create.isPending) return;
    create.mutate(
      { kind: "redeploy", selection: selectionOf(run) },
      {
        onSuccess: (job) => {
          setRun(null);
          router.push(`/admin/jobs/${job.id}`);
        },
        onError: (error) => callbacks.onError?.(error, "start"),
      },
    );
  };
  const close = () => {
    setRun(null);
    const element = opener.current;
    opener.current = null;
    requestAnimationFrame(() => element?.focus());
  };
  return { run, starting: create.isPending, resolving: resolve.isPending, redeploySelected, redeployMatching, start, close };
}

export type BulkRedeploy = ReturnType<typeof useBulkRedeploy>;
