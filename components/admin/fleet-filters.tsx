"use client";

import { ArrowDownWideNarrow, ArrowUpNarrowWide, Search, X } from "lucide-react";
import { useId, useRef, useState, type FormEvent } from "react";
import { statusLabel } from "@/components/instances/badges";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { MultiSelect } from "@/components/ui/multi-select";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { hasFilters } from "@/lib/admin/fleet-url";
import { fleetSortValues, instanceStatusValues, OWNER_SEARCH_MAX_LENGTH, type FleetQuery, type FleetSort } from "@/lib/admin/schemas";
import { keyHealthValues } from "@/lib/instances/schemas";
import { healthLook, sortLook } from "./labels";

const SEARCH_DEBOUNCE_MS = 400;

type Navigate = (next: FleetQuery, options?: { replace?: boolean }) => void;

function toggle<T>(values: readonly T[] | undefined, value: T, order: readonly T[]): T[] | undefined {
  const next = values?.includes(value) ? values.filter((item) => item !== value) : [...(values ?? []), value];
  return next.length ? [...next].sort((a, b) => order.indexOf(a) - order.indexOf(b)) : undefined;
}

/**
 * The fleet view's filters and sort. Every change navigates (the URL is the state), so a view can
 * be shared or bookmarked, and the browser's back button undoes a change. The owner search applies
 * as the admin types (after a pause) or on Enter.
 */
export function FleetFilters({ query, navigate }: { query: FleetQuery; navigate: Navigate }) {
  const searchId = useId();
  const sortId = useId();
  const urlSearch = query.ownerSearch ?? "";
  const [search, setSearch] = useState(urlSearch);
  const [focused, setFocused] = useState(false);
  const [lastUrlSearch, setLastUrlSearch] = useState(urlSearch);
  // The URL changed under the box (Back, Reset, a shared link): show it, unless the admin is typing.
  if (urlSearch !== lastUrlSearch) {
    setLastUrlSearch(urlSearch);
    if (!focused) setSearch(urlSearch);
  }
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const applySearch = (value: string, replace: boolean) => {
    clearTimeout(timer.current);
    const ownerSearch = value.trim().toLowerCase() || undefined;
    if (ownerSearch === query.ownerSearch) return;
    navigate({ ...query, ownerSearch }, { replace });
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    applySearch(search, false);
  };

  const health = query.keyHealth ?? [];
  const statuses = query.status ?? [];
  const sort = sortLook[query.sort];

  return (
    <div className="flex flex-col gap-3 lg:flex-row lg:flex-wrap lg:items-end">
      <form role="search" onSubmit={submit} className="min-w-0 space-y-1 lg:w-72">
        <Label htmlFor={searchId} className="block">
          Owner email
        </Label>
        <div className="relative">
          <Search aria-hidden className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-slate-400" />
          <Input
            id={searchId}
            type="search"
            value={search}
            maxLength={OWNER_SEARCH_MAX_LENGTH}
            placeholder="Starts with…"
            autoComplete="off"
            spellCheck={false}
            className="pl-9"
            aria-describedby={`${searchId}-hint`}
            onFocus={() => setFocused(true)}
            onBlur={() => setFocused(false)}
            onChange={(event) => {
              const value = event.target.value;
              setSearch(value);
              clearTimeout(timer.current);
              timer.current = setTimeout(() => applySearch(value, true), SEARCH_DEBOUNCE_MS);
            }}
          />
        </div>
        <p id={`${searchId}-hint`} className="sr-only">
          Shows the instances of users whose email address starts with what you type.
        </p>
      </form>

      <div className="flex flex-wrap items-end gap-2">
        <MultiSelect
          label="Key health"
          summary={health.length ? health.map((value) => healthLook[value].label).join(", ") : "Any"}
          count={health.length}
          options={keyHealthValues.map((value) => ({ value, label: healthLook[value].label, hint: healthLook[value].explain, color: healthLook[value].color }))}
          selected={health}
          onToggle={(value) => navigate({ ...query, keyHealth: toggle(query.keyHealth, value, keyHealthValues) })}
          onClear={() => navigate({ ...query, keyHealth: undefined })}
        />
        <MultiSelect
          label="Status"
          summary={statuses.length ? statuses.map(statusLabel).join(", ") : "Any live"}
          count={statuses.length}
          options={instanceStatusValues.map((value) => ({ value, label: statusLabel(value), hint: value === "destroyed" ? "only listed when chosen" : undefined }))}
          selected={statuses}
          onToggle={(value) => navigate({ ...query, status: toggle(query.status, value, instanceStatusValues) })}
          onClear={() => navigate({ ...query, status: undefined })}
        />
        <div className="space-y-1">
          <Label htmlFor={sortId} className="block">
            Sort by
          </Label>
          <div className="flex gap-1">
            <Select value={query.sort} onValueChange={(value) => navigate({ ...query, sort: value as FleetSort, order: sortLook[value as FleetSort].defaultOrder })}>
              <SelectTrigger id={sortId} className="w-52">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {fleetSortValues.map((value) => (
                  <SelectItem key={value} value={value}>
                    {sortLook[value].label}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
            <Button
              variant="secondary"
              className="px-3"
              aria-label={`Order: ${query.order === "asc" ? sort.asc : sort.desc}. Reverse the order`}
              title={query.order === "asc" ? sort.asc : sort.desc}
              onClick={() => navigate({ ...query, order: query.order === "asc" ? "desc" : "asc" })}
            >
              {query.order === "asc" ? <ArrowUpNarrowWide aria-hidden /> : <ArrowDownWideNarrow aria-hidden />}
            </Button>
          </div>
        </div>
        {hasFilters(query) ? (
          <Button
            variant="ghost"
            onClick={() => {
              clearTimeout(timer.current);
              setSearch("");
              navigate({ sort: query.sort, order: query.order, limit: query.limit });
            }}
          >
            <X aria-hidden /> Clear filters
          </Button>
        ) : null}
      </div>
    </div>
  );
}
