"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import { revokeAllApiKeysAction, signOutEverywhereAction, type RevokeAllKeysResult } from "@/lib/actions/account";
import { callAction, type ServerError } from "@/lib/client/transport";
import { accountKeys, instanceKeys } from "@/lib/query-keys";

/**
 * "Revoke all API keys" of the signed-in user (a pepper rotation); refreshes every instance view
 * afterwards, whatever the outcome, since a failure may come after the rotation committed.
 */
export function useRevokeAllKeys(callbacks: { onSuccess?: (result: RevokeAllKeysResult) => void; onError?: (error: ServerError) => void } = {}) {
  const queryClient = useQueryClient();
  return useMutation<RevokeAllKeysResult, ServerError>({
    mutationKey: accountKeys.revokeKeys(),
    mutationFn: () => callAction(revokeAllApiKeysAction),
    onSuccess: (result) => callbacks.onSuccess?.(result),
    onError: (error) => callbacks.onError?.(error),
    onSettled: () => queryClient.invalidateQueries({ queryKey: instanceKeys.all }),
  });
}

/**
 * Ends every session of the signed-in user, then this browser's, and goes to the sign-in page. It
 * stays pending until the page leaves; a failure leaves the user signed in here.
 */
export function useSignOutEverywhere(callbacks: { onError?: (error: ServerError) => void } = {}) {
  return useMutation<void, ServerError>({
    mutationFn: async () => {
      await callAction(signOutEverywhereAction);
      await signOut({ callbackUrl: "/sign-in" });
    },
    onError: (error) => callbacks.onError?.(error),
  });
}
