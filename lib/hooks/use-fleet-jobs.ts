"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FleetJobDto, FleetJobPage, FleetJobWithItems } from "@/lib/fleet-jobs/jobs";
import { JOB_PAGE_ITEMS, type CreateFleetJobInput } from "@/lib/fleet-jobs/schemas";
import { ServerError } from "@/lib/hooks/use-instances";
import { adminKeys } from "@/lib/query-keys";

/** The fleet-job API (app/api/admin/jobs) from the browser: one transport for every job call; failures become ServerError. */
async function requestJson<T>(url: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, headers: { accept: "application/json", ...(init?.body ? { "content-type": "application/json" } : {}) }, cache: "no-store" });
  } catch {
    throw new ServerError("unreachable", "The request did not reach the server.");
  }
  if (response.redirected && new URL(response.url).pathname === "/sign-in") throw new ServerError("unauthorized", "Your session has ended. Sign in again.");
  const body = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  if (!response.ok || !body || body.error) throw new ServerError(body?.error?.code ?? "unavailable", body?.error?.message ?? `The server answered ${response.status}.`);
  return body as T;
}

const POLL_MS = 1_500;

const isActive = (job: Pick<FleetJobDto, "state" | "counts">) => job.state === "running" || job.counts.running > 0;

/** One job with its first JOB_PAGE_ITEMS items: server-rendered first, polled while it runs. */
export function useFleetJob(initialData: FleetJobWithItems) {
  return useQuery({
    queryKey: adminKeys.job(initialData.id),
    queryFn: () => requestJson<FleetJobWithItems>(`/api/admin/jobs/${initialData.id}?limit=${JOB_PAGE_ITEMS}`),
    initialData,
    refetchInterval: (query) => (query.state.data && isActive(query.state.data) ? POLL_MS : false),
  });
}

/** Recent jobs, polled while one of them runs. */
export function useFleetJobs(initialData: FleetJobPage) {
  return useQuery({
    queryKey: adminKeys.jobs(),
    queryFn: () => requestJson<FleetJobPage>("/api/admin/jobs?limit=50"),
    initialData,
    refetchInterval: (query) => (query.state.data?.jobs.some(isActive) ? POLL_MS : false),
  });
}

/** Jobs still running or paused (the fleet view's banner), checked every few seconds. */
export function useActiveFleetJobs() {
  return useQuery({
    queryKey: [...adminKeys.jobs(), "active"],
    queryFn: () => requestJson<FleetJobPage>("/api/admin/jobs?state=running,paused&limit=5"),
    refetchInterval: 5_000,
  });
}

export type FleetJobTransition = "pause" | "resume" | "cancel";

/** Pause, resume or cancel a job; refreshes the job and the lists. */
export function useFleetJobTransition(jobId: string) {
  const queryClient = useQueryClient();
  return useMutation<FleetJobDto, ServerError, FleetJobTransition>({
    mutationFn: (verb) => requestJson<FleetJobDto>(`/api/admin/jobs/${jobId}/${verb}`, { method: "POST", body: "{}" }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: adminKeys.jobs() }),
  });
}

/** Starts a fleet job (POST /api/admin/jobs). */
export function useCreateFleetJob() {
  const queryClient = useQueryClient();
  return useMutation<FleetJobDto, ServerError, CreateFleetJobInput>({
    mutationFn: (input) => requestJson<FleetJobDto>("/api/admin/jobs", { method: "POST", body: JSON.stringify(input) }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: adminKeys.jobs() }),
  });
}
