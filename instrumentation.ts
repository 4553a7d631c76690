/** Next.js calls this once when a server process starts. */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { installPeerAddressHeader } = await import("./lib/http/peer-address");
  installPeerAddressHeader();
  if (process.env.NODE_ENV === "production" && process.env.NEXT_PHASE !== "phase-production-build") {
    (await import("./lib/health/readiness")).openDatabaseAtStart();
  }
  const { startBackgroundScheduler } = await import("./lib/scheduler/background");
  startBackgroundScheduler();
}
