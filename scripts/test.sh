#!/usr/bin/env bash
# The whole test suite: installs what is missing (as scripts/setup.sh --test), starts dockerd
# when it is not running, type-checks, then runs every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "test: type-checking"
npx --no-install tsc --noEmit -p .
echo "test: running unit and integration tests"
# spec for people; then the slowest files, to keep the suite within its time budget
exec node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./test/helpers/file-times-reporter.mjs --test-reporter-destination=stdout \
  test/unit-all.ts test/integration/*.test.ts
