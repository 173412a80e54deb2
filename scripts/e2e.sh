#!/usr/bin/env bash
# Integration (mocha in code-server's extension host) and end-to-end (Playwright in the workbench)
# tests. Both are node:test files, so their results appear as `ℹ pass N` / `ℹ fail N` lines.
# Needs chromium and code-server (scripts/install-code-server.sh installs it, idempotently).
# KEFER_E2E_ENGINE=real runs the real `kefer` CLI instead of the test double in test/fixtures.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CHROMIUM_PATH:-chromium}" >/dev/null 2>&1 && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "e2e: chromium not found (apt-get install chromium); skipping integration and e2e tests" >&2
  exit 1
fi
bash scripts/install-code-server.sh >/dev/null || { echo "e2e: code-server install failed" >&2; exit 1; }
node esbuild.mjs >/dev/null || { echo "e2e: build failed" >&2; exit 1; }
node --import tsx --test --test-concurrency=1 --test-reporter=spec test/e2e/integration.e2e.ts test/e2e/workbench.e2e.ts
