#!/usr/bin/env bash
# npm run bench:wino [-- BATCH REPS]: compiles bench/wino/layers.cc (needs libdnnl-dev and g++, as the addon
# does) into build/ and runs it with oneDNN capped at AVX2, one OpenMP thread per core.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build
g++ -std=c++17 -O3 -fopenmp -Wall bench/wino/layers.cc -o build/bench-wino -ldnnl
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
grep -qw avx512f /proc/cpuinfo && echo "isa: AVX-512 CPU, oneDNN capped at AVX2" || echo "isa: $(grep -qw avx2 /proc/cpuinfo && echo AVX2 || echo 'no AVX2')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
DNNL_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}" build/bench-wino "$@"
