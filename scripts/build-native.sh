#!/usr/bin/env bash
# Builds the oneDNN training addon (native/dnnl_encoder.cc -> build/kefer_dnnl.node) when oneDNN's headers
# are installed (Debian: apt-get install libdnnl-dev g++; elsewhere set DNNL_ROOT to a oneDNN 2.x install).
# Without them it says so and exits 0: the engine then trains on onnxruntime. Node-API's headers come from
# npm (node-api-headers), so no node-gyp download of Node's sources is needed.
#   --if-possible   (npm's postinstall) a failed compile is a warning, not an error
set -uo pipefail
cd "$(dirname "$0")/.."
lenient=false
[ "${1:-}" = "--if-possible" ] && lenient=true
include=/usr/include
[ -n "${DNNL_ROOT:-}" ] && include="$DNNL_ROOT/include"
if [ ! -f "$include/oneapi/dnnl/dnnl.hpp" ]; then
  echo "build-native: oneDNN headers not found in $include (apt-get install libdnnl-dev g++); training will use onnxruntime"
  exit 0
fi
if [ ! -f node_modules/node-addon-api/napi.h ] || [ ! -d node_modules/node-api-headers/include ]; then
  echo "build-native: node-addon-api / node-api-headers missing (npm ci first)"
  $lenient && exit 0
  exit 1
fi
mkdir -p build
extra=()
if [ -n "${DNNL_ROOT:-}" ]; then extra=(-I"$DNNL_ROOT/include" -L"$DNNL_ROOT/lib" -Wl,-rpath,"$DNNL_ROOT/lib"); fi
if ${CXX:-g++} -std=c++17 -O3 -fPIC -shared -fopenmp -Wall \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -Inode_modules/node-addon-api -Inode_modules/node-api-headers/include "${extra[@]}" \
  native/dnnl_encoder.cc -o build/kefer_dnnl.node.tmp -ldnnl; then
  mv build/kefer_dnnl.node.tmp build/kefer_dnnl.node
  echo "build-native: build/kefer_dnnl.node"
else
  rm -f build/kefer_dnnl.node.tmp
  echo "build-native: compiling the oneDNN addon failed; training will use onnxruntime"
  $lenient && exit 0
  exit 1
fi
