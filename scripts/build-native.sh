#!/usr/bin/env bash
# Builds the oneDNN training addon (native/dnnl_encoder.cc -> build/kefer_dnnl.node) when oneDNN's headers
# are installed (Debian: apt-get install libdnnl-dev g++). Without them it says so and exits 0: the engine
# then trains on onnxruntime, as before. Node-API headers come from npm (node-api-headers), so no node-gyp
# download of Node's sources is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ] && [ ! -f "${DNNL_ROOT:-/nonexistent}/include/oneapi/dnnl/dnnl.hpp" ]; then
  echo "build-native: oneDNN headers not found (apt-get install libdnnl-dev); the onednn training runtime is not built"
  exit 0
fi
mkdir -p build
extra=()
if [ -n "${DNNL_ROOT:-}" ]; then extra=(-I"$DNNL_ROOT/include" -L"$DNNL_ROOT/lib" -Wl,-rpath,"$DNNL_ROOT/lib"); fi
${CXX:-g++} -std=c++17 -O3 -fPIC -shared -fopenmp -Wall \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -Inode_modules/node-addon-api -Inode_modules/node-api-headers/include "${extra[@]}" \
  native/dnnl_encoder.cc -o build/kefer_dnnl.node -ldnnl
echo "build-native: build/kefer_dnnl.node"
