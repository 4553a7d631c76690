import { describe, expect, it } from "vitest";
import { safeCallback } from "./sign-in-form";

describe("safeCallback", () => {
  const origin = "https://fleetdeck.example";
  it.each([
    ["/instances/abc?tab=events#top", "/instances/abc?tab=events#top"],
    [undefined, "/dashboard"],
    ["//evil.example/path", "/dashboard"],
    ["/\\evil.example", "/dashboard"],
    ["/\t/evil.example", "/dashboard"],
    ["https://evil.example/", "/dashboard"],
    ["javascript:alert(1)", "/dashboard"],
  ])("%s → %s", (input, expected) => {
    expect(safeCallback(input, origin)).toBe(expected);
  });
});
