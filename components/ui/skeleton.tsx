import type { HTMLAttributes } from "react";
import { cn } from "@/lib/utils";

/** A grey placeholder block for content that is loading (decorative: announce loading elsewhere). */
export function Skeleton({ className, ...props }: HTMLAttributes<HTMLDivElement>) {
  return <div aria-hidden className={cn("animate-pulse rounded-md bg-slate-200/80", className)} {...props} />;
}
