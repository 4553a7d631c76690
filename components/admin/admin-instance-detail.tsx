"use client";

import { RevokeUserKeys } from "./revoke-user-keys";
import { ArrowLeft, ShieldCheck } from "lucide-react";
import Link from "next/link";
import { KeyHealthBadge, StatusBadge } from "@/components/instances/badges";
import { OperationProgress } from "@/components/instances/operation-progress";
import { GatewayCard, KeyId, MachineCard, Row, When } from "@/components/instances/detail-parts";
import { ClockProvider, RelativeTime } from "@/components/shared/time";
import { Callout } from "@/components/ui/callout";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { fleetHref } from "@/lib/admin/fleet-url";
import { useAdminInstanceDetail } from "@/lib/hooks/use-admin";
import { isNotFound } from "@/lib/client/transport";
import { AdminInstanceControls } from "./admin-instance-controls";
import { AdminTimeline } from "./admin-timeline";
import { healthLook } from "./labels";
import type { AdminInstanceDetailData } from "@/lib/admin/read";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";

/** The admin instance page: owner, status, key metadata, the gateway's report, the whole timeline, and admin controls. */
export function AdminInstanceDetail({ initialData, backHref }: { initialData: AdminInstanceDetailData; backHref: string }) {
  const { data, error, isRefetchError } = useAdminInstanceDetail(initialData);
  const { instance, operationsDisabled } = data;
  const gone = isNotFound(error);
  const destroyed = instance.status === "destroyed";

  return (
    <ClockProvider serverNow={data.generatedAt}>
      <div className="space-y-6">
        <Link
          href={backHref}
          className="inline-flex items-center gap-1 rounded-sm text-sm font-medium text-slate-600 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-brand-600"
        >
          <ArrowLeft aria-hidden className="size-4" /> Fleet
        </Link>

        <div className="flex flex-col gap-4 sm:flex-row sm:items-start sm:justify-between">
          <div className="min-w-0 space-y-1.5">
            <h1 className="text-2xl font-semibold break-words">{instance.name}</h1>
            <div className="flex flex-wrap items-center gap-2">
              <StatusBadge status={instance.status} />
              <KeyHealthBadge config={instance.config} />
              <span className="text-sm break-all text-slate-600">
                owned by <span className="font-medium text-slate-900">{instance.owner.email}</span>
              </span>
            </div>
          </div>
          {gone || destroyed ? null : <AdminInstanceControls instance={instance} operationsDisabled={operationsDisabled} />}
        </div>

        {!destroyed && !gone ? (
          <p className="flex items-center gap-2 text-xs text-slate-500">
            <ShieldCheck aria-hidden className="size-4 shrink-0 text-slate-400" />
            You act as an administrator here: every start, stop and redeploy is recorded in this instance&apos;s activity under your name.
          </p>
        ) : null}
        {gone ? (
          <Callout tone="danger" title="This instance no longer exists" role="alert">
            <Link href="/admin" className="underline">
              Back to the fleet
            </Link>
            .
          </Callout>
        ) : null}
        {destroyed ? (
          <Callout tone="info" title="This instance was destroyed">
            Its record and activity are kept for auditing; there is nothing left to start or redeploy.
          </Callout>
        ) : null}
        {operationsDisabled && !destroyed ? (
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
          {instance.lastError ? (
            <Callout
              tone="danger"
              data-testid="last-error"
              title={
                <>
                  Last operation failed
                  {instance.lastError.at ? (
                    <span className="font-normal">
                      {" "}
                      · <RelativeTime date={instance.lastError.at} past />
                    </span>
                  ) : null}
                </>
              }
            >
              <p>{instance.lastError.message}</p>
              <p className="mt-0.5 font-mono text-xs opacity-75">{instance.lastError.code}</p>
            </Callout>
          ) : null}
        </div>

        <div className="grid gap-6 lg:grid-cols-2 lg:items-start">
          <div className="space-y-6">
            <KeyCard instance={instance} />
            <OwnerCard instance={instance} runningInstances={data.ownerRunningInstances} />
          </div>
          <div className="space-y-6">
            <GatewayCard instance={instance} gateway={data.gateway} />
            <MachineCard instance={instance} />
          </div>
        </div>

        <Card>
          <CardHeader>
            <h2 className="font-medium">Activity</h2>
            <p className="text-xs text-slate-500">Every operation and key event on this instance, newest first, with who did it.</p>
          </CardHeader>
          <CardBody className="py-1">
            <AdminTimeline instanceId={instance.id} owner={instance.owner} events={data.events} olderBefore={data.olderBefore} />
          </CardBody>
        </Card>
      </div>
    </ClockProvider>
  );
}

function KeyCard({ instance }: { instance: FleetInstanceDto }) {
  const { config } = instance;
  return (
    <Card>
      <CardHeader>
        <h2 className="font-medium">API key</h2>
        <p className="text-xs text-slate-500">Ids, source and expiries only: the key itself never leaves the server.</p>
      </CardHeader>
      <CardBody className="py-2">
        <dl className="divide-y divide-slate-100">
          <Row label="Health">
            <span className="flex flex-wrap items-center gap-2">
              <KeyHealthBadge config={config} />
              <span className="text-xs text-slate-500">{healthLook[config.keyHealth].explain}</span>
            </span>
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
        </dl>
        <h3 className="mt-3 text-xs font-medium tracking-wide text-slate-500 uppercase">Latest minted</h3>
        <dl className="divide-y divide-slate-100">
          <Row label="Key id" testId="latest-key-id">
            <KeyId id={config.keyId} />
          </Row>
          <Row label="Minted" testId="key-minted-at">
            <When date={config.keyMintedAt} past />
          </Row>
          <Row label="Expires" testId="key-expires-at">
            <When date={config.keyExpiresAt} />
          </Row>
          {config.keyRevokedAt ? (
            <Row label="Revoked" testId="key-revoked-at">
              <When date={config.keyRevokedAt} past />
            </Row>
          ) : null}
        </dl>
        <h3 className="mt-3 text-xs font-medium tracking-wide text-slate-500 uppercase">Deployed on the machine</h3>
        <dl className="divide-y divide-slate-100">
          <Row label="Key id" testId="deployed-key-id">
            <KeyId id={config.deployedKeyId} />
            {config.keyId && !config.deployedDiffersFromLatest ? <span className="ml-2 text-xs text-emerald-700">same as the latest</span> : null}
            {config.deployedDiffersFromLatest ? <span className="ml-2 text-xs text-violet-800">differs from the latest minted key</span> : null}
          </Row>
          <Row label="Expires" testId="deployed-key-expires-at">
            <When date={config.deployedKeyExpiresAt} />
          </Row>
          <Row label="Deployed" testId="deployed-at">
            <When date={config.deployedAt} past />
          </Row>
        </dl>
      </CardBody>
    </Card>
  );
}

function OwnerCard({ instance, runningInstances }: { instance: FleetInstanceDto; runningInstances: number }) {
  const { owner } = instance;
  return (
    <Card>
      <CardHeader>
        <h2 className="font-medium">Owner</h2>
      </CardHeader>
      <CardBody className="py-2">
        <dl className="divide-y divide-slate-100">
          <Row label="Email" testId="owner-email">
            {owner.email}
          </Row>
          <Row label="Name">{owner.name ?? <span className="text-slate-500">—</span>}</Row>
          <Row label="User id">
            <KeyId id={owner.id} />
          </Row>
        </dl>
        <Link
          href={fleetHref({ owner: owner.email, sort: "deployedKeyExpiresAt", order: "asc" })}
          className="mt-2 mb-2 inline-block rounded-sm text-sm font-medium text-brand-700 hover:underline focus-visible:outline-2 focus-visible:outline-brand-600"
        >
          All instances of this owner
        </Link>
        <div className="mb-2 border-t border-slate-100 pt-3">
          <RevokeUserKeys owner={owner} runningInstances={runningInstances} />
        </div>
      </CardBody>
    </Card>
  );
}

