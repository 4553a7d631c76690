"use client";

import { Loader2, Play, RotateCw, Square } from "lucide-react";
import { useState, type ReactNode } from "react";
import { toast } from "sonner";
import { ConfirmDialog } from "@/components/ui/alert-dialog";
import { Button, type ButtonProps } from "@/components/ui/button";
import type { ServerError } from "@/lib/client/transport";
import { useInstanceOperation, usePendingOperation, type OperationVariables } from "@/lib/hooks/use-instances";
import { canStart, canStop, isChanging, isGone } from "@/lib/instances/availability";
import { cn } from "@/lib/utils";
import { operationNoun } from "./operation-progress";
import { formatExact } from "@/components/shared/time";
import type { InstanceDto, InstanceOperation } from "@/lib/instances/dto";

function keyExpiry(instance: InstanceDto): string | null {
  const expiresAt = instance.config.activeKeyExpiresAt;
  return expiresAt ? formatExact(expiresAt) : null;
}

function successToast(instance: InstanceDto, operation: InstanceOperation) {
  const name = `“${instance.name}”`;
  const expiry = keyExpiry(instance);
  if (operation === "stop") {
    toast.success(`${name} stopped`, { description: "Start it again whenever you need it; it gets a fresh key when it starts." });
    return;
  }
  if (instance.config.keySource === "fallback") {
    toast.warning(`${name} is running on its previous key`, {
      description: `A fresh key could not be minted, so it reuses its stored key${expiry ? `, valid until ${expiry}` : ""}. Redeploy once minting works again.`,
    });
    return;
  }
  const title = operation === "start" ? `${name} is running` : `${name} redeployed with a fresh key`;
  const keyId = instance.config.deployedKeyId ?? instance.config.keyId;
  toast.success(title, {
    description: `Its gateway confirmed the new key${keyId ? ` (${keyId})` : ""} works${expiry ? `; it is valid until ${expiry}` : ""}.`,
  });
}

function errorToast(error: ServerError, { instance, operation }: OperationVariables) {
  toast.error(`${operationNoun(operation)} of “${instance.name}” failed`, { description: error.message, duration: 12_000 });
}

/** Start / Stop / Redeploy that announce how they ended, in the server's own words on failure. */
export function useOperationWithToasts() {
  return useInstanceOperation({
    onSuccess: (result, variables) => successToast(result.instance, variables.operation),
    onError: errorToast,
  });
}

/** Why the instance's controls are unavailable right now, or undefined when they are usable. */
export function useBusyReason(instance: InstanceDto, operationsDisabled: string | null): string | undefined {
  const pending = usePendingOperation(instance.id);
  if (operationsDisabled) return operationsDisabled;
  if (pending) return `Waiting for the ${operationNoun(pending).toLowerCase()} to finish.`;
  if (instance.operation) return `A ${operationNoun(instance.operation.name).toLowerCase()} is running on this instance.`;
  if (isChanging(instance)) return "The machine is changing state.";
  return undefined;
}

/**
 * A button whose action is confirmed first. When `busyReason` is set the button stays focusable
 * (aria-disabled, so focus coming back from the dialog has somewhere to land) but does nothing.
 */
function ConfirmedButton({
  busyReason,
  buttonLabel,
  buttonProps,
  title,
  description,
  confirmLabel,
  confirmVariant,
  onConfirm,
}: {
  busyReason: string | undefined;
  buttonLabel: ReactNode;
  buttonProps: ButtonProps;
  title: string;
  description: ReactNode;
  confirmLabel: string;
  confirmVariant: ButtonProps["variant"];
  onConfirm: () => void;
}) {
  const [open, setOpen] = useState(false);
  return (
    <ConfirmDialog
      open={open}
      onOpenChange={(next) => setOpen(next && !busyReason)}
      trigger={
        <Button {...buttonProps} aria-disabled={busyReason ? true : undefined} title={busyReason}>
          {buttonLabel}
        </Button>
      }
      title={title}
      description={description}
      confirmLabel={confirmLabel}
      confirmVariant={confirmVariant}
      onConfirm={onConfirm}
    />
  );
}

function OperationIcon({ operation, pending, icon }: { operation: InstanceOperation; pending: InstanceOperation | undefined; icon: ReactNode }) {
  return pending === operation ? <Loader2 aria-hidden className="animate-spin" /> : icon;
}

export function RedeployButton({
  instance,
  operationsDisabled,
  label = "Redeploy",
  variant,
  size = "sm",
}: {
  instance: InstanceDto;
  operationsDisabled: string | null;
  label?: string;
  variant?: ButtonProps["variant"];
  size?: ButtonProps["size"];
}) {
  const busyReason = useBusyReason(instance, operationsDisabled);
  const pending = usePendingOperation(instance.id);
  const operation = useOperationWithToasts();
  return (
    <ConfirmedButton
      busyReason={busyReason}
      buttonProps={{ variant: variant ?? "secondary", size }}
      buttonLabel={
        <>
          <OperationIcon operation="redeploy" pending={pending} icon={<RotateCw aria-hidden />} />
          {label}
          <span className="sr-only"> {instance.name}</span>
        </>
      }
      title={`Redeploy “${instance.name}”?`}
      description={
        <>
          <p>
            Fleetdeck mints a fresh 30-day API key and restarts the instance&apos;s machine with it, then waits until the
            gateway confirms the new key works. The gateway is unavailable for a few seconds while it restarts.
          </p>
          <p>If no usable key can be minted, nothing is changed and the instance keeps running as it is.</p>
        </>
      }
      confirmLabel="Redeploy"
      confirmVariant="primary"
      onConfirm={() => operation.mutate({ instance, operation: "redeploy" })}
    />
  );
}

/** The instance's lifecycle buttons: Start or Stop, and Redeploy, with the one in flight spinning. */
export function InstanceControls({
  instance,
  operationsDisabled,
  className,
}: {
  instance: InstanceDto;
  operationsDisabled: string | null;
  className?: string;
}) {
  const busyReason = useBusyReason(instance, operationsDisabled);
  const pending = usePendingOperation(instance.id);
  const operation = useOperationWithToasts();
  if (isGone(instance.status)) return null;
  return (
    <div className={cn("flex flex-wrap items-center gap-2", className)} role="group" aria-label={`Controls for ${instance.name}`}>
      {canStart(instance.status) ? (
        <Button
          size="sm"
          aria-disabled={busyReason ? true : undefined}
          title={busyReason}
          onClick={() => !busyReason && operation.mutate({ instance, operation: "start" })}
        >
          <OperationIcon operation="start" pending={pending} icon={<Play aria-hidden />} />
          Start<span className="sr-only"> {instance.name}</span>
        </Button>
      ) : null}
      {canStop(instance.status) ? (
        <ConfirmedButton
          busyReason={busyReason}
          buttonProps={{ variant: "secondary", size: "sm" }}
          buttonLabel={
            <>
              <OperationIcon operation="stop" pending={pending} icon={<Square aria-hidden />} />
              Stop<span className="sr-only"> {instance.name}</span>
            </>
          }
          title={`Stop “${instance.name}”?`}
          description={
            <>
              <p>The machine shuts down and the gateway stops serving until you start it again.</p>
              <p>Starting it later mints a fresh key, so nothing about its key is lost.</p>
            </>
          }
          confirmLabel="Stop instance"
          confirmVariant="danger"
          onConfirm={() => operation.mutate({ instance, operation: "stop" })}
        />
      ) : null}
      {instance.status !== "provisioned" ? <RedeployButton instance={instance} operationsDisabled={operationsDisabled} /> : null}
    </div>
  );
}
