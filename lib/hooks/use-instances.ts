"use client";

import { useIsMutating, useMutation, useMutationState, useQuery, useQueryClient, type Mutation } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { createInstanceAction, redeployInstanceAction, startInstanceAction, stopInstanceAction } from "@/lib/actions/instances";
import { callAction, getJson, isNotFound, isServerError, type ServerError } from "@/lib/client/transport";
import { isChanging } from "@/lib/instances/availability";
import type { InstanceDetailData, InstanceListData } from "@/lib/instances/read";
import type { InstanceDto, InstanceOperation } from "@/lib/instances/dto";
import { instanceKeys } from "@/lib/query-keys";

/** Poll this often while something is changing state, and this often otherwise. */
export const FAST_POLL_MS = 2_000;
export const SLOW_POLL_MS = 30_000;

/** Worth polling fast: changing, or its key being replaced live (which needs nothing from the user). */
function isInMotion(instance: InstanceDto): boolean {
  return isChanging(instance) || isRekeying(instance);
}

/** The user's instances: server-rendered first, then polled fast while anything is changing. */
export function useInstanceList(initialData: InstanceListData) {
  const mutating = useIsMutating({ mutationKey: instanceKeys.all });
  return useQuery({
    queryKey: instanceKeys.list(),
    queryFn: () => getJson<InstanceListData>("/instances/data"),
    initialData,
    initialDataUpdatedAt: Date.parse(initialData.generatedAt),
    refetchInterval: (query) => (mutating > 0 || query.state.data?.instances.some(isInMotion) ? FAST_POLL_MS : SLOW_POLL_MS),
  });
}

export interface RekeyProgress {
  /** Running instances whose key is still being replaced (queued or in progress). */
  remaining: number;
  /** Running instances whose live re-key failed (each says why; a redeploy fixes it). */
  failed: number;
}

const REKEY_POLL_MS = 1_000;

/**
 * How the live re-key after "Revoke all API keys" stands, read from the user's instance list and
 * polled every second while any instance is still being re-keyed. Disabled until `active`.
 */
export function useRekeyProgress(active: boolean) {
  return useQuery({
    queryKey: instanceKeys.list(),
    queryFn: () => getJson<InstanceListData>("/instances/data"),
    enabled: active,
    refetchInterval: (query) => (query.state.data?.instances.some((instance) => isRekeying(instance)) ? REKEY_POLL_MS : false),
    select: (data): RekeyProgress => ({
      remaining: data.instances.filter(isRekeying).length,
      failed: data.instances.filter((instance) => instance.config.rekey === "failed").length,
    }),
  });
}

function isRekeying(instance: InstanceDto): boolean {
  return instance.config.rekey === "pending" || instance.config.rekey === "in_progress";
}

/** One instance with its events and gateway report, polled like the list. */
export function useInstanceDetail(id: string, initialData: InstanceDetailData) {
  const mutating = useIsMutating({ mutationKey: instanceKeys.all });
  return useQuery({
    queryKey: instanceKeys.detail(id),
    queryFn: () => getJson<InstanceDetailData>(`/instances/${id}/data`),
    initialData,
    initialDataUpdatedAt: Date.parse(initialData.generatedAt),
    refetchInterval: (query) => detailPollInterval(query.state, mutating),
  });
}

/**
 * How often an instance page polls: not at all once the instance is gone, fast while an operation
 * is pending or the instance is changing state, slowly otherwise.
 */
export function detailPollInterval(
  state: { data?: { instance: InstanceDto }; error: unknown },
  mutating: number,
): number | false {
  if (isNotFound(state.error)) return false;
  return mutating > 0 || (state.data && isInMotion(state.data.instance)) ? FAST_POLL_MS : SLOW_POLL_MS;
}

export interface OperationVariables {
  instance: Pick<InstanceDto, "id" | "name">;
  operation: InstanceOperation;
}

export interface OperationSuccess {
  instance: InstanceDto;
  finishedAt: number;
}

const operationActions = {
  start: startInstanceAction,
  stop: stopInstanceAction,
  redeploy: redeployInstanceAction,
} as const;

/** Writes a fresh DTO into every cached view of the instance, so the UI changes before the refetch. */
function useWriteInstance() {
  const queryClient = useQueryClient();
  return (instance: InstanceDto) => {
    queryClient.setQueryData<InstanceListData>(instanceKeys.list(), (list) =>
      list && {
        ...list,
        instances: list.instances.some((item) => item.id === instance.id)
          ? list.instances.map((item) => (item.id === instance.id ? instance : item))
          : [instance, ...list.instances],
      },
    );
    queryClient.setQueryData<InstanceDetailData>(instanceKeys.detail(instance.id), (detail) => detail && { ...detail, instance });
  };
}

/**
 * Start / Stop / Redeploy through the server actions. One mutation key for all instances; the
 * instance travels in the variables, so any component can see what is pending on which instance
 * (usePendingOperation) and the create dialog can start the instance it just created.
 */
export function useInstanceOperation(callbacks: {
  onSuccess?: (result: OperationSuccess, variables: OperationVariables) => void;
  onError?: (error: ServerError, variables: OperationVariables) => void;
} = {}) {
  const queryClient = useQueryClient();
  const writeInstance = useWriteInstance();
  return useMutation<OperationSuccess, ServerError, OperationVariables>({
    mutationKey: instanceKeys.operations(),
    mutationFn: async ({ instance, operation }) => ({ instance: await callAction(() => operationActions[operation](instance.id)), finishedAt: Date.now() }),
    onSuccess: (result, variables) => {
      writeInstance(result.instance);
      callbacks.onSuccess?.(result, variables);
    },
    onError: (error, variables) => callbacks.onError?.(error, variables),
    onSettled: () => queryClient.invalidateQueries({ queryKey: instanceKeys.all }),
  });
}

/** Creates (provisions) an instance; the caller starts it with useInstanceOperation. */
export function useCreateInstance() {
  const queryClient = useQueryClient();
  const writeInstance = useWriteInstance();
  return useMutation<InstanceDto, ServerError, { name: string; region: string }>({
    mutationKey: instanceKeys.create(),
    mutationFn: (input) => callAction(() => createInstanceAction(input)),
    onSuccess: (instance) => writeInstance(instance),
    onSettled: () => queryClient.invalidateQueries({ queryKey: instanceKeys.list() }),
  });
}

function isOperationOn(instanceId: string) {
  return (mutation: Pick<Mutation, "state">) =>
    (mutation.state.variables as OperationVariables | undefined)?.instance.id === instanceId;
}

/** The operation this browser is waiting for on the instance, if any. */
export function usePendingOperation(instanceId: string): InstanceOperation | undefined {
  const pending = useMutationState<InstanceOperation>({
    filters: { mutationKey: instanceKeys.operations(), status: "pending", predicate: isOperationOn(instanceId) },
    select: (mutation) => (mutation.state.variables as OperationVariables).operation,
  });
  return pending.at(-1);
}

export type RecentOutcome =
  | { status: "success"; operation: InstanceOperation; startedAt: number; finishedAt: number }
  | { status: "error"; operation: InstanceOperation; startedAt: number; finishedAt: number; error: ServerError };

const OUTCOME_VISIBLE_MS = 8_000;

/**
 * How this browser's latest operation on the instance ended, for a few seconds after it did (so a
 * fast operation still shows the steps it went through), then undefined.
 */
export function useRecentOutcome(instanceId: string): RecentOutcome | undefined {
  const outcomes = useMutationState<RecentOutcome | undefined>({
    filters: { mutationKey: instanceKeys.operations(), predicate: isOperationOn(instanceId) },
    select: (mutation): RecentOutcome | undefined => {
      const { status, variables, submittedAt, data, error } = mutation.state;
      const operation = (variables as OperationVariables).operation;
      if (status === "success") return { status, operation, startedAt: submittedAt, finishedAt: (data as OperationSuccess).finishedAt };
      if (status === "error" && isServerError(error)) {
        return { status, operation, startedAt: submittedAt, finishedAt: error.finishedAt, error };
      }
      return undefined;
    },
  });
  const latest = outcomes.at(-1);
  const [mountedAt] = useState(() => Date.now());
  const [expired, setExpired] = useState<number | undefined>();
  const finishedAt = latest?.finishedAt;
  useEffect(() => {
    if (finishedAt === undefined) return;
    const timer = setTimeout(() => setExpired(finishedAt), Math.max(0, finishedAt + OUTCOME_VISIBLE_MS - Date.now()));
    return () => clearTimeout(timer);
  }, [finishedAt]);
  if (!latest || latest.finishedAt === expired || latest.finishedAt < mountedAt - OUTCOME_VISIBLE_MS) return undefined;
  return latest;
}
