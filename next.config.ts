import type { NextConfig } from "next";
import { API_CONTENT_SECURITY_POLICY, staticSecurityHeaders } from "./lib/http/security-headers";

const nextConfig: NextConfig = {
  // PGlite loads its wasm at runtime and ws masks frames with optional native helpers;
  // bundling either breaks them, so both stay plain Node packages.
  serverExternalPackages: ["@electric-sql/pglite", "ws", "pg"],
  poweredByHeader: false,
  // A self-contained server (`.next/standalone/server.js` with only the node_modules it uses) for
  // deploy/Dockerfile; `next start` keeps working as before.
  output: "standalone",
  // Lets two builds (say, an e2e run and a benchmark) live side by side in one checkout.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  // `npm run typecheck` is the one type gate: `npm run build` and `npm test` both run it first,
  // so the build does not type-check the project a second time.
  typescript: { ignoreBuildErrors: true },
  // Pages get their nonce-based CSP from proxy.ts; everything gets the rest.
  async headers() {
    const production = process.env.NODE_ENV === "production";
    return [
      { source: "/:path*", headers: staticSecurityHeaders(production) },
      { source: "/api/:path*", headers: [{ key: "Content-Security-Policy", value: API_CONTENT_SECURITY_POLICY }] },
    ];
  },
};

export default nextConfig;
