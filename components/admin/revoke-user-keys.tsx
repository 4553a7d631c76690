"use client";

import { Loader2, ShieldOff } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Button } from "@/components/ui/button";
import { useRevokeUserKeys } from "@/lib/hooks/use-admin";
import { plural } from "@/components/shared/format";

function instancesPhrase(count: number): string {
  return plural(count, "running instance", "running instances");
}

/**
 * An admin revokes every API key of one user (a pepper rotation, recorded as the admin), confirmed
 * first with how many running instances will be re-keyed live.
 */
export function RevokeUserKeys({ owner, runningInstances }: { owner: { id: string; email: string }; runningInstances: number }) {
  const [open, setOpen] = useState(false);
  const revoke = useRevokeUserKeys(owner.id, {
    onSuccess: (result) =>
      toast.success(`Revoked every API key of ${owner.email}`, {
        description:
          result.runningInstanceCount > 0 ? `Re-keying ${instancesPhrase(result.runningInstanceCount)} now, without a restart.` : "No instance is running, so nothing needs re-keying.",
      }),
    onError: (error) => toast.error(`Could not revoke the keys of ${owner.email}`, { description: error.message }),
  });

  return (
    <ConfirmDialog
      open={open}
      onOpenChange={(next) => setOpen(next && !revoke.isPending)}
      trigger={
        <Button variant="danger-outline" size="sm" aria-disabled={revoke.isPending ? true : undefined}>
          {revoke.isPending ? <Loader2 aria-hidden className="animate-spin" /> : <ShieldOff aria-hidden />}
          Revoke all keys of this user
        </Button>
      }
      title={`Revoke every API key of ${owner.email}?`}
      description={
        <>
          <p>Every key of this user stops working at once, on all of their instances.</p>
          <p>
            {runningInstances > 0 ? (
              <>
                <strong>{instancesPhrase(runningInstances)}</strong> will be re-keyed live, without a restart, within seconds.
              </>
            ) : (
              "None of their instances is running, so none needs re-keying now."
            )}{" "}
            Stopped instances get a fresh key when they next start. The audit log records you as the admin who did it.
          </p>
        </>
      }
      confirmLabel="Revoke all keys"
      confirmVariant="danger"
      onConfirm={() => revoke.mutate()}
    />
  );
}
