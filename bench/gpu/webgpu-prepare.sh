#!/usr/bin/env bash
# Builds the folder bench/gpu/webgpu.sh needs on the device machine (no network, no node_modules,
# maybe no node) into .kefer/gpu-bench (ignored; pass it in `carry`):
#   step.mjs                       bench/gpu/step.ts + tfjs bundled (esbuild)
#   node_modules/webgpu/           the `webgpu` package's loader + linux-x64 dawn.node only
#   node.xz                        this machine's node (x86-64 Linux), xz-compressed; used there
#                                  only when no node >= 20 is on PATH
#   debs/*.deb                     Vulkan loader + GL vendor-neutral dispatch (amd64), unpacked
#                                  there with dpkg -x (/work/.library/device/README.md)
# Prints the folder's size: it must stay well under the 64 MiB the tree and carries share.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.kefer/gpu-bench
rm -rf "$out"
mkdir -p "$out/node_modules/webgpu/dist/linux-x64" "$out/debs"
node bench/gpu/bundle.mjs "$out/step.mjs"
w=node_modules/webgpu
cp "$w/package.json" "$w/index.js" "$out/node_modules/webgpu/"
cp "$w/dist/linux-x64/dawn.node" "$out/node_modules/webgpu/dist/linux-x64/"
[[ $(uname -m) == x86_64 ]] || { echo "webgpu-prepare.sh: run on x86-64 (node.xz is this machine's node)" >&2; exit 1; }
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >"$out/node.xz"
# amd64 package lists in /tmp so this machine's own apt state is untouched.
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/kefer-amd64-lists)
mkdir -p /tmp/kefer-amd64-lists/partial
apt-get "${o[@]}" update -qq
(cd "$out/debs" && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh "$out"/* "$out"
echo "carry: .kefer/gpu-bench   (tracked tree: $(git ls-files -z | du -ch --files0-from=- | tail -1 | cut -f1))"
