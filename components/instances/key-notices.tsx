"use client";

import { Callout } from "@/components/ui/callout";
import { RedeployButton, useBusyReason } from "./instance-controls";
import { RelativeTime, useFormatExact } from "@/components/shared/time";
import type { InstanceDto } from "@/lib/instances/dto";

/**
 * What needs the user's attention about the instance's key and last operation, most urgent first,
 * each with what to do about it. Nothing when all is well.
 */
export function KeyNotices({ instance, operationsDisabled }: { instance: InstanceDto; operationsDisabled: string | null }) {
  const busy = useBusyReason(instance, null) !== undefined;
  const exact = useFormatExact();
  const { config, lastError } = instance;
  const deployed = instance.status !== "provisioned";
  const redeploy = (label: string) =>
    deployed ? <RedeployButton instance={instance} operationsDisabled={operationsDisabled} label={label} variant="primary" /> : undefined;

  return (
    <>
      {config.rekey === "pending" || config.rekey === "in_progress" ? (
        <Callout tone="info" title="Re-keying — a fresh key is on its way" role="status" data-testid="rekey-notice">
          This instance&apos;s API key was revoked{config.keyRevokedAt ? <> <RelativeTime date={config.keyRevokedAt} past /></> : null}. Fleetdeck is
          giving it a fresh key while it keeps running; no restart is needed.
        </Callout>
      ) : null}
      {config.rekey === "failed" && !busy ? (
        <Callout tone="danger" title="Re-keying failed — redeploy to get a fresh key" action={redeploy("Redeploy now")} data-testid="revoked-notice">
          This instance&apos;s API key was revoked and giving it a fresh key live did not work
          {lastError ? <> ({lastError.message.replace(/\.$/, "")})</> : null}. Fleetdeck retries on its own; redeploy to fix it now.
        </Callout>
      ) : null}
      {config.keyHealth === "revoked" && config.rekey === null && !busy ? (
        <Callout
          tone="danger"
          title={instance.status === "running" ? "Key revoked — redeploy to get a fresh key" : "Key revoked"}
          action={instance.status === "running" ? redeploy("Redeploy now") : undefined}
          data-testid="revoked-notice"
        >
          This instance&apos;s API key was revoked{config.keyRevokedAt ? <> <RelativeTime date={config.keyRevokedAt} past /></> : null}, so it can no
          longer authenticate.{" "}
          {instance.status === "running" ? "Redeploy to get a fresh key." : deployed ? "It gets a fresh key when it next starts." : null}
        </Callout>
      ) : null}
      {config.keyHealth === "expired" && !busy ? (
        <Callout tone="danger" title="Key expired — redeploy to get a fresh key" action={redeploy("Redeploy now")}>
          The key in use has expired, so the instance cannot authenticate until it gets a new one.
        </Callout>
      ) : null}
      {config.keyHealth === "critical" && !busy ? (
        <Callout tone="warning" title="Key expires soon" action={redeploy("Redeploy now")}>
          The key in use expires{" "}
          <RelativeTime date={config.activeKeyExpiresAt!} />. Fleetdeck renews keys ahead of time; redeploy now
          if you would rather not wait.
        </Callout>
      ) : null}
      {lastError ? (
        <Callout
          tone="danger"
          title={
            <>
              Last operation failed
              {lastError.at ? (
                <span className="font-normal">
                  {" "}
                  · <RelativeTime date={lastError.at} past />
                </span>
              ) : null}
            </>
          }
          data-testid="last-error"
        >
          <p>{lastError.message}</p>
          <p className="mt-0.5 font-mono text-xs opacity-75">{lastError.code}</p>
        </Callout>
      ) : null}
      {config.keySource === "fallback" && config.keyHealth !== "revoked" ? (
        <Callout tone="warning" title="Running on a reused key" data-testid="fallback-notice">
          The last start or redeploy could not mint a fresh key, so this instance reuses its stored key
          {config.keyExpiresAt ? <>, valid until {exact(config.keyExpiresAt)}</> : null}. Redeploy once minting works again.
        </Callout>
      ) : null}
      {config.deployedDiffersFromLatest && !busy && !["revoked", "expired"].includes(config.keyHealth) ? (
        <Callout tone="warning" title="Newest key not deployed" action={redeploy("Redeploy")} data-testid="undeployed-notice">
          Key <code className="font-mono text-xs">{config.keyId}</code> was minted but the machine{" "}
          {config.deployedKeyId ? (
            <>
              still runs key <code className="font-mono text-xs">{config.deployedKeyId}</code>
              {config.deployedKeyExpiresAt ? <>, valid until {exact(config.deployedKeyExpiresAt)}</> : null}
            </>
          ) : (
            "has not confirmed any key yet"
          )}
          . Redeploy to put the new key in place.
        </Callout>
      ) : null}
    </>
  );
}
