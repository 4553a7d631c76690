"use client";

import { CircleAlert, CircleCheck, CircleHelp, CircleX, Loader2 } from "lucide-react";
import type { ReactNode } from "react";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { statusLabel } from "./badges";
import { RelativeAndExactTime, RelativeTime } from "@/components/shared/time";
import type { GatewayReport } from "@/lib/instances/read";
import type { InstanceDto } from "@/lib/instances/dto";

// Pieces of the instance page that the admin instance page shows the same way.

export function Row({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="grid gap-0.5 py-2 sm:grid-cols-[11rem_minmax(0,1fr)] sm:gap-3">
      <dt className="text-sm text-slate-500">{label}</dt>
      <dd className="text-sm break-words text-slate-900 [overflow-wrap:anywhere]" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

export function KeyId({ id }: { id: string | null }) {
  return id ? <code className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs">{id}</code> : <span className="text-slate-500">None</span>;
}

export function When({ date, past }: { date: string | null; past?: boolean }) {
  return date ? <RelativeAndExactTime date={date} past={past} /> : <span className="text-slate-500">—</span>;
}

const gatewayLook: Record<GatewayReport["state"], { icon: ReactNode; tone: string }> = {
  valid: { icon: <CircleCheck aria-hidden className="size-5 text-emerald-600" />, tone: "text-emerald-800" },
  checking: { icon: <Loader2 aria-hidden className="size-5 animate-spin text-brand-600" />, tone: "text-brand-700" },
  expired: { icon: <CircleX aria-hidden className="size-5 text-red-600" />, tone: "text-red-800" },
  revoked: { icon: <CircleX aria-hidden className="size-5 text-red-600" />, tone: "text-red-800" },
  invalid: { icon: <CircleX aria-hidden className="size-5 text-red-600" />, tone: "text-red-800" },
  unreachable: { icon: <CircleAlert aria-hidden className="size-5 text-amber-600" />, tone: "text-amber-800" },
};

export function GatewayCard({ instance, gateway }: { instance: InstanceDto; gateway: GatewayReport | null }) {
  const deployedKeyId = instance.config.deployedKeyId;
  return (
    <Card>
      <CardHeader>
        <h2 className="font-medium">Gateway</h2>
        <p className="text-xs text-slate-500">What the instance itself reports about its key (it re-checks it every minute).</p>
      </CardHeader>
      <CardBody>
        {gateway ? (
          <div className="space-y-2">
            <p className="flex items-center gap-2 text-sm" data-testid="gateway-report">
              {gatewayLook[gateway.state].icon}
              <span>
                Gateway reports: <strong className={gatewayLook[gateway.state].tone}>{gateway.state}</strong>
              </span>
            </p>
            <dl className="divide-y divide-slate-100">
              <Row label="Key it runs" testId="gateway-key-id">
                <KeyId id={gateway.keyId} />
                {gateway.keyId && deployedKeyId ? (
                  gateway.keyId === deployedKeyId ? (
                    <span className="ml-2 text-xs text-emerald-700">matches the deployed key</span>
                  ) : (
                    <span className="ml-2 text-xs text-amber-700">differs from the deployed key</span>
                  )
                ) : null}
              </Row>
              {gateway.expiresAt ? (
                <Row label="Expiry it sees">
                  <When date={gateway.expiresAt} />
                </Row>
              ) : null}
              {gateway.checkedAt ? (
                <Row label="Last checked">
                  <RelativeTime date={gateway.checkedAt} past />
                </Row>
              ) : null}
              {gateway.message ? <Row label="Detail">{gateway.message}</Row> : null}
            </dl>
          </div>
        ) : (
          <p className="flex items-center gap-2 text-sm text-slate-600" data-testid="gateway-report">
            <CircleHelp aria-hidden className="size-5 text-slate-400" />
            {instance.status === "running" ? "No answer from the gateway yet." : `Not running (${statusLabel(instance.status).toLowerCase()}), so there is no gateway to ask.`}
          </p>
        )}
      </CardBody>
    </Card>
  );
}

export function MachineCard({ instance }: { instance: InstanceDto }) {
  return (
    <Card>
      <CardHeader>
        <h2 className="font-medium">Machine</h2>
      </CardHeader>
      <CardBody className="py-2">
        <dl className="divide-y divide-slate-100">
          <Row label="Status">{statusLabel(instance.status)}</Row>
          <Row label="Machine">
            <KeyId id={instance.machineId} />
          </Row>
          <Row label="Region">{instance.region}</Row>
          <Row label="Provider">{instance.provider === "fly" ? "Fly.io Machines" : "Local process"}</Row>
          <Row label="Image tag">{instance.imageTag}</Row>
          <Row label="Created">
            <RelativeTime date={instance.createdAt} past />
          </Row>
          <Row label="Last activity">
            <RelativeTime date={instance.lastActivityAt} past />
          </Row>
        </dl>
      </CardBody>
    </Card>
  );
}
