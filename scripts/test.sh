#!/usr/bin/env bash
# Runs the project's test suites with node's built-in runner (TypeScript through tsx).
# Usage: scripts/test.sh [engine|extension|e2e|all]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
# Tests compare against tfjs on the CPU; a machine whose only Vulkan device is a software rasteriser
# (lavapipe) would otherwise hand onnxruntime's WebGPU provider a very slow adapter.
export KEFER_ORT_PROVIDERS=${KEFER_ORT_PROVIDERS:-cpu}
files=()
if [[ $what == engine || $what == all ]]; then
  while IFS= read -r f; do files+=("$f"); done < <(find test/engine -name '*.test.ts' 2>/dev/null | sort)
fi
if [[ $what == unit || $what == all ]]; then
  while IFS= read -r f; do files+=("$f"); done < <(find test/unit -name '*.test.ts' 2>/dev/null | sort)
fi
rc=0
if [[ ${#files[@]} -gt 0 ]]; then
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || rc=$?
fi
if [[ ($what == e2e || $what == all) && -x scripts/e2e.sh ]]; then
  bash scripts/e2e.sh || rc=$?
fi
exit $rc
