"use client";

import { KeyRound, RefreshCw, Server } from "lucide-react";
import { useState } from "react";
import { Callout } from "@/components/ui/callout";
import { Card, CardBody } from "@/components/ui/card";
import { useInstanceList } from "@/lib/hooks/use-instances";
import { CreateInstanceButton, CreateInstanceDialog } from "./create-instance-dialog";
import { InstanceCard } from "./instance-card";
import { ClockProvider } from "@/components/shared/time";
import type { InstanceListData } from "@/lib/instances/read";
import type { RegionOption } from "@/lib/machines/regions";

/** The dashboard: the user's instances, live. The server renders the first view; this keeps it current. */
export function InstanceDashboard({
  initialData,
  regions,
  signedInAs,
}: {
  initialData: InstanceListData;
  regions: RegionOption[];
  signedInAs: string;
}) {
  const { data, error, isRefetchError } = useInstanceList(initialData);
  const [createOpen, setCreateOpen] = useState(false);
  const [opener, setOpener] = useState<HTMLElement | null>(null);
  const openCreate = (element: HTMLElement) => {
    setOpener(element);
    setCreateOpen(true);
  };
  const { instances, operationsDisabled } = data;
  // Instances being re-keyed live need nothing from the user; only the others are worth a banner.
  const revokedCount = instances.filter((instance) => instance.config.keyHealth === "revoked" && instance.config.rekey !== "pending" && instance.config.rekey !== "in_progress").length;

  return (
    <ClockProvider serverNow={data.generatedAt}>
      <div className="space-y-6">
        <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
          <div>
            <h1 className="text-2xl font-semibold">Your instances</h1>
            <p className="text-sm text-slate-600">Signed in as {signedInAs}.</p>
          </div>
          {instances.length > 0 ? <CreateInstanceButton onOpen={openCreate} disabledReason={operationsDisabled} /> : null}
        </div>

        {operationsDisabled ? (
          <Callout tone="warning" title="Instance operations are unavailable on this server">
            {operationsDisabled}
          </Callout>
        ) : null}
        {isRefetchError ? (
          <Callout tone="warning" title="Could not refresh" role="alert">
            <span className="inline-flex items-center gap-1">
              <RefreshCw aria-hidden className="size-3.5" /> {error?.message} Showing what we last knew; retrying.
            </span>
          </Callout>
        ) : null}
        {revokedCount > 1 ? (
          <Callout tone="danger" title={`${revokedCount} instances have revoked keys`}>
            Their API keys were revoked, so they cannot authenticate until they get a fresh one: running instances are re-keyed
            automatically (redeploy any whose re-key failed), stopped ones get a fresh key when they next start.
          </Callout>
        ) : null}

        {instances.length === 0 ? (
          <Card>
            <CardBody className="flex flex-col items-center gap-3 py-12 text-center">
              <Server aria-hidden className="size-10 text-slate-400" />
              <h2 className="text-lg font-medium">No instances yet</h2>
              <p className="max-w-md text-sm text-slate-600">
                An instance is a hosted agent gateway running on its own machine with its own API key. Fleetdeck mints a fresh
                30-day key every time it starts, and renews the key before it runs out.
              </p>
              <p className="flex max-w-md items-center gap-1.5 text-xs text-slate-500">
                <KeyRound aria-hidden className="size-3.5" /> The key never leaves the server: you see its id, health and expiry.
              </p>
              <div className="mt-2">
                <CreateInstanceButton onOpen={openCreate} disabledReason={operationsDisabled} />
              </div>
            </CardBody>
          </Card>
        ) : (
          <ul className="space-y-4" aria-label="Instances">
            {instances.map((instance) => (
              <li key={instance.id}>
                <InstanceCard instance={instance} operationsDisabled={operationsDisabled} />
              </li>
            ))}
          </ul>
        )}
      </div>
      <CreateInstanceDialog open={createOpen} onOpenChange={setCreateOpen} regions={regions} opener={opener} />
    </ClockProvider>
  );
}
