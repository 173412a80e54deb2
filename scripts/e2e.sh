#!/usr/bin/env bash
# Integration (mocha in code-server's extension host) and end-to-end (Playwright in the workbench)
# tests. All are node:test files, so their results appear as `ℹ pass N` / `ℹ fail N` lines.
# Needs chromium and code-server (scripts/install-code-server.sh installs it, idempotently).
# The end-to-end journeys drive the packaged extension: `npm run package` builds the linux-x64 .vsix,
# each journey installs it into an empty extensions folder and runs code-server with the checkout
# hidden (test/e2e/codeServer.ts). The integration suites load the checkout itself.
# The journey runs on two workbenches: code-server 4.100.3 on the system Node 20, and the newest
# code-server (KEFER_E2E_CS2, default 4.139.1) on the Node 24 it declares, with no node on the PATH.
# The packaged CLI runs under Node 20, 22 and 24 (scripts/install-node.sh).
#   KEFER_E2E_ENGINE=fake   the checkout, linked unpacked, with the test-double engine (UI iteration)
#   KEFER_E2E_VSIX=FILE     use this .vsix instead of building one
#   KEFER_E2E_CS2=none      skip the second workbench
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CHROMIUM_PATH:-chromium}" >/dev/null 2>&1 && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "e2e: chromium not found (apt-get install chromium); skipping integration and e2e tests" >&2
  exit 1
fi
bash scripts/install-code-server.sh >/dev/null || { echo "e2e: code-server install failed" >&2; exit 1; }
node esbuild.mjs >/dev/null || { echo "e2e: build failed" >&2; exit 1; }
# realfaces: a FERPlus subset trained from the CLI, browsed in the panel (skips without ../shared/data)
files=(test/e2e/integration.e2e.ts test/e2e/workbench.e2e.ts test/e2e/realfaces.e2e.ts)
real=false
if [ "${KEFER_E2E_ENGINE:-real}" != fake ]; then
  real=true
  if [ -z "${KEFER_E2E_VSIX:-}" ]; then
    node scripts/package.mjs --target linux-x64 || { echo "e2e: npm run package failed" >&2; exit 1; }
    KEFER_E2E_VSIX=$(ls -t "$PWD"/out/kefer-studio-linux-x64-*.vsix | head -1)
  fi
  export KEFER_E2E_VSIX
  echo "e2e: journeys run the installed $KEFER_E2E_VSIX"
  for n in 22 24; do bash scripts/install-node.sh "$n" >/dev/null || echo "e2e: Node $n could not be installed: its packaged-CLI test will skip" >&2; done
  files+=(test/e2e/packaged.e2e.ts test/e2e/packaged-cli.e2e.ts)
fi
rc=0
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || rc=$?
cs2=${KEFER_E2E_CS2:-4.139.1}
if $real && [ "$cs2" != none ]; then
  if bash scripts/install-code-server.sh "$cs2" >/dev/null; then
    echo "e2e: the journey again on code-server $cs2 (its own Node, no node on PATH)"
    KEFER_E2E_CS=$cs2 node --import tsx --test --test-concurrency=1 --test-reporter=spec test/e2e/workbench.e2e.ts || rc=$?
  else
    echo "e2e: code-server $cs2 install failed" >&2
    echo "ℹ fail 1"
    rc=1
  fi
fi
exit $rc
