import { describe, expect, it } from "vitest";
import { instanceStatusValues } from "@/lib/admin/schemas";
import { canStart, canStop, isChanging, isGone } from "./availability";

describe("what the UI offers on an instance", () => {
  it("offers Start to instances that never ran, were stopped or failed, and Stop to those running or on their way up", () => {
    expect(instanceStatusValues.filter(canStart)).toEqual(["provisioned", "stopped", "failed"]);
    expect(instanceStatusValues.filter(canStop)).toEqual(["starting", "running", "restarting"]);
  });

  it("never offers both, and nothing on an instance that is gone or going", () => {
    for (const status of instanceStatusValues) expect(canStart(status) && canStop(status)).toBe(false);
    expect(instanceStatusValues.filter(isGone)).toEqual(["destroying", "destroyed"]);
  });

  it("holds the controls while an operation runs or the machine is between states", () => {
    expect(isChanging({ status: "running", operation: null })).toBe(false);
    expect(isChanging({ status: "running", operation: { name: "refresh", step: "minting_key" } })).toBe(true);
    expect(instanceStatusValues.filter((status) => isChanging({ status, operation: null }))).toEqual(["starting", "stopping", "restarting", "destroying"]);
  });
});
