"use client";

import { useIsMutating, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  redeployInstanceAsAdminAction,
  revokeUserKeysAsAdminAction,
  startInstanceAsAdminAction,
  stopInstanceAsAdminAction,
  type RevokeUserKeysResult,
} from "@/lib/actions/admin";
import type { AdminInstanceDetailData } from "@/lib/admin/read";
import type { InstanceOperation } from "@/lib/instances/dto";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";
import type { TimelineEventDto } from "@/lib/admin/instance-detail";
import type { ActionResult } from "@/lib/actions/result";
import { callAction, getJson, type ServerError } from "@/lib/client/transport";
import { detailPollInterval, type OperationSuccess } from "@/lib/hooks/use-instances";
import { adminKeys } from "@/lib/query-keys";

/** Any user's instance with its newest events, as an admin sees it; polled fast while it changes state. */
export function useAdminInstanceDetail(initialData: AdminInstanceDetailData) {
  const id = initialData.instance.id;
  const mutating = useIsMutating({ mutationKey: adminKeys.operations() });
  return useQuery({
    queryKey: adminKeys.instance(id),
    queryFn: () => getJson<AdminInstanceDetailData>(`/admin/instances/${id}/data`),
    initialData,
    initialDataUpdatedAt: Date.parse(initialData.generatedAt),
    refetchInterval: (query) => detailPollInterval(query.state, mutating),
  });
}

/** Older timeline events, fetched a page at a time from `before` (an event id). */
export async function fetchOlderEvents(instanceId: string, before: number): Promise<{ events: TimelineEventDto[]; olderBefore: number | null }> {
  return getJson(`/admin/instances/${instanceId}/events?before=${before}`);
}

export interface AdminOperationVariables {
  instance: Pick<FleetInstanceDto, "id" | "name">;
  operation: InstanceOperation;
}

export interface AdminOperationSuccess extends OperationSuccess {
  instance: FleetInstanceDto;
}

const actions: Record<InstanceOperation, (id: string) => Promise<ActionResult<FleetInstanceDto>>> = {
  start: startInstanceAsAdminAction,
  stop: stopInstanceAsAdminAction,
  redeploy: redeployInstanceAsAdminAction,
};

/**
 * Start / Stop / Redeploy of any user's instance as the admin. Its mutation key sits under
 * `instanceKeys.operations()` with the same variables and results as the owner's operations, so
 * the shared OperationProgress shows its steps and outcome.
 */
export function useAdminOperation(callbacks: {
  onSuccess?: (result: AdminOperationSuccess, variables: AdminOperationVariables) => void;
  onError?: (error: ServerError, variables: AdminOperationVariables) => void;
} = {}) {
  const queryClient = useQueryClient();
  return useMutation<AdminOperationSuccess, ServerError, AdminOperationVariables>({
    mutationKey: adminKeys.operations(),
    mutationFn: async ({ instance, operation }) => ({ instance: await callAction(() => actions[operation](instance.id)), finishedAt: Date.now() }),
    onSuccess: (result, variables) => {
      queryClient.setQueryData<AdminInstanceDetailData>(adminKeys.instance(result.instance.id), (detail) => detail && { ...detail, instance: result.instance });
      callbacks.onSuccess?.(result, variables);
    },
    onError: (error, variables) => callbacks.onError?.(error, variables),
    onSettled: (_data, _error, variables) => queryClient.invalidateQueries({ queryKey: adminKeys.instance(variables.instance.id) }),
  });
}

/** Revokes every API key of one user (a pepper rotation) as the admin; refreshes every admin view afterwards. */
export function useRevokeUserKeys(
  userId: string,
  callbacks: { onSuccess?: (result: RevokeUserKeysResult) => void; onError?: (error: ServerError) => void } = {},
) {
  const queryClient = useQueryClient();
  return useMutation<RevokeUserKeysResult, ServerError>({
    mutationKey: adminKeys.revokeUserKeys(userId),
    mutationFn: () => callAction(() => revokeUserKeysAsAdminAction(userId)),
    onSuccess: (result) => callbacks.onSuccess?.(result),
    onError: (error) => callbacks.onError?.(error),
    onSettled: () => queryClient.invalidateQueries({ queryKey: adminKeys.all }),
  });
}
