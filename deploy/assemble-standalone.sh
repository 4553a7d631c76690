#!/usr/bin/env bash
# Assembles the runnable control-plane server from a finished `next build` (output: "standalone")
# into OUT_DIR: server.js with the node_modules it uses, the static assets, the committed
# migrations (the server applies them at start) and the gateway program (MACHINE_PROVIDER=local).
# deploy/Dockerfile and .ci/run both call it, so CI starts exactly what the image would contain.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: deploy/assemble-standalone.sh OUT_DIR}
dist=${NEXT_DIST_DIR:-.next}
if [ ! -f "$dist/standalone/server.js" ]; then
  echo "no $dist/standalone/server.js: run the build first (npm run build)" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out/$dist" "$out/db" "$out/gateway"
cp -R "$dist/standalone/." "$out/"
cp -R "$dist/static" "$out/$dist/static"
if [ -d public ]; then cp -R public "$out/public"; fi
cp -R db/migrations "$out/db/migrations"
cp gateway/*.mjs "$out/gateway/"
# Never ship local secrets or data that happened to be in the checkout.
rm -rf "$out"/.env* "$out/.data"
