"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ArrowRight, Loader2, ShieldOff } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import { revokeAllApiKeysAction, type RevokeAllKeysResult } from "@/app/(app)/account/actions";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { ServerError } from "@/lib/hooks/use-instances";
import { accountKeys, instanceKeys } from "@/lib/query-keys";

function plural(count: number, one: string, many: string) {
  return `${count} ${count === 1 ? one : many}`;
}

/** "Revoke all API keys" (a pepper rotation), confirmed first, saying what it does to running instances. */
export function RevokeAllKeys({ instancesWithKeys }: { instancesWithKeys: number }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const revoke = useMutation<RevokeAllKeysResult, ServerError>({
    mutationKey: accountKeys.revokeKeys(),
    mutationFn: async () => {
      const result = await revokeAllApiKeysAction();
      if (!result.ok) throw new ServerError(result.error.code, result.error.message);
      return result.data;
    },
    onSuccess: (result) =>
      toast.success(`Revoked ${plural(result.revokedKeyCount, "API key", "API keys")}`, {
        description: "Redeploy your instances to give them fresh keys.",
      }),
    onError: (error) => toast.error("Could not revoke your API keys", { description: error.message }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: instanceKeys.all }),
  });

  return (
    <div className="space-y-4">
      <p className="text-sm text-slate-600">
        Each of your instances holds its own 30-day API key, signed for your account. If you think a key has leaked, revoke
        them all at once: every key minted so far stops working immediately.
      </p>
      {revoke.isSuccess ? (
        <Callout
          tone="warning"
          title="All your API keys are revoked"
          role="status"
          action={
            <Button asChild size="sm">
              <Link href="/dashboard">
                Go to your instances <ArrowRight aria-hidden />
              </Link>
            </Button>
          }
        >
          {revoke.data.revokedKeyCount > 0
            ? `${plural(revoke.data.revokedKeyCount, "instance", "instances")} now show a revoked key. Redeploy each one to get a fresh key.`
            : "No instance held a key, so nothing else needs doing."}
        </Callout>
      ) : null}
      <ConfirmDialog
        open={open}
        onOpenChange={(next) => setOpen(next && !revoke.isPending)}
        trigger={
          <Button variant="danger-outline" aria-disabled={revoke.isPending ? true : undefined}>
            {revoke.isPending ? <Loader2 aria-hidden className="animate-spin" /> : <ShieldOff aria-hidden />}
            Revoke all API keys
          </Button>
        }
        title="Revoke all API keys?"
        description={
          <>
            <p>
              Every API key of your account stops working at once
              {instancesWithKeys > 0 ? <> — including the keys of your {plural(instancesWithKeys, "instance", "instances")}</> : null}.
            </p>
            <p>
              Running instances keep running but can no longer authenticate. Each one shows <strong>revoked</strong> until you
              redeploy it, which mints a fresh key. This cannot be undone.
            </p>
          </>
        }
        confirmLabel="Revoke all keys"
        confirmVariant="danger"
        onConfirm={() => revoke.mutate()}
      />
    </div>
  );
}
