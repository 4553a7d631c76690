import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { Progress } from "@/components/ui/progress";
import { formatCount } from "@/components/shared/format";
import type { FleetOverview } from "@/lib/admin/overview";

/**
 * A NEXTAUTH_SECRET rotation as operators follow it: how many running instances run a key under
 * the current, a previous (still verifying) and a retired secret, until every one is re-keyed and
 * the previous secret can be dropped. Shown while a rotation is in progress or some running
 * instance is off the current secret; nothing otherwise.
 */
export function SigningRotation({ overview }: { overview: FleetOverview }) {
  const { current, previous, retired, unrecorded } = overview.runningBySigner;
  const running = current + previous + retired + unrecorded;
  const behind = previous + retired + unrecorded;
  if (overview.previousSigningSecrets === 0 && behind === 0) return null;
  return (
    <Card data-testid="signing-rotation">
      <CardHeader className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 id="signing-rotation-heading" className="font-medium">
          Signing secret rotation
        </h3>
        <p className="text-sm text-slate-600">
          {behind === 0 ? (
            <>Every running instance is on the current secret.</>
          ) : (
            <>
              <span className="font-semibold text-slate-900 tabular-nums">{formatCount(current)}</span> of {formatCount(running)} running
              instances on the current secret
            </>
          )}
        </p>
      </CardHeader>
      <CardBody className="space-y-3">
        <Progress value={current} max={Math.max(running, 1)} aria-labelledby="signing-rotation-heading" />
        <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
          <Count label="Current secret" value={current} />
          <Count label="Previous secret" value={previous} hint="valid; being re-keyed" />
          <Count label="Retired secret" value={retired} hint="no longer verifies" />
          <Count label="Not recorded" value={unrecorded} hint="deployed before keys named their secret" />
        </dl>
        <p className="text-xs text-slate-600">
          {behind === 0
            ? overview.previousSigningSecrets > 0
              ? "The rotation is complete: NEXTAUTH_SECRET_PREVIOUS can be removed (restart the replicas without it)."
              : ""
            : "The scheduler re-keys these instances live, ahead of expiry-based refreshes. Keep the previous secret configured until this reaches zero."}
        </p>
      </CardBody>
    </Card>
  );
}

function Count({ label, value, hint }: { label: string; value: number; hint?: string }) {
  return (
    <div className="rounded-md border border-slate-200 px-3 py-2">
      <dt className="text-xs text-slate-600">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums" data-testid={`signer-count-${label.split(" ")[0]!.toLowerCase()}`}>
        {formatCount(value)}
      </dd>
      {hint ? <dd className="text-xs text-slate-600">{hint}</dd> : null}
    </div>
  );
}
