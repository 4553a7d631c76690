import { describe, expect, it } from "vitest";
import { describeEvent } from "./event-list";
import type { InstanceEventDto } from "@/lib/instances/dto";

function event(overrides: Partial<InstanceEventDto>): InstanceEventDto {
  return {
    id: 1,
    action: "redeploy",
    outcome: "success",
    actorType: "user",
    actorId: null,
    keySource: "minted",
    keyId: "key_abc",
    errorCode: null,
    errorMessage: null,
    durationMs: 1200,
    createdAt: "2026-06-01T12:00:00.000Z",
    ...overrides,
  };
}

describe("describeEvent", () => {
  it("says whether a deploy got a fresh key or fell back to the stored one", () => {
    expect(describeEvent(event({}))).toBe("Redeployed with a fresh key");
    expect(describeEvent(event({ keySource: "fallback" }))).toBe("Redeployed, reusing its stored key (a fresh key could not be minted)");
    expect(describeEvent(event({ action: "start" }))).toBe("Started with a fresh key");
  });

  it("says plainly that an operation was cut short and taken over", () => {
    expect(describeEvent(event({ action: "operation_interrupted", outcome: "failure" }))).toBe(
      "An unfinished operation was taken over after its server stopped responding",
    );
  });

  it("names failures and no-ops plainly", () => {
    expect(describeEvent(event({ outcome: "failure" }))).toBe("Redeploy failed");
    expect(describeEvent(event({ action: "start", outcome: "noop" }))).toBe("Start requested; it was already running");
    expect(describeEvent(event({ action: "stop", outcome: "noop" }))).toBe("Stop requested; it was already stopped");
  });

  it("explains key events and falls back to the action's own name", () => {
    expect(describeEvent(event({ action: "key_revoked" }))).toBe("Key revoked, together with all your other API keys");
    expect(describeEvent(event({ action: "something_new", outcome: "failure" }))).toBe("Something new (failed)");
  });
});
