/** Next.js calls this once when a server process starts. */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { installPeerAddressHeader } = await import("./lib/http/peer-address");
  installPeerAddressHeader();
  const { startBackgroundScheduler } = await import("./lib/scheduler/background");
  startBackgroundScheduler();
}
