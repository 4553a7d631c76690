"use client";

import { ChevronRight } from "lucide-react";
import Link from "next/link";
import { KeyHealthBadge, StatusBadge } from "./badges";
import { instanceLinkId } from "./create-instance-dialog";
import { InstanceControls } from "./instance-controls";
import { KeyNotices } from "./key-notices";
import { OperationProgress } from "./operation-progress";
import { RelativeAndExactTime, RelativeTime, useNow } from "@/components/shared/time";
import type { InstanceDto } from "@/lib/instances/dto";

/** One instance on the dashboard: what it is doing, how its key is, and what to do next. */
export function InstanceCard({ instance, operationsDisabled }: { instance: InstanceDto; operationsDisabled: string | null }) {
  const headingId = `instance-${instance.id}-name`;
  const { config } = instance;
  const expiresAt = config.activeKeyExpiresAt;
  return (
    <article aria-labelledby={headingId} className="rounded-lg border border-slate-200 bg-white shadow-sm" data-instance-id={instance.id}>
      <div className="flex flex-col gap-3 px-4 pt-4 sm:flex-row sm:items-start sm:justify-between sm:px-5">
        <div className="min-w-0 space-y-1">
          <div className="flex flex-wrap items-center gap-2">
            <h2 id={headingId} className="truncate text-base font-semibold">
              <Link id={instanceLinkId(instance.id)} href={`/instances/${instance.id}`} className="rounded-sm hover:text-brand-700 hover:underline focus-visible:outline-2 focus-visible:outline-brand-600">
                {instance.name}
              </Link>
            </h2>
            <StatusBadge status={instance.status} />
          </div>
          <p className="text-xs text-slate-500">
            {instance.region} · created <RelativeTime date={instance.createdAt} past />
          </p>
        </div>
        <InstanceControls instance={instance} operationsDisabled={operationsDisabled} />
      </div>

      <dl className="grid gap-x-6 gap-y-3 px-4 py-4 text-sm sm:grid-cols-[minmax(0,3fr)_minmax(0,2fr)] sm:px-5">
        <div className="space-y-1">
          <dt className="text-xs font-medium tracking-wide text-slate-500 uppercase">API key</dt>
          <dd className="flex flex-wrap items-center gap-x-2 gap-y-1">
            <KeyHealthBadge config={config} />
            {config.rekey === "pending" || config.rekey === "in_progress" ? (
              <span className="text-slate-700" data-testid="key-expiry">
                revoked{config.keyRevokedAt ? <> <RelativeTime date={config.keyRevokedAt} past /></> : null} · fresh key on its way
              </span>
            ) : config.keyHealth === "revoked" ? (
              <span className="text-red-800" data-testid="key-expiry">
                revoked{config.keyRevokedAt ? <> <RelativeTime date={config.keyRevokedAt} past /></> : null} · no longer authenticates
              </span>
            ) : expiresAt ? (
              <KeyExpiry date={expiresAt} />
            ) : (
              <span className="text-slate-500">Minted when the instance first starts</span>
            )}
          </dd>
        </div>
        <div className="space-y-1">
          <dt className="text-xs font-medium tracking-wide text-slate-500 uppercase">Last deployed</dt>
          <dd data-testid="last-deployed">
            {config.deployedAt ? <RelativeTime date={config.deployedAt} className="text-slate-900" past /> : <span className="text-slate-500">Never</span>}
          </dd>
        </div>
      </dl>

      <div className="space-y-2 px-4 pb-4 empty:hidden sm:px-5">
        <OperationProgress instance={instance} />
        <KeyNotices instance={instance} operationsDisabled={operationsDisabled} />
      </div>

      <div className="border-t border-slate-100 px-4 py-2 sm:px-5">
        <Link
          href={`/instances/${instance.id}`}
          className="inline-flex items-center gap-1 rounded-sm text-sm font-medium text-brand-700 hover:underline focus-visible:outline-2 focus-visible:outline-brand-600"
        >
          Key details and activity<span className="sr-only"> for {instance.name}</span>
          <ChevronRight aria-hidden className="size-4" />
        </Link>
      </div>
    </article>
  );
}

function KeyExpiry({ date }: { date: string }) {
  const now = useNow();
  return (
    <span data-testid="key-expiry">
      <span className="text-slate-600">{Date.parse(date) <= now ? "expired" : "expires"} </span>
      <RelativeAndExactTime date={date} />
    </span>
  );
}
