"use client";

import { CircleCheck, CircleMinus, CircleX, Loader2 } from "lucide-react";
import { useState } from "react";
import { describeEvent, EventMeta } from "@/components/instances/event-list";
import { Button } from "@/components/ui/button";
import { fetchOlderEvents } from "@/lib/hooks/use-admin";
import { isServerError } from "@/lib/client/transport";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";
import type { TimelineEventDto } from "@/lib/admin/instance-detail";

function account(actor: { email: string; name: string | null }): string {
  return actor.name ? `${actor.name} (${actor.email})` : actor.email;
}

/** Who did it, for an admin: the owner, which administrator, or which job or service. */
export function describeActor(event: TimelineEventDto, owner: FleetInstanceDto["owner"]): string {
  switch (event.actorType) {
    case "user":
      return event.actorId === owner.id ? "by the owner" : event.actorAccount ? `by ${account(event.actorAccount)}` : "by a user";
    case "admin":
      return event.actorAccount ? `by administrator ${account(event.actorAccount)}` : "by an administrator (account since removed)";
    case "scheduler":
      return "automatically, by the scheduler";
    case "internal":
      return event.actorId ? `by an internal service (${event.actorId})` : "by an internal service";
    default:
      return "by Fleetdeck";
  }
}

function describe(event: TimelineEventDto): string {
  if (event.action === "key_revoked") return "Key revoked: the owner's API keys were all revoked";
  return describeEvent(event);
}

const outcomeIcon = {
  success: <CircleCheck aria-hidden className="size-4 text-emerald-600" />,
  failure: <CircleX aria-hidden className="size-4 text-red-600" />,
  noop: <CircleMinus aria-hidden className="size-4 text-slate-400" />,
};

function mergeEvents(...lists: TimelineEventDto[][]): TimelineEventDto[] {
  const byId = new Map<number, TimelineEventDto>();
  for (const list of lists) for (const event of list) byId.set(event.id, event);
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

/**
 * The instance's whole audit log, newest first, with who acted (the owner, which admin, a job).
 * The newest events stay live (they come with every poll of the page); older ones load on demand.
 */
export function AdminTimeline({
  instanceId,
  owner,
  events,
  olderBefore,
}: {
  instanceId: string;
  owner: FleetInstanceDto["owner"];
  events: TimelineEventDto[];
  olderBefore: number | null;
}) {
  const [history, setHistory] = useState({ events, olderBefore });
  const [latest, setLatest] = useState(events);
  // Every poll brings the newest events: keep them together with the older pages already loaded.
  if (latest !== events) {
    setLatest(events);
    setHistory((current) => ({ ...current, events: mergeEvents(current.events, events) }));
  }
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const loadOlder = async () => {
    if (history.olderBefore === null || loading) return;
    setLoading(true);
    setError(null);
    try {
      const page = await fetchOlderEvents(instanceId, history.olderBefore);
      setHistory((current) => ({ events: mergeEvents(current.events, page.events), olderBefore: page.olderBefore }));
    } catch (caught) {
      setError(isServerError(caught) ? caught.message : "Could not load older events.");
    } finally {
      setLoading(false);
    }
  };

  if (history.events.length === 0) return <p className="py-3 text-sm text-slate-500">Nothing has happened to this instance yet.</p>;
  return (
    <div className="space-y-3 pb-3">
      <ol className="divide-y divide-slate-100" aria-label="Activity">
        {history.events.map((event) => (
          <li key={event.id} className="flex gap-3 py-2.5 text-sm">
            <span className="mt-0.5">{outcomeIcon[event.outcome]}</span>
            <div className="min-w-0 flex-1">
              <p className="break-words text-slate-900 [overflow-wrap:anywhere]">
                {describe(event)} <span className="text-slate-600">{describeActor(event, owner)}</span>
              </p>
              {event.outcome === "failure" && event.errorMessage ? (
                <p className="mt-0.5 break-words text-red-800 [overflow-wrap:anywhere]">
                  {event.errorMessage}
                  {event.errorCode ? <code className="ml-1 font-mono text-xs opacity-75">{event.errorCode}</code> : null}
                </p>
              ) : null}
              <EventMeta event={event} showReuse />
            </div>
          </li>
        ))}
      </ol>
      {error ? (
        <p role="alert" className="text-sm text-red-800">
          {error}
        </p>
      ) : null}
      {history.olderBefore !== null ? (
        <Button variant="secondary" size="sm" onClick={() => void loadOlder()} aria-disabled={loading || undefined}>
          {loading ? <Loader2 aria-hidden className="animate-spin" /> : null}
          Show older events
        </Button>
      ) : (
        <p className="text-xs text-slate-500">That is everything since the instance was created.</p>
      )}
    </div>
  );
}
