#!/usr/bin/env bash
# What CI can prove about the production artifact without a container engine: assemble the server
# exactly as deploy/Dockerfile does (deploy/assemble-standalone.sh after the build), start it from
# that output the way the image's CMD does (`node server.js`, NODE_ENV=production, a clean
# environment) against a fresh database on $TEST_DATABASE_URL's server, then check that
# /api/ready turns 200 (migrations applied at start), /sign-in renders, /api/metrics refuses a
# missing token, and a live scrape passes `promtool check metrics` with the fleet gauges in it.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL server (the script creates and drops its own database)}"

work=$(mktemp -d /tmp/fleetdeck-standalone.XXXXXX)
db="fleetdeck_standalone_$(date +%s)_$$"
server_pid=""
admin() { node -e 'const pg=require("pg");const c=new pg.Client({connectionString:process.argv[1]});c.connect().then(()=>c.query(process.argv[2])).then(()=>c.end(),e=>{console.error(e.message);process.exit(1)})' "$TEST_DATABASE_URL" "$1"; }
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM -- "-$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  admin "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

bash deploy/assemble-standalone.sh "$work/app"
admin "CREATE DATABASE $db"
database_url=$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$TEST_DATABASE_URL" "$db")
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
base="http://127.0.0.1:$port"
secret() { node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))'; }
metrics_token=$(secret)

(
  cd "$work/app"
  exec setsid env -i PATH="$PATH" HOME="$work" NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 \
    HOSTNAME=127.0.0.1 PORT="$port" NEXTAUTH_URL="$base" DATABASE_URL="$database_url" \
    NEXTAUTH_SECRET="$(secret)" INTERNAL_API_SECRET="$(secret)" CRON_SECRET="$(secret)" \
    KEY_ENCRYPTION_KEY="$(secret)" GATEWAY_TOKEN_SECRET="$(secret)" METRICS_TOKEN="$metrics_token" \
    node server.js
) >"$work/server.log" 2>&1 &
server_pid=$!

fail() { echo "standalone smoke: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2; exit 1; }
started=$(date +%s)
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/ready")" = 200 ]; do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
  [ $(( $(date +%s) - started )) -lt 60 ] || fail "/api/ready was not 200 within 60 s"
  sleep 0.5
done
echo "ready after $(( $(date +%s) - started )) s: $(curl -s "$base/api/ready")"

curl -sf "$base/sign-in" | grep -q "Sign in" || fail "/sign-in did not render"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/metrics")" = 401 ] || fail "/api/metrics without a token was not 401"
curl -sf -H "Authorization: Bearer $metrics_token" "$base/api/metrics" >"$work/scrape.txt" || fail "the scrape failed"
grep -q '^fleetdeck_instances{status="running"} 0$' "$work/scrape.txt" || fail "the scrape has no fleet gauges"
promtool check metrics <"$work/scrape.txt" || fail "promtool check metrics rejected the scrape"
echo "standalone smoke: ready, /sign-in and a clean scrape ($(grep -c '^fleetdeck_' "$work/scrape.txt") fleetdeck samples)"
