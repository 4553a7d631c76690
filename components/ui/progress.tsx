"use client";

import * as ProgressPrimitive from "@radix-ui/react-progress";
import type { ComponentProps } from "react";
import { cn } from "@/lib/utils";

/**
 * A progress bar (role="progressbar" with aria-valuenow/max). Label it with `aria-label` or
 * `aria-labelledby`; `value` null shows an indeterminate bar.
 */
export function Progress({
  value,
  max = 100,
  className,
  indicatorClassName,
  ...props
}: ComponentProps<typeof ProgressPrimitive.Root> & { indicatorClassName?: string }) {
  const fraction = value === null || value === undefined || max <= 0 ? null : Math.min(Math.max(value / max, 0), 1);
  return (
    <ProgressPrimitive.Root value={value} max={max} className={cn("relative h-2.5 w-full overflow-hidden rounded-full bg-slate-200", className)} {...props}>
      <ProgressPrimitive.Indicator
        className={cn("h-full rounded-full bg-brand-600 transition-[width] duration-300 ease-out", fraction === null && "w-1/3 animate-pulse", indicatorClassName)}
        style={fraction === null ? undefined : { width: `${fraction * 100}%` }}
      />
    </ProgressPrimitive.Root>
  );
}
