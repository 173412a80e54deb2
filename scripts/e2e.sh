#!/usr/bin/env bash
# Integration (mocha in code-server's extension host) and end-to-end (Playwright in the workbench)
# tests. All are node:test files, so their results appear as `ℹ pass N` / `ℹ fail N` lines.
# Needs chromium and code-server (scripts/install-code-server.sh installs it, idempotently).
# The end-to-end journeys drive the packaged extension: `npm run package` builds the linux-x64 .vsix,
# each journey installs it into an empty extensions folder and runs code-server with the checkout
# hidden (test/e2e/codeServer.ts). The integration suites load the checkout itself.
#   KEFER_E2E_ENGINE=fake   the checkout, linked unpacked, with the test-double engine (UI iteration)
#   KEFER_E2E_VSIX=FILE     use this .vsix instead of building one
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CHROMIUM_PATH:-chromium}" >/dev/null 2>&1 && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "e2e: chromium not found (apt-get install chromium); skipping integration and e2e tests" >&2
  exit 1
fi
bash scripts/install-code-server.sh >/dev/null || { echo "e2e: code-server install failed" >&2; exit 1; }
node esbuild.mjs >/dev/null || { echo "e2e: build failed" >&2; exit 1; }
files=(test/e2e/integration.e2e.ts test/e2e/workbench.e2e.ts)
if [ "${KEFER_E2E_ENGINE:-real}" != fake ]; then
  if [ -z "${KEFER_E2E_VSIX:-}" ]; then
    node scripts/package.mjs || { echo "e2e: npm run package failed" >&2; exit 1; }
    KEFER_E2E_VSIX=$(ls -t "$PWD"/out/kefer-studio-*.vsix | head -1)
  fi
  export KEFER_E2E_VSIX
  echo "e2e: journeys run the installed $KEFER_E2E_VSIX"
  files+=(test/e2e/packaged.e2e.ts)
fi
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
