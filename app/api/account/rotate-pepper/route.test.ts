import { describe, expect, it } from "vitest";
import { POST } from "./route";

describe("POST /api/account/rotate-pepper", () => {
  it("401 without a signed-in user, before touching anything, whatever the request looks like", async () => {
    const crossSite: Record<string, string>[] = [{ origin: "http://localhost", "content-type": "application/json" }, {}, { "content-type": "text/plain" }];
    for (const headers of crossSite) {
      const response = await POST(new Request("http://localhost/api/account/rotate-pepper", { method: "POST", headers }), { params: Promise.resolve({}) });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    }
  });
});
