import Link from "next/link";
import { statusLabel } from "@/components/instances/badges";
import { RelativeTime } from "@/components/shared/time";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { fleetHref } from "@/lib/admin/fleet-url";
import { keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { cn } from "@/lib/utils";
import { ExpiryChart } from "./expiry-chart";
import { SigningRotation } from "./signing-rotation";
import { formatCount } from "@/components/shared/format";
import { healthLook } from "./labels";
import type { FleetOverview as Overview } from "@/lib/admin/overview";

const UNUSABLE: KeyHealth[] = ["expired", "revoked", "unknown", "undeployed"];

const linkClass = "rounded-sm focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-600";

/**
 * The fleet at a glance: instances per status, keys per health, and when the usable keys expire
 * next to the keys that are not usable at all. Every count links to the fleet filtered to it.
 */
export function FleetOverview({ overview }: { overview: Overview }) {
  const statuses = Object.entries(overview.statuses) as [keyof Overview["statuses"], number][];
  return (
    <section aria-labelledby="fleet-overview-heading" className="space-y-4">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="fleet-overview-heading" className="text-lg font-semibold">
          Overview
        </h2>
        <p className="text-xs text-slate-500" data-testid="overview-computed-at">
          Counted <RelativeTime date={overview.computedAt} past />; recounted every few seconds while you watch.
        </p>
      </div>

      <SigningRotation overview={overview} />

      <div className="grid gap-4 lg:grid-cols-2">
        <Card>
          <CardHeader className="flex items-baseline justify-between gap-2">
            <h3 className="font-medium">Instances by status</h3>
            <p className="text-sm text-slate-600">
              <span className="text-lg font-semibold text-slate-900 tabular-nums" data-testid="fleet-instances">
                {formatCount(overview.total)}
              </span>{" "}
              live
            </p>
          </CardHeader>
          <CardBody>
            <ul className="grid grid-cols-2 gap-2 sm:grid-cols-4" aria-label="Instances by status">
              {statuses.map(([status, count]) => (
                <li key={status}>
                  <Link
                    href={fleetHref({ status: [status] })}
                    className={cn(
                      linkClass,
                      "block rounded-md border px-3 py-2 hover:border-brand-500 hover:bg-brand-50/50",
                      // Empty statuses are quieter, in colours that keep the AA contrast (fading them with opacity did not).
                      count === 0 ? "border-slate-100 text-slate-500" : "border-slate-200 text-slate-600",
                    )}
                  >
                    <span className="block text-xs">{statusLabel(status)}</span>
                    <span className={cn("block text-lg font-semibold tabular-nums", count > 0 && "text-slate-900")} data-testid={`status-count-${status}`}>
                      {formatCount(count)}
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          </CardBody>
        </Card>

        <Card>
          <CardHeader>
            <h3 className="font-medium">Keys by health</h3>
          </CardHeader>
          <CardBody className="space-y-3">
            <HealthBar overview={overview} />
            <ul className="grid grid-cols-2 gap-x-4 gap-y-1.5 text-sm sm:grid-cols-3" aria-label="Keys by health">
              {keyHealthValues.map((health) => (
                <li key={health}>
                  <Link href={fleetHref({ keyHealth: [health] })} className={cn(linkClass, "flex items-center gap-2 hover:underline")}>
                    <span aria-hidden className="size-2.5 shrink-0 rounded-sm" style={{ backgroundColor: healthLook[health].color }} />
                    <span className="text-slate-700">{healthLook[health].label}</span>
                    <span className="ml-auto font-semibold tabular-nums" data-testid={`health-count-${health}`}>
                      {formatCount(overview.buckets[health])}
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          </CardBody>
        </Card>
      </div>

      <div className="grid gap-4 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <h3 className="font-medium">Keys expiring per day, next 30 days</h3>
          </CardHeader>
          <CardBody>
            <ExpiryChart expiringPerDay={overview.expiringPerDay} computedAt={overview.computedAt} />
          </CardBody>
        </Card>
        <Card>
          <CardHeader>
            <h3 className="font-medium">Without a usable key</h3>
            <p className="text-xs text-slate-500">Not in the chart: these instances need a redeploy to authenticate.</p>
          </CardHeader>
          <CardBody className="py-2">
            <ul className="divide-y divide-slate-100" aria-label="Without a usable key">
              {UNUSABLE.map((health) => (
                <li key={health}>
                  <Link
                    href={fleetHref({ keyHealth: [health] })}
                    className={cn(linkClass, "flex items-center justify-between gap-3 py-2.5 hover:bg-slate-50")}
                  >
                    <span>
                      <span className={cn("block text-sm font-medium", healthLook[health].text)}>{healthLook[health].label}</span>
                      <span className="block text-xs text-slate-500">{healthLook[health].explain}</span>
                    </span>
                    <span className="text-2xl font-semibold tabular-nums" data-testid={`unusable-count-${health}`}>
                      {formatCount(overview.buckets[health])}
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          </CardBody>
        </Card>
      </div>
    </section>
  );
}

/** One bar split by key health, in proportion (decorative: the list beside it has the numbers). */
function HealthBar({ overview }: { overview: Overview }) {
  if (overview.total === 0) return <div aria-hidden className="h-3 rounded-full bg-slate-100" />;
  return (
    <div aria-hidden className="flex h-3 overflow-hidden rounded-full bg-slate-100">
      {keyHealthValues.map((health) =>
        overview.buckets[health] > 0 ? (
          <span key={health} style={{ width: `${(overview.buckets[health] / overview.total) * 100}%`, backgroundColor: healthLook[health].color }} />
        ) : null,
      )}
    </div>
  );
}
