import { AlertTriangle, CircleAlert, CircleCheck, Info } from "lucide-react";
import type { HTMLAttributes, ReactNode } from "react";
import { cn } from "@/lib/utils";

const tones = {
  info: { box: "border-brand-100 bg-brand-50 text-brand-700", icon: Info },
  success: { box: "border-emerald-200 bg-emerald-50 text-emerald-900", icon: CircleCheck },
  warning: { box: "border-amber-200 bg-amber-50 text-amber-900", icon: AlertTriangle },
  danger: { box: "border-red-200 bg-red-50 text-red-900", icon: CircleAlert },
} as const;

interface CalloutProps extends Omit<HTMLAttributes<HTMLDivElement>, "title"> {
  tone?: keyof typeof tones;
  title?: ReactNode;
  /** Buttons or links shown under the text (or beside it on wide screens). */
  action?: ReactNode;
}

/** An inline notice: a warning or error that belongs to the thing it sits in (not a toast). */
export function Callout({ tone = "info", title, action, className, children, ...props }: CalloutProps) {
  const Icon = tones[tone].icon;
  return (
    <div className={cn("flex flex-col gap-3 rounded-md border px-3 py-2.5 text-sm sm:flex-row sm:items-center", tones[tone].box, className)} {...props}>
      <div className="flex min-w-0 flex-1 gap-2">
        <Icon aria-hidden className="mt-0.5 size-4 shrink-0" />
        <div className="min-w-0 space-y-0.5">
          {title ? <p className="font-medium">{title}</p> : null}
          {children ? <div className="break-words [overflow-wrap:anywhere]">{children}</div> : null}
        </div>
      </div>
      {action ? <div className="flex shrink-0 gap-2 pl-6 sm:pl-0">{action}</div> : null}
    </div>
  );
}
