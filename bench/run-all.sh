#!/usr/bin/env bash
# `npm run bench`: every benchmark in turn, each printing its own figures and ratios. The builds go
# to NEXT_DIST_DIR (default .next-bench) so the tests' .next is left alone.
set -euo pipefail
export NEXT_DIST_DIR="${NEXT_DIST_DIR:-.next-bench}"
npm run --silent bench:tokens -- --build
npm run --silent bench:lifecycle
npm run --silent bench:revoke
npm run --silent bench:rekey
npm run --silent bench:sign-in
npm run --silent bench:jobs
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  npm run --silent bench:admin
  npm run --silent bench:metrics
else
  echo "bench:admin and bench:metrics skipped: they need TEST_DATABASE_URL (a PostgreSQL server to seed 100,000 instances in)."
fi
