"use client";

import { Loader2, Play, RotateCw, Square } from "lucide-react";
import { useState, type ReactNode } from "react";
import { toast } from "sonner";
import { operationNoun } from "@/components/instances/operation-progress";
import { formatExact } from "@/components/shared/time";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Button, type ButtonProps } from "@/components/ui/button";
import { useAdminOperation, type AdminOperationSuccess, type AdminOperationVariables } from "@/lib/hooks/use-admin";
import { useBusyReason } from "@/components/instances/instance-controls";
import type { ServerError } from "@/lib/client/transport";
import { usePendingOperation } from "@/lib/hooks/use-instances";
import { canStart, canStop, isGone } from "@/lib/instances/availability";
import type { InstanceOperation } from "@/lib/instances/dto";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";

function successToast({ instance }: AdminOperationSuccess, { operation }: AdminOperationVariables) {
  const name = `“${instance.name}”`;
  const expiresAt = instance.config.activeKeyExpiresAt;
  const until = expiresAt ? `, valid until ${formatExact(expiresAt)}` : "";
  if (operation === "stop") return toast.success(`${name} stopped`, { description: `Owner: ${instance.owner.email}. Recorded as you in its activity.` });
  if (instance.config.keySource === "fallback") {
    return toast.warning(`${name} is running on its previous key`, { description: `A fresh key could not be minted, so it reuses its stored key${until}.` });
  }
  toast.success(operation === "start" ? `${name} is running` : `${name} redeployed with a fresh key`, {
    description: `Its gateway confirmed the new key${instance.config.keyId ? ` (${instance.config.keyId})` : ""}${until}. Recorded as you in its activity.`,
  });
}

function errorToast(error: ServerError, { instance, operation }: AdminOperationVariables) {
  toast.error(`${operationNoun(operation)} of “${instance.name}” failed`, { description: error.message, duration: 12_000 });
}

const confirmations: Record<InstanceOperation, { title: (name: string) => string; body: (owner: string) => ReactNode; confirm: string; variant: ButtonProps["variant"] }> = {
  start: {
    title: (name) => `Start “${name}” as an administrator?`,
    body: (owner) => (
      <>
        <p>Fleetdeck mints a fresh 30-day API key and starts the machine with it, then waits until the gateway confirms the key works.</p>
        <p>
          The instance belongs to <strong>{owner}</strong>; its activity will show that you started it.
        </p>
      </>
    ),
    confirm: "Start instance",
    variant: "primary",
  },
  stop: {
    title: (name) => `Stop “${name}” as an administrator?`,
    body: (owner) => (
      <>
        <p>The machine shuts down and the gateway stops serving until someone starts it again.</p>
        <p>
          The instance belongs to <strong>{owner}</strong>; its activity will show that you stopped it.
        </p>
      </>
    ),
    confirm: "Stop instance",
    variant: "danger",
  },
  redeploy: {
    title: (name) => `Redeploy “${name}” as an administrator?`,
    body: (owner) => (
      <>
        <p>
          Fleetdeck mints a fresh 30-day API key and restarts the machine with it, then waits until the gateway confirms the new key
          works. The gateway is unavailable for a few seconds.
        </p>
        <p>If no usable key can be minted, nothing is changed.</p>
        <p>
          The instance belongs to <strong>{owner}</strong>; its activity will show that you redeployed it.
        </p>
      </>
    ),
    confirm: "Redeploy",
    variant: "primary",
  },
};

const icons: Record<InstanceOperation, ReactNode> = { start: <Play aria-hidden />, stop: <Square aria-hidden />, redeploy: <RotateCw aria-hidden /> };
const labels: Record<InstanceOperation, string> = { start: "Start", stop: "Stop", redeploy: "Redeploy" };

/**
 * Start / Stop / Redeploy of any user's instance, acting as the admin, each confirmed first. While
 * one runs (here or anywhere) the buttons stay focusable but do nothing, and say why.
 */
export function AdminInstanceControls({ instance, operationsDisabled }: { instance: FleetInstanceDto; operationsDisabled: string | null }) {
  const pending = usePendingOperation(instance.id);
  const busyReason = useBusyReason(instance, operationsDisabled);
  const operation = useAdminOperation({ onSuccess: successToast, onError: errorToast });
  const [open, setOpen] = useState<InstanceOperation | null>(null);
  if (isGone(instance.status)) return null;

  const available: InstanceOperation[] = [
    ...(canStart(instance.status) ? (["start"] as const) : []),
    ...(canStop(instance.status) ? (["stop"] as const) : []),
    "redeploy",
  ];
  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label={`Administrator controls for ${instance.name}`}>
      {available.map((name) => {
        const look = confirmations[name];
        return (
          <ConfirmDialog
            key={name}
            open={open === name}
            onOpenChange={(next) => setOpen(next && !busyReason ? name : null)}
            trigger={
              <Button size="sm" variant={name === "redeploy" || name === "start" ? "primary" : "secondary"} aria-disabled={busyReason ? true : undefined} title={busyReason}>
                {pending === name ? <Loader2 aria-hidden className="animate-spin" /> : icons[name]}
                {labels[name]}
                <span className="sr-only"> {instance.name}</span>
              </Button>
            }
            title={look.title(instance.name)}
            description={look.body(instance.owner.email)}
            confirmLabel={look.confirm}
            confirmVariant={look.variant}
            onConfirm={() => operation.mutate({ instance, operation: name })}
          />
        );
      })}
    </div>
  );
}
