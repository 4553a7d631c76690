import type { HTMLAttributes } from "react";
import { cn } from "@/lib/utils";

export const badgeTones = {
  neutral: "bg-slate-100 text-slate-700 ring-slate-300/60",
  info: "bg-brand-50 text-brand-700 ring-brand-500/30",
  success: "bg-emerald-50 text-emerald-800 ring-emerald-600/25",
  warning: "bg-amber-50 text-amber-800 ring-amber-600/30",
  danger: "bg-red-50 text-red-800 ring-red-600/25",
} as const;

export type BadgeTone = keyof typeof badgeTones;

export function Badge({ tone = "neutral", className, ...props }: HTMLAttributes<HTMLSpanElement> & { tone?: BadgeTone }) {
  return (
    <span
      className={cn(
        "inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium whitespace-nowrap ring-1 ring-inset",
        "[&_svg]:size-3.5 [&_svg]:shrink-0",
        badgeTones[tone],
        className,
      )}
      {...props}
    />
  );
}
