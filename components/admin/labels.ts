import type { KeyHealth } from "@/lib/instances/schemas";
import type { FleetSort } from "@/lib/admin/schemas";

/** Key health in the admin views: a short name, what it means, and its colour (chart and tiles). */
export const healthLook: Record<KeyHealth, { label: string; explain: string; color: string; text: string }> = {
  ok: { label: "OK", explain: "more than 7 days left", color: "#059669", text: "text-emerald-800" },
  previous_signing_key: {
    label: "Previous signing key",
    explain: "valid, signed under a secret being retired; re-keyed automatically",
    color: "#0284c7",
    text: "text-sky-800",
  },
  expiring: { label: "Expiring", explain: "within 7 days", color: "#d97706", text: "text-amber-800" },
  critical: { label: "Critical", explain: "within 3 days", color: "#dc2626", text: "text-red-700" },
  expired: { label: "Expired", explain: "past its expiry", color: "#7f1d1d", text: "text-red-900" },
  revoked: { label: "Revoked", explain: "revoked by a pepper rotation, or its signing secret was retired", color: "#9d174d", text: "text-pink-900" },
  unknown: { label: "Unknown", explain: "no expiry recorded", color: "#64748b", text: "text-slate-700" },
  undeployed: { label: "Not deployed", explain: "newest key not confirmed on the machine", color: "#7c3aed", text: "text-violet-800" },
};

export const sortLook: Record<FleetSort, { label: string; asc: string; desc: string; defaultOrder: "asc" | "desc" }> = {
  deployedKeyExpiresAt: { label: "Key expiry", asc: "soonest first", desc: "latest first", defaultOrder: "asc" },
  keyExpiresAt: { label: "Latest minted key expiry", asc: "soonest first", desc: "latest first", defaultOrder: "asc" },
  lastActivityAt: { label: "Last activity", asc: "oldest first", desc: "most recent first", defaultOrder: "desc" },
  status: { label: "Status", asc: "A–Z by lifecycle", desc: "reverse", defaultOrder: "asc" },
  owner: { label: "Owner email", asc: "A–Z", desc: "Z–A", defaultOrder: "asc" },
};
