import { createHmac } from "node:crypto";

/**
 * The bearer token that authorises `POST /env/patch` on one instance's gateway:
 * HMAC-SHA256(GATEWAY_TOKEN_SECRET, "fleetdeck-gateway-token:v1:" + instanceId), hex.
 *
 * Deterministic, so it is never stored: the control plane derives it again for every push and puts it
 * in the machine's env as GATEWAY_TOKEN. One instance's token says nothing about another's. Rotating
 * GATEWAY_TOKEN_SECRET invalidates every token; gateways pick up the new one at their next update.
 */
export function gatewayTokenFor(instanceId: string, secret: string): string {
  if (!instanceId) throw new Error("gatewayTokenFor: instanceId is required");
  if (secret.length < 32) throw new Error("gatewayTokenFor: GATEWAY_TOKEN_SECRET must be at least 32 characters");
  return createHmac("sha256", secret).update(`fleetdeck-gateway-token:v1:${instanceId}`).digest("hex");
}
