#!/usr/bin/env bash
# Builds the folder bench/gpu/run.sh needs on the device machine (no network, no node_modules, maybe no
# node) into .kefer/gpu-cuda (ignored; pass it in `carry`):
#   *.cjs          the CUDA tests, test/engine/headReference.test.ts, bench/gpu/cudaStep.ts and cudaEpoch.ts
#                  and the input pipeline's worker, bundled with tfjs (bench/gpu/bundle-cuda.mjs)
#   napi/          the Node-API headers (node-addon-api, node-api-headers) to compile the addon there
#   wasm/          tfjs-backend-wasm's binaries (the tests train a tfjs reference run on wasm)
#   synthetic/     the tiny synthetic set the trainer test uses (sharp, which writes it, stays here)
#   ferplus.tar    FER2013Train PNGs + their label.csv rows, as many as fit KEFER_EPOCH_MB (default 24)
#                  MB: the end-to-end epoch's data (all 28,558 do not fit the 64 MiB a call carries)
#   node.xz        this machine's node, used there only when no node >= 20 is on PATH
# Prints the folder's size: with the tracked tree it must stay under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.kefer/gpu-cuda
data=${KEFER_SHARED_DATA:-../shared/data}
[[ $(uname -m) == x86_64 ]] || { echo "prepare.sh: run on x86-64 (node.xz is this machine's node)" >&2; exit 1; }
[[ -d $data/ferplus/data/FER2013Train ]] || { echo "prepare.sh: no FERPlus at $data/ferplus (KEFER_SHARED_DATA)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/napi/node-addon-api" "$out/napi/node-api-headers" "$out/wasm"
node bench/gpu/bundle-cuda.mjs "$out"
cp node_modules/node-addon-api/*.h "$out/napi/node-addon-api/"
cp node_modules/node-api-headers/include/*.h "$out/napi/node-api-headers/"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$out/wasm/"
# Same parameters as test/engine/train-helpers.ts tinyTrainData().
node --import tsx -e "require('./src/engine/data/synthetic.ts').generateSyntheticDataset('$out/synthetic', { perClass: 5, classes: 7, seed: 3, size: 16 }).then(() => {}, (e) => { console.error(e); process.exit(1); })"
# FER2013Train: label.csv rows in order while their PNGs fit the budget.
budget=$(( ${KEFER_EPOCH_MB:-24} * 1000000 ))
stage=$(mktemp -d)
mkdir -p "$stage/ferplus/data/FER2013Train"
train=$data/ferplus/data/FER2013Train
python3 - "$train" "$stage/ferplus/data/FER2013Train" "$budget" <<'PY'
import os, shutil, sys
src, dst, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
used, rows = 0, []
for line in open(os.path.join(src, "label.csv")):
    name = line.split(",", 1)[0].strip()
    f = os.path.join(src, name)
    if not name or not os.path.exists(f):
        continue
    size = os.path.getsize(f)
    if used + size + 512 > budget:
        break
    shutil.copyfile(f, os.path.join(dst, name))
    used += size + 512
    rows.append(line)
open(os.path.join(dst, "label.csv"), "w").writelines(rows)
print(f"ferplus subset: {len(rows)} of FER2013Train's PNGs, {used / 1e6:.1f} MB")
PY
tar -C "$stage" -cf "$out/ferplus.tar" ferplus
rm -rf "$stage"
# node.xz is kept beside the folder between runs (compressing it takes minutes on 2 cores).
cached=.kefer/node-$(node --version).xz
[[ -f $cached ]] || xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >"$cached"
cp "$cached" "$out/node.xz"
du -sh --apparent-size "$out"/* "$out"
echo "tracked tree: $(git ls-files -z | du -ch --apparent-size --files0-from=- | tail -1 | cut -f1); carry: .kefer/gpu-cuda"
