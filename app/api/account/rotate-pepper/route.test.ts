import { describe, expect, it } from "vitest";
import { POST } from "./route";

const url = "http://localhost/api/account/rotate-pepper";
const call = (headers: Record<string, string>) => POST(new Request(url, { method: "POST", headers }), { params: Promise.resolve({}) });

describe("POST /api/account/rotate-pepper", () => {
  it("401 without a signed-in user, before touching anything", async () => {
    const response = await call({ origin: "http://localhost", "content-type": "application/json" });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
  });

  it("403 csrf_rejected for what a cross-site form can send, before the session is even read", async () => {
    const crossSite: Record<string, string>[] = [{}, { "content-type": "text/plain" }, { "content-type": "application/json", origin: "https://evil.example" }];
    for (const headers of crossSite) {
      const response = await call(headers);
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ error: { code: "csrf_rejected", message: expect.any(String) } });
    }
  });
});
