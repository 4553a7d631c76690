import { describe, expect, it } from "vitest";
import { formatExact, formatRelative } from "./time";

const now = Date.parse("2026-06-01T12:00:00Z");
const at = (ms: number) => new Date(now + ms).toISOString();
const DAY = 24 * 60 * 60 * 1000;

describe("formatRelative", () => {
  it("says a fresh 30-day key expires in 30 days, and a day later in 29", () => {
    expect(formatRelative(at(30 * DAY), now)).toBe("in 30 days");
    expect(formatRelative(at(29 * DAY - 5 * 60_000), now)).toBe("in 29 days");
  });

  it("uses minutes and hours for nearer times, both ways", () => {
    expect(formatRelative(at(-3 * 60_000), now)).toBe("3 minutes ago");
    expect(formatRelative(at(5 * 60 * 60_000), now)).toBe("in 5 hours");
    expect(formatRelative(at(-DAY), now)).toBe("yesterday");
  });

  it("calls the last few seconds 'just now', and never puts a past event in the future", () => {
    expect(formatRelative(at(-10_000), now)).toBe("just now");
    expect(formatRelative(at(10_000), now)).toBe("in a few seconds");
    expect(formatRelative(at(10_000), now, { past: true })).toBe("just now");
  });
});

describe("formatExact", () => {
  it("shows an unambiguous date and time with its zone", () => {
    expect(formatExact("2026-12-30T03:12:00Z", "UTC")).toBe("30 Dec 2026, 03:12 UTC");
  });
});
