"use client";

import { Plus } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { Button, type ButtonProps } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { instanceNameSchema } from "@/lib/instances/schemas";
import { useCreateInstance } from "@/lib/hooks/use-instances";
import { useOperationWithToasts } from "./instance-controls";
import type { RegionOption } from "@/lib/machines/regions";

/** The id of the link on an instance's card, where focus goes after the instance is created. */
export function instanceLinkId(instanceId: string): string {
  return `instance-${instanceId}-link`;
}

/** Opens the create dialog; several of these may share one dialog (header and empty state). */
export function CreateInstanceButton({
  onOpen,
  disabledReason,
  variant = "primary",
}: {
  onOpen: (opener: HTMLElement) => void;
  disabledReason: string | null;
  variant?: ButtonProps["variant"];
}) {
  return (
    <Button
      variant={variant}
      aria-disabled={disabledReason ? true : undefined}
      aria-haspopup="dialog"
      title={disabledReason ?? undefined}
      onClick={(event) => !disabledReason && onOpen(event.currentTarget)}
    >
      <Plus aria-hidden />
      Create instance
    </Button>
  );
}

/**
 * "Create instance": a name and a region, then the instance is created and started right away.
 * The dialog closes as soon as the instance exists, focus moves to the new instance's card, and
 * its start is followed there step by step. Cancelling returns focus to the button that opened it.
 */
export function CreateInstanceDialog({
  open,
  onOpenChange,
  regions,
  opener,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  regions: RegionOption[];
  opener: HTMLElement | null;
}) {
  const setOpen = onOpenChange;
  const [createdId, setCreatedId] = useState<string | undefined>();
  const [name, setName] = useState("");
  const [region, setRegion] = useState(regions[0]?.value ?? "");
  const [nameError, setNameError] = useState<string | undefined>();
  const [formError, setFormError] = useState<string | undefined>();
  const create = useCreateInstance();
  const start = useOperationWithToasts();
  const nameId = useId();
  const regionId = useId();

  const reset = () => {
    setName("");
    setNameError(undefined);
    setFormError(undefined);
    create.reset();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (create.isPending) return;
    const parsed = instanceNameSchema.safeParse(name);
    if (!parsed.success) {
      setNameError(parsed.error.issues[0]?.message);
      return;
    }
    setNameError(undefined);
    setFormError(undefined);
    create.mutate(
      { name: parsed.data, region },
      {
        onSuccess: (instance) => {
          setCreatedId(instance.id);
          setOpen(false);
          reset();
          start.mutate({ instance, operation: "start" });
        },
        onError: (error) => {
          if (error.fields?.name?.[0]) setNameError(error.fields.name[0]);
          else setFormError(error.message);
        },
      },
    );
  };

  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) reset();
      }}
    >
      <DialogContent
        onOpenAutoFocus={() => setCreatedId(undefined)}
        onCloseAutoFocus={(event) => {
          event.preventDefault();
          // The new card renders on the next frame; fall back to the opener if it is not there.
          requestAnimationFrame(() => {
            const card = createdId ? document.getElementById(instanceLinkId(createdId)) : null;
            (card ?? opener)?.focus();
          });
        }}
      >
        <DialogTitle>Create an instance</DialogTitle>
        <DialogDescription>
          A new agent gateway on its own machine. Fleetdeck mints it a 30-day API key and starts it right away.
        </DialogDescription>
        <form onSubmit={submit} noValidate className="mt-5 space-y-4">
          <div className="space-y-1.5">
            <Label htmlFor={nameId}>Name</Label>
            <Input
              id={nameId}
              name="name"
              value={name}
              onChange={(event) => {
                setName(event.target.value);
                // Once an error is showing, re-check as the user types so it goes away when fixed.
                if (nameError) setNameError(instanceNameSchema.safeParse(event.target.value).error?.issues[0]?.message);
              }}
              placeholder="e.g. research-agent"
              autoComplete="off"
              maxLength={64}
              required
              aria-invalid={nameError ? true : undefined}
              aria-describedby={`${nameId}-hint`}
            />
            <p id={`${nameId}-hint`} className={nameError ? "text-sm text-red-700" : "text-xs text-slate-500"}>
              {nameError ?? "Letters, digits, spaces, dots, dashes and underscores; up to 64 characters."}
            </p>
          </div>
          <div className="space-y-1.5">
            <Label htmlFor={regionId}>Region</Label>
            <Select value={region} onValueChange={setRegion} name="region">
              <SelectTrigger id={regionId} aria-describedby={`${regionId}-hint`}>
                <SelectValue placeholder="Choose a region" />
              </SelectTrigger>
              <SelectContent>
                {regions.map((option) => (
                  <SelectItem key={option.value} value={option.value}>
                    {option.label}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
            <p id={`${regionId}-hint`} className="text-xs text-slate-500">
              {regions.length === 1 ? "This server runs instances locally, so there is one region." : "Where the machine runs."}
            </p>
          </div>
          {formError ? (
            <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
              {formError}
            </p>
          ) : null}
          <DialogFooter>
            <Button type="button" variant="secondary" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" aria-disabled={create.isPending ? true : undefined}>
              {create.isPending ? "Creating…" : "Create and start"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
