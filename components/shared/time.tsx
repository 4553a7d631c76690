"use client";

import { createContext, useContext, useSyncExternalStore, type ReactNode } from "react";

// Times render identically on the server and during hydration (the server's clock and UTC), then
// switch to the browser's clock and time zone; "in 29 days" keeps ticking while the page is open.

const ServerNowContext = createContext<number | null>(null);

/**
 * Gives the clock hooks the server's "now" of the data being shown: the first render uses it, and
 * later renders never show a time older than the data (so a key minted a moment ago is not "in a
 * few seconds" between two ticks).
 */
export function ClockProvider({ serverNow, children }: { serverNow: string; children: ReactNode }) {
  return <ServerNowContext value={Date.parse(serverNow)}>{children}</ServerNowContext>;
}

const TICK_MS = 15_000;
let currentNow = Date.now();
const listeners = new Set<() => void>();
let ticker: ReturnType<typeof setInterval> | undefined;

function subscribeToClock(listener: () => void) {
  listeners.add(listener);
  currentNow = Date.now();
  ticker ??= setInterval(() => {
    currentNow = Date.now();
    for (const notify of listeners) notify();
  }, TICK_MS);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
}

/** Milliseconds since the epoch, refreshed every few seconds. */
export function useNow(): number {
  const serverNow = useContext(ServerNowContext);
  const now = useSyncExternalStore(
    subscribeToClock,
    () => currentNow,
    () => serverNow ?? currentNow,
  );
  return serverNow === null ? now : Math.max(now, serverNow);
}

const noSubscription = () => () => {};

/** False on the server and during hydration, true afterwards. */
export function useHydrated(): boolean {
  return useSyncExternalStore(
    noSubscription,
    () => true,
    () => false,
  );
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "in 29 days", "3 minutes ago", "just now". `past` times never read as future (clock skew). */
export function formatRelative(date: Date | string, now: number, options: { past?: boolean } = {}): string {
  const raw = new Date(date).getTime() - now;
  const diff = options.past ? Math.min(raw, 0) : raw;
  const abs = Math.abs(diff);
  if (abs < 45_000) return diff <= 0 ? "just now" : "in a few seconds";
  if (abs < 45 * MINUTE) return relativeFormat.format(Math.round(diff / MINUTE), "minute");
  if (abs < 22 * HOUR) return relativeFormat.format(Math.round(diff / HOUR), "hour");
  if (abs < 60 * DAY) return relativeFormat.format(Math.round(diff / DAY), "day");
  return relativeFormat.format(Math.round(diff / (30 * DAY)), "month");
}

/** "12 Jul 2026, 14:03 CEST" — in UTC until hydrated, then in the browser's time zone. */
export function formatExact(date: Date | string, timeZone?: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
    timeZone,
  }).format(new Date(date));
}

export function useFormatExact(): (date: Date | string) => string {
  const hydrated = useHydrated();
  return (date) => formatExact(date, hydrated ? undefined : "UTC");
}

/**
 * A relative time ("in 29 days") whose exact time is in its tooltip and machine-readable value.
 * `past` marks things that have happened (a start, an event): they never read "in a few seconds".
 */
export function RelativeTime({ date, className, past }: { date: string; className?: string; past?: boolean }) {
  const now = useNow();
  const exact = useFormatExact();
  return (
    <time dateTime={date} title={exact(date)} className={className}>
      {formatRelative(date, now, { past })}
    </time>
  );
}

/** "in 29 days · 12 Jul 2026, 14:03 UTC": both, visibly, for expiries and key dates. */
export function RelativeAndExactTime({ date, className, past }: { date: string; className?: string; past?: boolean }) {
  const now = useNow();
  const exact = useFormatExact();
  return (
    <time dateTime={date} className={className}>
      <span className="font-medium text-slate-900">{formatRelative(date, now, { past })}</span>{" "}
      <span className="text-slate-500">· {exact(date)}</span>
    </time>
  );
}
