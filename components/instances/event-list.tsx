"use client";

import { CircleCheck, CircleMinus, CircleX } from "lucide-react";
import { RelativeTime, useFormatExact } from "@/components/shared/time";
import type { InstanceEventDto } from "@/lib/instances/dto";

const actors: Record<InstanceEventDto["actorType"], string> = {
  user: "by you",
  admin: "by an administrator",
  scheduler: "automatically",
  internal: "by an internal service",
  system: "by Fleetdeck",
};

function deployWords(event: InstanceEventDto, verb: string, noun: string): string {
  if (event.outcome === "noop") return `${noun} requested; it was already running`;
  if (event.outcome === "failure") return `${noun} failed`;
  return event.keySource === "fallback" ? `${verb}, reusing its stored key (a fresh key could not be minted)` : `${verb} with a fresh key`;
}

/** One audit event as a sentence a person would say. */
export function describeEvent(event: InstanceEventDto): string {
  switch (event.action) {
    case "provision":
      return "Instance created";
    case "start":
      return deployWords(event, "Started", "Start");
    case "redeploy":
      return deployWords(event, "Redeployed", "Redeploy");
    case "stop":
      return event.outcome === "noop" ? "Stop requested; it was already stopped" : event.outcome === "failure" ? "Stop failed" : "Stopped";
    case "refresh":
      return event.outcome === "failure" ? "Automatic key refresh failed" : "Key refreshed in place, without a restart";
    case "destroy":
      return event.outcome === "failure" ? "Destroy failed" : "Destroyed";
    case "reconcile":
      return "Status updated from what the machine reported";
    case "key_revoked":
      return "Key revoked, together with all your other API keys";
    case "operation_interrupted":
      return "An unfinished operation was taken over after its server stopped responding";
    default: {
      const text = event.action.replace(/_/g, " ");
      const outcome = event.outcome === "failure" ? " (failed)" : event.outcome === "noop" ? " (nothing to do)" : "";
      return `${text.charAt(0).toUpperCase()}${text.slice(1)}${outcome}`;
    }
  }
}

const outcomeIcon = {
  success: <CircleCheck aria-hidden className="size-4 text-emerald-600" />,
  failure: <CircleX aria-hidden className="size-4 text-red-600" />,
  noop: <CircleMinus aria-hidden className="size-4 text-slate-400" />,
};

/** The instance's recent audit events, newest first, in plain words. */
export function EventList({ events }: { events: InstanceEventDto[] }) {
  if (events.length === 0) return <p className="text-sm text-slate-500">Nothing has happened yet.</p>;
  return (
    <ol className="divide-y divide-slate-100" aria-label="Recent activity">
      {events.map((event) => (
        <li key={event.id} className="flex gap-3 py-2.5 text-sm">
          <span className="mt-0.5">{outcomeIcon[event.outcome]}</span>
          <div className="min-w-0 flex-1">
            <p className="text-slate-900">
              {describeEvent(event)} <span className="text-slate-500">{actors[event.actorType]}</span>
            </p>
            {event.outcome === "failure" && event.errorMessage ? (
              <p className="mt-0.5 break-words text-red-800 [overflow-wrap:anywhere]">{event.errorMessage}</p>
            ) : null}
            <EventMeta event={event} />
          </div>
        </li>
      ))}
    </ol>
  );
}

/** The line under an event: when, exact time, which key (and whether it was reused), how long it took. */
export function EventMeta({ event, showReuse = false }: { event: InstanceEventDto; showReuse?: boolean }) {
  const exact = useFormatExact();
  return (
    <p className="mt-0.5 flex flex-wrap gap-x-2 text-xs text-slate-500">
      <RelativeTime date={event.createdAt} past />
      <span aria-hidden>·</span>
      <span>{exact(event.createdAt)}</span>
      {event.keyId ? (
        <>
          <span aria-hidden>·</span>
          <span>
            key <code className="font-mono">{event.keyId}</code>
            {showReuse && event.keySource === "fallback" ? " (reused)" : ""}
          </span>
        </>
      ) : null}
      {event.durationMs !== null && event.action !== "provision" ? (
        <>
          <span aria-hidden>·</span>
          <span>took {(event.durationMs / 1000).toFixed(1)} s</span>
        </>
      ) : null}
    </p>
  );
}
