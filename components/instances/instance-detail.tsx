"use client";

import { ArrowLeft } from "lucide-react";
import Link from "next/link";
import { Callout } from "@/components/ui/callout";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { isNotFound } from "@/lib/client/transport";
import { useInstanceDetail } from "@/lib/hooks/use-instances";
import { KeyHealthBadge, StatusBadge } from "./badges";
import { EventList } from "./event-list";
import { InstanceControls } from "./instance-controls";
import { GatewayCard, KeyId, MachineCard, Row, When } from "./detail-parts";
import { KeyNotices } from "./key-notices";
import { OperationProgress } from "./operation-progress";
import { ClockProvider } from "@/components/shared/time";
import type { InstanceDetailData } from "@/lib/instances/read";
import type { InstanceDto } from "@/lib/instances/dto";

/** The instance page: status, key details, the gateway's own report, recent events, and the controls. */
export function InstanceDetail({ initialData }: { initialData: InstanceDetailData }) {
  const { data, error, isRefetchError } = useInstanceDetail(initialData.instance.id, initialData);
  const { instance, events, gateway, operationsDisabled } = data;
  const gone = isNotFound(error);

  return (
    <ClockProvider serverNow={data.generatedAt}>
      <div className="space-y-6">
        <Link
          href="/dashboard"
          className="inline-flex items-center gap-1 rounded-sm text-sm font-medium text-slate-600 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-brand-600"
        >
          <ArrowLeft aria-hidden className="size-4" /> All instances
        </Link>

        <div className="flex flex-col gap-4 sm:flex-row sm:items-start sm:justify-between">
          <div className="min-w-0 space-y-1.5">
            <h1 className="text-2xl font-semibold break-words">{instance.name}</h1>
            <div className="flex flex-wrap items-center gap-2">
              <StatusBadge status={instance.status} />
              <KeyHealthBadge config={instance.config} />
            </div>
          </div>
          {gone ? null : <InstanceControls instance={instance} operationsDisabled={operationsDisabled} />}
        </div>

        {gone ? (
          <Callout tone="danger" title="This instance no longer exists" role="alert">
            It was destroyed or is no longer yours. <Link href="/dashboard" className="underline">Back to your instances</Link>.
          </Callout>
        ) : null}
        {operationsDisabled ? (
          <Callout tone="warning" title="Instance operations are unavailable on this server">
            {operationsDisabled}
          </Callout>
        ) : null}
        {isRefetchError && !gone ? (
          <Callout tone="warning" title="Could not refresh" role="alert">
            {error?.message} Showing what we last knew; retrying.
          </Callout>
        ) : null}

        <div className="space-y-2 empty:hidden">
          <OperationProgress instance={instance} />
          <KeyNotices instance={instance} operationsDisabled={operationsDisabled} />
        </div>

        <div className="grid gap-6 lg:grid-cols-2 lg:items-start">
          <KeyCard instance={instance} />
          <div className="space-y-6">
            <GatewayCard instance={instance} gateway={gateway} />
            <MachineCard instance={instance} />
          </div>
        </div>

        <Card>
          <CardHeader>
            <h2 className="font-medium">Recent activity</h2>
          </CardHeader>
          <CardBody className="py-1">
            <EventList events={events} />
          </CardBody>
        </Card>
      </div>
    </ClockProvider>
  );
}

function KeyCard({ instance }: { instance: InstanceDto }) {
  const { config } = instance;
  const sameKey = config.keyId !== null && !config.deployedDiffersFromLatest;
  return (
    <Card>
      <CardHeader>
        <h2 className="font-medium">API key</h2>
        <p className="text-xs text-slate-500">Only the id, source and expiry: the key itself never leaves the server.</p>
      </CardHeader>
      <CardBody className="py-2">
        <dl className="divide-y divide-slate-100">
          <Row label="Health">
            <KeyHealthBadge config={config} />
          </Row>
          <Row label="Source" testId="key-source">
            {config.keySource === "fallback" ? (
              <span className="text-amber-800">Reused stored key (a fresh key could not be minted)</span>
            ) : config.keySource === "minted" ? (
              "Freshly minted"
            ) : (
              <span className="text-slate-500">—</span>
            )}
          </Row>
          <Row label={sameKey ? "Key" : "Latest key"} testId="latest-key-id">
            <KeyId id={config.keyId} />
            {sameKey ? <span className="ml-2 text-xs text-emerald-700">deployed on the machine</span> : null}
          </Row>
          <Row label="Minted" testId="key-minted-at">
            <When date={config.keyMintedAt} past />
          </Row>
          <Row label={sameKey ? "Expires" : "Latest key expires"} testId="key-expires-at">
            <When date={config.keyExpiresAt} />
          </Row>
          {config.keyRevokedAt ? (
            <Row label="Revoked" testId="key-revoked-at">
              <When date={config.keyRevokedAt} past />
            </Row>
          ) : null}
          {sameKey ? null : (
            <>
              <Row label="Deployed key" testId="deployed-key-id">
                <KeyId id={config.deployedKeyId} />
              </Row>
              <Row label="Deployed key expires" testId="deployed-key-expires-at">
                <When date={config.deployedKeyExpiresAt} />
              </Row>
            </>
          )}
          <Row label="Deployed" testId="deployed-at">
            <When date={config.deployedAt} past />
          </Row>
        </dl>
      </CardBody>
    </Card>
  );
}
