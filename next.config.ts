import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // PGlite loads its wasm at runtime and ws masks frames with optional native helpers;
  // bundling either breaks them, so both stay plain Node packages.
  serverExternalPackages: ["@electric-sql/pglite", "ws", "pg"],
  poweredByHeader: false,
  typedRoutes: false,
};

export default nextConfig;
