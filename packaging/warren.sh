#!/bin/sh
# Runs Warren on the Node runtime the package brings (no Node needed on the machine).
# Fewer V8 helper threads, a small young generation and V8's memory-over-speed mode: most of the
# agent's idle memory (README "Footprint").
exec /usr/lib/warren/runtime/node --disable-warning=DEP0123 --v8-pool-size=2 --max-semi-space-size=1 --optimize-for-size \
  --import /usr/lib/warren/dist/polyfill.mjs /usr/lib/warren/dist/main.mjs "$@"
