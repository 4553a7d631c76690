import { describe, expect, it, vi } from "vitest";
import { AppError, isAppError } from "./errors";
import { isMachineError, MachineError } from "./machines/types";

/** A second copy of the modules, as Next gives each bundle (instrumentation, every route) its own. */
async function otherBundle() {
  vi.resetModules();
  const errors = await import("./errors");
  const machines = await import("./machines/types");
  return { AppError: errors.AppError, MachineError: machines.MachineError };
}

describe("errors are recognised by brand across module copies", () => {
  it("recognises AppError, its subclasses and MachineError made by another copy of the class", async () => {
    const other = await otherBundle();
    const appError = new other.AppError("not_found", "No such instance.");
    class TimeoutError extends other.AppError {}
    const machineError = new other.MachineError("not_found", "machine gone", { status: 404 });

    expect(appError instanceof AppError).toBe(false);
    expect(isAppError(appError)).toBe(true);
    expect(isAppError(new TimeoutError("key_unavailable", "timed out"))).toBe(true);
    expect(machineError instanceof MachineError).toBe(false);
    expect(isMachineError(machineError)).toBe(true);
  });

  it("does not take look-alikes or each other for the real thing", () => {
    expect(isAppError(new MachineError("upstream", "x"))).toBe(false);
    expect(isMachineError(new AppError("conflict", "x"))).toBe(false);
    expect(isAppError({ name: "AppError", code: "not_found", status: 404, message: "x" })).toBe(false);
    expect(isMachineError(Object.assign(new Error("x"), { name: "MachineError", kind: "not_found" }))).toBe(false);
    expect(isAppError(null)).toBe(false);
  });
});
