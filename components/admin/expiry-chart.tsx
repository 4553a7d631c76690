"use client";

import { Bar, BarChart, CartesianGrid, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Skeleton } from "@/components/ui/skeleton";
import { useFormatExact, useHydrated } from "@/components/shared/time";
import { formatCount } from "@/components/shared/format";
import { healthLook } from "./labels";

const DAY_MS = 24 * 3600 * 1000;

interface Datum {
  day: number;
  count: number;
  tone: "critical" | "expiring" | "ok";
}

function toneOf(day: number): Datum["tone"] {
  return day <= 3 ? "critical" : day <= 7 ? "expiring" : "ok";
}

function dayRange(day: number): string {
  return day === 1 ? "within 24 hours" : `in ${day - 1}–${day} days`;
}

function ExpiryTooltip({ active, payload, computedAt }: { active?: boolean; payload?: readonly { payload?: unknown }[]; computedAt: string }) {
  const exact = useFormatExact();
  const datum = payload?.[0]?.payload as Datum | undefined;
  if (!active || !datum) return null;
  const from = new Date(Date.parse(computedAt) + (datum.day - 1) * DAY_MS);
  const to = new Date(Date.parse(computedAt) + datum.day * DAY_MS);
  return (
    <div className="rounded-md bg-white px-3 py-2 text-xs shadow-lg ring-1 ring-slate-200">
      <p className="font-medium text-slate-900">
        {formatCount(datum.count)} {datum.count === 1 ? "key expires" : "keys expire"} {dayRange(datum.day)}
      </p>
      <p className="text-slate-500">
        {exact(from)} – {exact(to)}
      </p>
    </div>
  );
}

/**
 * Usable keys by how many days they have left (bars 1–3 are the critical keys, 4–7 the expiring
 * ones), drawn with recharts once the page is interactive; the same numbers are in a table below.
 */
export function ExpiryChart({ expiringPerDay, computedAt }: { expiringPerDay: number[]; computedAt: string }) {
  const hydrated = useHydrated();
  const data: Datum[] = expiringPerDay.map((count, index) => ({ day: index + 1, count, tone: toneOf(index + 1) }));
  const total = expiringPerDay.reduce((sum, count) => sum + count, 0);
  const peak = data.reduce((best, datum) => (datum.count > best.count ? datum : best), data[0] ?? { day: 1, count: 0, tone: "critical" as const });
  const within7 = expiringPerDay.slice(0, 7).reduce((sum, count) => sum + count, 0);
  const summary =
    total === 0
      ? "No usable key expires in the next 30 days."
      : `${formatCount(total)} keys expire in the next 30 days, ${formatCount(within7)} of them within 7 days; the most on day ${peak.day} (${formatCount(peak.count)}).`;

  return (
    <figure className="space-y-3" aria-labelledby="expiry-chart-caption">
      <p id="expiry-chart-caption" className="text-sm text-slate-600" data-testid="expiry-summary">
        {summary}
      </p>
      <div className="h-56 w-full" role="img" aria-label={`Bar chart: ${summary}`} data-testid="expiry-chart">
        {hydrated ? (
          <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 600, height: 224 }}>
            <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }} accessibilityLayer={false}>
              <CartesianGrid vertical={false} stroke="#e2e8f0" />
              <XAxis
                dataKey="day"
                ticks={[1, 3, 7, 14, 21, 30]}
                tickFormatter={(day: number) => `${day}d`}
                tickLine={false}
                axisLine={{ stroke: "#cbd5e1" }}
                tick={{ fontSize: 12, fill: "#64748b" }}
              />
              <YAxis
                allowDecimals={false}
                width={48}
                tickLine={false}
                axisLine={false}
                tick={{ fontSize: 12, fill: "#64748b" }}
                tickFormatter={(value: number) => (value >= 10_000 ? `${Math.round(value / 1000)}k` : formatCount(value))}
              />
              <Tooltip cursor={{ fill: "#f1f5f9" }} content={({ active, payload }) => <ExpiryTooltip active={active} payload={payload} computedAt={computedAt} />} />
              <Bar dataKey="count" radius={[3, 3, 0, 0]} isAnimationActive={false}>
                {data.map((datum) => (
                  <Cell key={datum.day} fill={healthLook[datum.tone].color} />
                ))}
              </Bar>
            </BarChart>
          </ResponsiveContainer>
        ) : (
          <Skeleton className="h-full w-full" />
        )}
      </div>
      <figcaption className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600">
        {(["critical", "expiring", "ok"] as const).map((tone) => (
          <span key={tone} className="inline-flex items-center gap-1.5">
            <span aria-hidden className="size-2.5 rounded-sm" style={{ backgroundColor: healthLook[tone].color }} />
            {healthLook[tone].label} ({tone === "critical" ? "days 1–3" : tone === "expiring" ? "days 4–7" : "days 8–30"})
          </span>
        ))}
        <span>Days from when the counts were taken; each bar is one day.</span>
      </figcaption>
      <details className="text-sm">
        <summary className="cursor-pointer rounded-sm text-brand-700 hover:underline focus-visible:outline-2 focus-visible:outline-brand-600">
          Show the numbers as a table
        </summary>
        <div className="mt-2 max-h-64 overflow-y-auto rounded-md border border-slate-200">
          <table className="w-full text-left text-xs">
            <caption className="sr-only">Keys expiring per day over the next 30 days</caption>
            <thead className="sticky top-0 bg-slate-50 text-slate-600">
              <tr>
                <th scope="col" className="px-3 py-1.5 font-medium">Expires</th>
                <th scope="col" className="px-3 py-1.5 text-right font-medium">Keys</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {data.map((datum) => (
                <tr key={datum.day}>
                  <td className="px-3 py-1">{dayRange(datum.day)}</td>
                  <td className="px-3 py-1 text-right tabular-nums">{formatCount(datum.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
