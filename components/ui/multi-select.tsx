"use client";

import { ChevronDown } from "lucide-react";
import { useId } from "react";
import { Button } from "@/components/ui/button";
import {
  DropdownMenu,
  DropdownMenuCheckboxItem,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";

export interface MultiSelectOption<T extends string> {
  value: T;
  label: string;
  hint?: string;
  /** A colour swatch shown before the label (e.g. the option's colour in a chart). */
  color?: string;
}

/**
 * A labelled button that opens a menu of checkboxes ("Show only …"), with a count of the chosen
 * options and "Show all" to clear them. The caller owns the selection (`selected`, `onToggle`).
 */
export function MultiSelect<T extends string>({
  label,
  summary,
  count,
  options,
  selected,
  onToggle,
  onClear,
}: {
  label: string;
  summary: string;
  count: number;
  options: MultiSelectOption<T>[];
  selected: readonly T[];
  onToggle: (value: T) => void;
  onClear: () => void;
}) {
  const labelId = useId();
  return (
    <div className="space-y-1">
      <span id={labelId} className="block text-sm font-medium text-slate-800">
        {label}
      </span>
      {/* Not modal: the page behind stays readable to screen readers (a modal menu hides it with
          aria-hidden while leaving it focusable); focus still stays in the open menu. */}
      <DropdownMenu modal={false}>
        <DropdownMenuTrigger asChild>
          <Button variant="secondary" className="w-48 justify-between font-normal" aria-labelledby={`${labelId} ${labelId}-value`}>
            <span id={`${labelId}-value`} className="truncate">
              {summary}
            </span>
            <span className="flex items-center gap-1">
              {count ? <span className="rounded-full bg-brand-600 px-1.5 text-xs text-white">{count}</span> : null}
              <ChevronDown aria-hidden className="text-slate-500" />
            </span>
          </Button>
        </DropdownMenuTrigger>
        <DropdownMenuContent align="start" aria-labelledby={labelId}>
          <DropdownMenuLabel>Show only</DropdownMenuLabel>
          {options.map((option) => (
            <DropdownMenuCheckboxItem key={option.value} checked={selected.includes(option.value)} onCheckedChange={() => onToggle(option.value)}>
              {option.color ? <span aria-hidden className="size-2.5 shrink-0 rounded-sm" style={{ backgroundColor: option.color }} /> : null}
              <span>{option.label}</span>
              {option.hint ? <span className="ml-auto pl-3 text-xs text-slate-600">{option.hint}</span> : null}
            </DropdownMenuCheckboxItem>
          ))}
          {count ? (
            <>
              <DropdownMenuSeparator />
              <DropdownMenuItem onSelect={onClear}>Show all</DropdownMenuItem>
            </>
          ) : null}
        </DropdownMenuContent>
      </DropdownMenu>
    </div>
  );
}
