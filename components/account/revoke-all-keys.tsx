"use client";

import { ArrowRight, Loader2, ShieldOff } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import type { RevokeAllKeysResult } from "@/lib/actions/account";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { plural } from "@/components/shared/format";
import { useRevokeAllKeys } from "@/lib/hooks/use-account";
import { useRekeyProgress } from "@/lib/hooks/use-instances";

/** "Revoke all API keys" (a pepper rotation), confirmed first, saying what it does to running instances. */
export function RevokeAllKeys({ instancesWithKeys }: { instancesWithKeys: number }) {
  const [open, setOpen] = useState(false);
  const revoke = useRevokeAllKeys({
    onSuccess: (result) =>
      toast.success(`Revoked ${plural(result.revokedKeyCount, "API key", "API keys")}`, {
        description:
          result.runningInstanceCount > 0
            ? `Giving ${plural(result.runningInstanceCount, "running instance", "running instances")} a fresh key now, without a restart.`
            : "Stopped instances get a fresh key when they next start.",
      }),
    onError: (error) => toast.error("Could not revoke your API keys", { description: error.message }),
  });

  return (
    <div className="space-y-4">
      <p className="text-sm text-slate-600">
        Each of your instances holds its own 30-day API key, signed for your account. If you think a key has leaked, revoke
        them all at once: every key minted so far stops working immediately.
      </p>
      {revoke.isSuccess ? <RevocationOutcome result={revoke.data} /> : null}
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
              Running instances keep running and get a fresh key within seconds, without a restart. Stopped instances get one
              when they next start. This cannot be undone.
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

/** After the revocation: the live re-key of the running instances, then how it ended. */
function RevocationOutcome({ result }: { result: RevokeAllKeysResult }) {
  const total = result.runningInstanceCount;
  const progress = useRekeyProgress(total > 0);
  const goToInstances = (
    <Button asChild size="sm" variant="secondary">
      <Link href="/dashboard">
        Go to your instances <ArrowRight aria-hidden />
      </Link>
    </Button>
  );
  if (total === 0) {
    return (
      <Callout tone="success" title="All your API keys are revoked" role="status" data-testid="rekey-progress">
        {result.revokedKeyCount > 0
          ? "None of your instances is running; each gets a fresh key when it next starts."
          : "No instance held a key, so nothing else needs doing."}
      </Callout>
    );
  }
  const remaining = progress.data?.remaining ?? total;
  const failed = progress.data?.failed ?? 0;
  const done = Math.max(0, total - remaining - failed);
  if (remaining > 0) {
    return (
      <Callout tone="info" title="All your API keys are revoked" role="status" data-testid="rekey-progress">
        <span className="inline-flex items-center gap-2">
          <Loader2 aria-hidden className="size-4 animate-spin" />
          Re-keying {plural(total, "running instance", "running instances")}… {done} done
        </span>
      </Callout>
    );
  }
  if (failed > 0) {
    return (
      <Callout tone="danger" title="Some instances could not be re-keyed" role="status" action={goToInstances} data-testid="rekey-progress">
        {done} of {plural(total, "running instance", "running instances")} got a fresh key; {failed} could not. Each says why on your
        dashboard, where Redeploy gives it a fresh key now.
      </Callout>
    );
  }
  return (
    <Callout tone="success" title="All your API keys are revoked" role="status" action={goToInstances} data-testid="rekey-progress">
      Every running instance has a fresh key ({plural(total, "instance", "instances")} re-keyed, no restart needed).
    </Callout>
  );
}
