import { describe, expect, it } from "vitest";
import { redact } from "./logger";

describe("redact", () => {
  it("removes JWT-shaped strings, secret-named fields and query parameters", () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJraWxvVXNlcklkIjoiMSJ9.c2lnbmF0dXJlLXZhbHVl";
    const queryError = new Error(`Failed query: update "instances" set "encrypted_key" = $1\nparams: v1.iv.tag.ciphertext,pf_123`);
    const redacted = JSON.stringify(
      redact({ note: `key ${jwt}`, apiKey: "anything", password: "hunter22", keyId: "key_abc", error: queryError }),
    );
    expect(redacted).not.toContain(jwt);
    expect(redacted).not.toContain("hunter22");
    expect(redacted).not.toContain("ciphertext");
    expect(redacted).toContain("key_abc");
    expect(redacted).toContain("Failed query: update");
  });
});
