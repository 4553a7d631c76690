import { CircleAlert, CircleCheck, CircleDashed, CirclePause, CircleX, KeyRound, Loader2, ShieldAlert, ShieldCheck, ShieldQuestion, ShieldX } from "lucide-react";
import type { LucideIcon } from "lucide-react";
import { Badge, type BadgeTone } from "@/components/ui/badge";
import type { InstanceDto } from "@/lib/instances/dto";

type Status = InstanceDto["status"];
type KeyHealth = InstanceDto["config"]["keyHealth"];

const statusLook: Record<Status, { label: string; tone: BadgeTone; icon: LucideIcon; spin?: boolean }> = {
  provisioned: { label: "Not started", tone: "neutral", icon: CircleDashed },
  starting: { label: "Starting", tone: "info", icon: Loader2, spin: true },
  running: { label: "Running", tone: "success", icon: CircleCheck },
  stopping: { label: "Stopping", tone: "info", icon: Loader2, spin: true },
  stopped: { label: "Stopped", tone: "neutral", icon: CirclePause },
  restarting: { label: "Restarting", tone: "info", icon: Loader2, spin: true },
  destroying: { label: "Destroying", tone: "info", icon: Loader2, spin: true },
  destroyed: { label: "Destroyed", tone: "neutral", icon: CircleX },
  failed: { label: "Failed", tone: "danger", icon: CircleAlert },
};

export function statusLabel(status: Status): string {
  return statusLook[status].label;
}

export function StatusBadge({ status }: { status: Status }) {
  const look = statusLook[status];
  const Icon = look.icon;
  return (
    <Badge tone={look.tone} data-testid="instance-status">
      <Icon aria-hidden className={look.spin ? "animate-spin" : undefined} />
      <span>
        <span className="sr-only">Status: </span>
        {look.label}
      </span>
    </Badge>
  );
}

const keyHealthLook: Record<KeyHealth | "none", { label: string; tone: BadgeTone; icon: LucideIcon; explain: string }> = {
  ok: { label: "Key OK", tone: "success", icon: ShieldCheck, explain: "More than 7 days of validity left." },
  previous_signing_key: {
    label: "Key OK (re-keying)",
    tone: "info",
    icon: ShieldCheck,
    explain: "Valid, but signed under a signing secret being retired; Fleetdeck gives it a fresh key without a restart.",
  },
  expiring: { label: "Key expiring", tone: "warning", icon: ShieldAlert, explain: "Expires within 7 days; Fleetdeck renews it before then." },
  critical: { label: "Key expires soon", tone: "danger", icon: ShieldAlert, explain: "Expires within 3 days. Redeploy to mint a fresh key now." },
  expired: { label: "Key expired", tone: "danger", icon: ShieldX, explain: "The key has expired; the instance cannot authenticate." },
  revoked: { label: "Key revoked", tone: "danger", icon: ShieldX, explain: "The key was revoked (or its signing secret retired); the instance cannot authenticate with it." },
  unknown: { label: "Key expiry unknown", tone: "warning", icon: ShieldQuestion, explain: "No expiry is recorded for the key in use." },
  undeployed: { label: "New key not deployed", tone: "warning", icon: KeyRound, explain: "The newest key is not yet the one running on the machine." },
  none: { label: "No key yet", tone: "neutral", icon: KeyRound, explain: "A key is minted when the instance first starts." },
};

const rekeyingLook = {
  label: "Re-keying",
  tone: "info" as const,
  icon: Loader2,
  explain: "The key was revoked; a fresh one is being put in place while the instance keeps running.",
};

export function KeyHealthBadge({ config }: { config: InstanceDto["config"] }) {
  const rekeying = config.rekey === "pending" || config.rekey === "in_progress";
  const look = rekeying ? rekeyingLook : keyHealthLook[config.keyId === null ? "none" : config.keyHealth];
  const Icon = look.icon;
  return (
    <Badge tone={look.tone} title={look.explain} data-testid="key-health">
      <Icon aria-hidden className={rekeying ? "animate-spin" : undefined} />
      {look.label}
    </Badge>
  );
}
