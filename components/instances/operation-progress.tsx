"use client";

import { Check, CircleX, Loader2, TriangleAlert } from "lucide-react";
import { useState } from "react";
import { usePendingOperation, useRecentOutcome, type RecentOutcome } from "@/lib/hooks/use-instances";
import { cn } from "@/lib/utils";
import type { InstanceDto } from "@/lib/instances/dto";
import { STEPS_OF_OPERATION, type LifecycleOperation, type OperationStep } from "@/lib/instances/operation-steps";

/** Every step's label: a step added to or renamed in the server's list fails the type check here. */
const stepLabels: Record<OperationStep, string> = {
  queued: "Queued",
  minting_key: "Minting key",
  updating_machine: "Updating machine",
  waiting_for_start: "Waiting for start",
  verifying_credential: "Verifying credential",
  stopping_machine: "Stopping machine",
  destroying_machine: "Destroying machine",
};

const verbs: Record<LifecycleOperation, { running: string; done: string; noun: string }> = {
  start: { running: "Starting", done: "Started", noun: "Start" },
  redeploy: { running: "Redeploying", done: "Redeployed", noun: "Redeploy" },
  refresh: { running: "Refreshing the key", done: "Key refreshed", noun: "Key refresh" },
  stop: { running: "Stopping", done: "Stopped", noun: "Stop" },
  destroy: { running: "Destroying", done: "Destroyed", noun: "Destroy" },
};

export function operationNoun(operation: LifecycleOperation): string {
  return verbs[operation].noun;
}

/** `reused`: the mint failed and the still-valid stored key was used instead (the narrow fallback). */
type StepState = "done" | "reused" | "current" | "failed" | "upcoming";

/** Which step an error code means the operation stopped at (undefined: it never got going). */
function failedStep(
  outcome: Extract<RecentOutcome, { status: "error" }>,
  steps: readonly OperationStep[],
  lastSeen: OperationStep | undefined,
): OperationStep | undefined {
  switch (outcome.error.code) {
    case "key_unavailable":
      return steps.includes("minting_key") ? "minting_key" : undefined;
    case "credential_unverified":
      return "verifying_credential";
    case "machine_error":
    case "database_unavailable":
    case "internal_error":
      return lastSeen && steps.includes(lastSeen) ? lastSeen : steps.find((step) => step !== "minting_key");
    default:
      return undefined;
  }
}

function seconds(ms: number): string {
  return `${(Math.max(ms, 0) / 1000).toFixed(1)} s`;
}

/**
 * The running operation step by step (minting key → updating machine → waiting for start →
 * verifying credential), from the server's own progress record, and for a few seconds after this
 * browser's operation ends, how it ended.
 */
export function OperationProgress({ instance, className }: { instance: InstanceDto; className?: string }) {
  const pending = usePendingOperation(instance.id);
  const outcome = useRecentOutcome(instance.id);
  const serverOperation = instance.operation;

  // Remember the last step the server reported, to say where a failed operation stopped.
  const [lastSeen, setLastSeen] = useState<OperationStep | undefined>();
  if (serverOperation?.step && serverOperation.step !== lastSeen) setLastSeen(serverOperation.step);

  let operation: LifecycleOperation;
  let header: string;
  let states: (step: OperationStep, index: number) => StepState;
  let tone: "active" | "success" | "danger";

  if (pending || (serverOperation && !outcome)) {
    operation = serverOperation?.name ?? pending!;
    const steps = STEPS_OF_OPERATION[operation];
    const step = serverOperation && serverOperation.name === operation ? serverOperation.step : null;
    const currentIndex = step ? steps.indexOf(step) : -1;
    const verb = verbs[operation].running;
    header = step && currentIndex >= 0 ? `${verb}: ${stepLabels[step].toLowerCase()} (step ${currentIndex + 1} of ${steps.length})` : `${verb}…`;
    states = (_, index) => (index < currentIndex ? "done" : index === currentIndex ? "current" : "upcoming");
    tone = "active";
  } else if (outcome?.status === "success") {
    operation = outcome.operation;
    const reused = operation !== "stop" && instance.config.keySource === "fallback";
    header = `${verbs[operation].done} in ${seconds(outcome.finishedAt - outcome.startedAt)}${reused ? ", on the previous key" : ""}`;
    states = (step) => (reused && step === "minting_key" ? "reused" : "done");
    tone = "success";
  } else if (outcome?.status === "error") {
    operation = outcome.operation;
    const steps = STEPS_OF_OPERATION[operation];
    const failed = failedStep(outcome, steps, lastSeen);
    if (!failed) return null;
    const failedIndex = steps.indexOf(failed);
    header = `${verbs[operation].noun} failed at: ${stepLabels[failed].toLowerCase()}`;
    states = (_, index) => (index < failedIndex ? "done" : index === failedIndex ? "failed" : "upcoming");
    tone = "danger";
  } else {
    return null;
  }

  const steps = STEPS_OF_OPERATION[operation];
  return (
    <section
      aria-label={`${operationNoun(operation)} progress`}
      data-testid="operation-progress"
      className={cn(
        "rounded-md border px-3 py-2.5",
        tone === "active" && "border-brand-100 bg-brand-50/60",
        tone === "success" && "border-emerald-200 bg-emerald-50/60",
        tone === "danger" && "border-red-200 bg-red-50/60",
        className,
      )}
    >
      <p role="status" className="flex items-center gap-2 text-sm font-medium text-slate-900">
        {tone === "active" ? <Loader2 aria-hidden className="size-4 animate-spin text-brand-600" /> : null}
        {tone === "success" ? <Check aria-hidden className="size-4 text-emerald-600" /> : null}
        {tone === "danger" ? <CircleX aria-hidden className="size-4 text-red-600" /> : null}
        {header}
      </p>
      {steps.length > 1 ? (
        <ol className="mt-2 grid grid-cols-2 gap-x-3 gap-y-1.5 sm:grid-cols-4" aria-label="Steps">
          {steps.map((step, index) => (
            <StepItem
              key={step}
              label={states(step, index) === "reused" ? "Minting failed: reused stored key" : stepLabels[step]}
              state={states(step, index)}
            />
          ))}
        </ol>
      ) : null}
    </section>
  );
}

const stateText: Record<StepState, string> = { done: "done", reused: "fell back", current: "in progress", failed: "failed", upcoming: "not started" };

function StepItem({ label, state }: { label: string; state: StepState }) {
  return (
    <li
      aria-current={state === "current" ? "step" : undefined}
      data-state={state}
      className={cn(
        "flex items-center gap-1.5 text-xs",
        state === "done" && "text-slate-700",
        state === "reused" && "text-amber-800",
        state === "current" && "font-semibold text-brand-700",
        state === "failed" && "font-semibold text-red-700",
        // Quieter than the steps done, and still readable (AA contrast) on the tinted panel.
        state === "upcoming" && "text-slate-600",
      )}
    >
      <span
        aria-hidden
        className={cn(
          "flex size-4 shrink-0 items-center justify-center rounded-full",
          state === "done" && "bg-emerald-600 text-white",
          state === "reused" && "bg-amber-500 text-white",
          state === "current" && "bg-brand-600 text-white",
          state === "failed" && "bg-red-600 text-white",
          state === "upcoming" && "border border-slate-300",
        )}
      >
        {state === "done" ? <Check className="size-3" /> : null}
        {state === "reused" ? <TriangleAlert className="size-2.5" /> : null}
        {state === "current" ? <Loader2 className="size-3 animate-spin" /> : null}
        {state === "failed" ? <CircleX className="size-3" /> : null}
      </span>
      {label}
      <span className="sr-only"> ({stateText[state]})</span>
    </li>
  );
}
