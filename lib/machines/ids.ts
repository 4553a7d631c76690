import { randomBytes } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A machine id shaped like Fly's: 14 lowercase hex characters. */
export function newMachineId(): string {
  return randomBytes(7).toString("hex");
}

/**
 * A machine version shaped like Fly's: a 26-character ULID (48-bit millisecond time + 80 random bits,
 * Crockford base32). Versions sort by creation time, which makes logs easier to read; nothing relies on it.
 */
export function newMachineVersion(now: number = Date.now()): string {
  let time = "";
  let remaining = now;
  for (let i = 0; i < 10; i += 1) {
    time = CROCKFORD[remaining % 32] + time;
    remaining = Math.floor(remaining / 32);
  }
  const random = randomBytes(16);
  let tail = "";
  for (let i = 0; i < 16; i += 1) tail += CROCKFORD[random[i]! % 32];
  return time + tail;
}
