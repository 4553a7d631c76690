"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { cancelFleetJobAction, createFleetJobAction, pauseFleetJobAction, resumeFleetJobAction } from "@/lib/actions/fleet-jobs";
import type { FleetJobDto, FleetJobPage, FleetJobWithItems } from "@/lib/fleet-jobs/jobs";
import { JOB_PAGE_ITEMS, type CreateFleetJobInput } from "@/lib/fleet-jobs/schemas";
import { callAction, getJson, type ServerError } from "@/lib/client/transport";
import { adminKeys } from "@/lib/query-keys";

const POLL_MS = 1_500;

const isActive = (job: Pick<FleetJobDto, "state" | "counts">) => job.state === "running" || job.counts.running > 0;

/** One job with its first JOB_PAGE_ITEMS items: server-rendered first, polled while it runs. */
export function useFleetJob(initialData: FleetJobWithItems) {
  return useQuery({
    queryKey: adminKeys.job(initialData.id),
    queryFn: () => getJson<FleetJobWithItems>(`/api/admin/jobs/${initialData.id}?limit=${JOB_PAGE_ITEMS}`),
    initialData,
    refetchInterval: (query) => (query.state.data && isActive(query.state.data) ? POLL_MS : false),
  });
}

/** Recent jobs, polled while one of them runs. */
export function useFleetJobs(initialData: FleetJobPage) {
  return useQuery({
    queryKey: adminKeys.jobs(),
    queryFn: () => getJson<FleetJobPage>("/api/admin/jobs?limit=50"),
    initialData,
    refetchInterval: (query) => (query.state.data?.jobs.some(isActive) ? POLL_MS : false),
  });
}

/** Jobs still running or paused (the fleet view's banner), checked every few seconds. */
export function useActiveFleetJobs() {
  return useQuery({
    queryKey: [...adminKeys.jobs(), "active"],
    queryFn: () => getJson<FleetJobPage>("/api/admin/jobs?state=running,paused&limit=5"),
    refetchInterval: 5_000,
  });
}

export type FleetJobTransition = "pause" | "resume" | "cancel";

const transitions: Record<FleetJobTransition, typeof pauseFleetJobAction> = {
  pause: pauseFleetJobAction,
  resume: resumeFleetJobAction,
  cancel: cancelFleetJobAction,
};

/** Pause, resume or cancel a job; refreshes the job and the lists. */
export function useFleetJobTransition(jobId: string) {
  const queryClient = useQueryClient();
  return useMutation<FleetJobDto, ServerError, FleetJobTransition>({
    mutationFn: (verb) => callAction(() => transitions[verb](jobId)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: adminKeys.jobs() }),
  });
}

/** Starts a fleet job through the same server action as every other admin write (see lib/actions/fleet-jobs.ts). */
export function useCreateFleetJob() {
  const queryClient = useQueryClient();
  return useMutation<FleetJobDto, ServerError, CreateFleetJobInput>({
    mutationFn: (input) => callAction(() => createFleetJobAction(input)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: adminKeys.jobs() }),
  });
}
