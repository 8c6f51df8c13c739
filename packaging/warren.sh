#!/bin/sh
# Runs Warren on the Node runtime the package brings (no Node needed on the machine).
# Fewer V8 helper threads and a small young generation: most of the agent's idle memory.
exec /usr/lib/warren/runtime/node --disable-warning=DEP0123 --v8-pool-size=2 --max-semi-space-size=1 \
  --import /usr/lib/warren/dist/polyfill.mjs /usr/lib/warren/dist/main.mjs "$@"
