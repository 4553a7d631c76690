import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AppError } from "@/lib/errors";
import { decryptApiKey, encryptApiKey, requireEncryptionKey } from "./encryption";
import { keyIdOf, pepperFingerprint } from "./fingerprints";

const encryptionKey = randomBytes(32);
const instanceId = randomUUID();
const token = "eyJhbGciOiJIUzI1NiJ9.eyJraWxvVXNlcklkIjoiYSJ9.c2lnbmF0dXJl";

describe("encryptApiKey / decryptApiKey", () => {
  it("round-trips, and the stored form is versioned and does not contain the key", () => {
    const stored = encryptApiKey(token, { encryptionKey, instanceId });
    expect(stored).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(Buffer.from(token).toString("base64url"));
    expect(decryptApiKey(stored, { encryptionKey, instanceId })).toBe(token);
  });

  it("uses a fresh IV every time", () => {
    const first = encryptApiKey(token, { encryptionKey, instanceId });
    const second = encryptApiKey(token, { encryptionKey, instanceId });
    expect(first).not.toBe(second);
    expect(first.split(".")[1]).not.toBe(second.split(".")[1]);
  });

  it.each([
    ["another encryption key", (stored: string) => ({ stored, key: randomBytes(32), id: instanceId })],
    ["another instance's row", (stored: string) => ({ stored, key: encryptionKey, id: randomUUID() })],
    ["a flipped ciphertext byte", (stored: string) => {
      const parts = stored.split(".");
      const body = Buffer.from(parts[3]!, "base64url");
      body[0] = body[0]! ^ 1;
      return { stored: [...parts.slice(0, 3), body.toString("base64url")].join("."), key: encryptionKey, id: instanceId };
    }],
    ["a replaced tag", (stored: string) => {
      const parts = stored.split(".");
      return { stored: [parts[0], parts[1], randomBytes(16).toString("base64url"), parts[3]].join("."), key: encryptionKey, id: instanceId };
    }],
    ["an unknown format", () => ({ stored: "v9.a.b.c", key: encryptionKey, id: instanceId })],
    ["plaintext", () => ({ stored: token, key: encryptionKey, id: instanceId })],
  ])("refuses %s with key_unavailable", (_, alter) => {
    const { stored, key, id } = alter(encryptApiKey(token, { encryptionKey, instanceId }));
    let caught: unknown;
    try {
      decryptApiKey(stored, { encryptionKey: key, instanceId: id });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe("key_unavailable");
    expect((caught as AppError).message).not.toContain(token);
  });

  it("requireEncryptionKey: misconfigured without KEY_ENCRYPTION_KEY, bytes with it", () => {
    expect(() => requireEncryptionKey({ KEY_ENCRYPTION_KEY: undefined })).toThrow(
      expect.objectContaining({ code: "misconfigured" }),
    );
    const hex = encryptionKey.toString("hex");
    expect(requireEncryptionKey({ KEY_ENCRYPTION_KEY: hex }).equals(encryptionKey)).toBe(true);
    expect(requireEncryptionKey({ KEY_ENCRYPTION_KEY: encryptionKey.toString("base64") }).equals(encryptionKey)).toBe(true);
  });
});

describe("key ids and pepper fingerprints", () => {
  it("keyIdOf is short, stable, display-safe and differs per key", () => {
    expect(keyIdOf(token)).toMatch(/^key_[0-9a-f]{12}$/);
    expect(keyIdOf(token)).toBe(keyIdOf(token));
    expect(keyIdOf(`${token}x`)).not.toBe(keyIdOf(token));
    expect(token).not.toContain(keyIdOf(token).slice(4));
  });

  it("pepperFingerprint never contains the pepper", () => {
    const pepper = randomBytes(24).toString("hex");
    expect(pepperFingerprint(pepper)).toMatch(/^pf_[0-9a-f]{12}$/);
    expect(pepper).not.toContain(pepperFingerprint(pepper).slice(3));
    expect(pepperFingerprint(pepper)).not.toBe(pepperFingerprint(randomBytes(24).toString("hex")));
  });
});
