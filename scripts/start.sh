#!/usr/bin/env bash
# Quick start: installs what is missing, then runs a single-node Warren agent in the foreground.
# Extra arguments go to `warren agent` (see bin/warren agent --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bin/warren agent "$@"
