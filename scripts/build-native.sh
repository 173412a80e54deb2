#!/usr/bin/env bash
# Builds the native training addons:
#   build/kefer_dnnl.node  (native/dnnl_encoder.cc) when oneDNN's headers are installed (Debian: apt-get
#                          install libdnnl-dev g++; elsewhere set DNNL_ROOT to a oneDNN 2.x install);
#   build/kefer_cuda.node  (native/cuda_encoder.cu) when the CUDA compiler is found (CUDA_HOME, nvcc on
#                          PATH, /usr/local/cuda). cuDNN 9 is loaded at run time; at build time its headers,
#                          when found, check the addon's own declarations, and its folder becomes the default
#                          place to load it from. Looked for in: KEFER_CUDNN_DIR / CUDNN_HOME, the
#                          nvidia-cudnn wheel of the python3 on PATH (a PyTorch environment), the system.
# Without them it says what it found and why it skipped: the engine then trains on what is there (onnxruntime
# at worst). Node-API's headers come from npm (node-api-headers), so no node-gyp download is needed.
#   --if-possible   (npm's postinstall) a failed compile is a warning, not an error
#   --cuda=require  fail unless build/kefer_cuda.node is built; --cuda=skip: do not build it
#   env KEFER_CUDNN_HEADERS=0: ignore cudnn.h (no compile-time check of native/cudnn_api.h)
#   env KEFER_CUDA_ARCH (e.g. 90, 86): the GPU architecture to compile for (default: the visible GPU's,
#   else sm_90 machine code + compute_80 PTX); KEFER_BUILD_DIR: output folder (default build/).
set -uo pipefail
cd "$(dirname "$0")/.."
lenient=false
cuda_mode=auto
for arg in "$@"; do
  case "$arg" in
    --if-possible) lenient=true ;;
    --cuda=require|--cuda=auto|--cuda=skip) cuda_mode="${arg#--cuda=}" ;;
    *) echo "build-native: unknown option $arg (--if-possible, --cuda=require|auto|skip)"; exit 2 ;;
  esac
done
out="${KEFER_BUILD_DIR:-build}"
status=0

# Node-API headers: from npm, or copies named by NODE_ADDON_API_DIR / NODE_API_HEADERS_DIR (the device
# machine has no node_modules: bench/gpu/prepare.sh carries them).
addon_api="${NODE_ADDON_API_DIR:-node_modules/node-addon-api}"
api_headers="${NODE_API_HEADERS_DIR:-node_modules/node-api-headers/include}"
if [ ! -f "$addon_api/napi.h" ] || [ ! -f "$api_headers/node_api.h" ]; then
  echo "build-native: node-addon-api / node-api-headers missing (npm ci first)"
  $lenient && exit 0
  exit 1
fi
mkdir -p "$out"
napi=(-DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$addon_api" -I"$api_headers")

build_onednn() {
  local include=/usr/include
  [ -n "${DNNL_ROOT:-}" ] && include="$DNNL_ROOT/include"
  if [ ! -f "$include/oneapi/dnnl/dnnl.hpp" ]; then
    echo "build-native: oneDNN headers not found in $include (apt-get install libdnnl-dev g++); CPU training will use onnxruntime"
    return 0
  fi
  local extra=()
  if [ -n "${DNNL_ROOT:-}" ]; then extra=(-I"$DNNL_ROOT/include" -L"$DNNL_ROOT/lib" -Wl,-rpath,"$DNNL_ROOT/lib"); fi
  if ${CXX:-g++} -std=c++17 -O3 -fPIC -shared -fopenmp -Wall "${napi[@]}" "${extra[@]}" \
    native/dnnl_encoder.cc -o "$out/kefer_dnnl.node.tmp" -ldnnl; then
    mv "$out/kefer_dnnl.node.tmp" "$out/kefer_dnnl.node"
    echo "build-native: $out/kefer_dnnl.node"
  else
    rm -f "$out/kefer_dnnl.node.tmp"
    echo "build-native: compiling the oneDNN addon failed; CPU training will use onnxruntime"
    $lenient || status=1
  fi
}

find_nvcc() {
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then echo "$CUDA_HOME/bin/nvcc"; return; fi
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
  if [ -x /usr/local/cuda/bin/nvcc ]; then echo /usr/local/cuda/bin/nvcc; return; fi
}

# Prints "LIBDIR|INCLUDEDIR" of cuDNN 9 (either may be empty), and where it was found on stderr.
find_cudnn() {
  local root lib="" inc=""
  for root in "${KEFER_CUDNN_DIR:-}" "${CUDNN_HOME:-}"; do
    [ -z "$root" ] && continue
    for d in "$root" "$root/lib" "$root/lib64"; do [ -f "$d/libcudnn.so.9" ] && lib="$d" && break; done
    for d in "$root/include" "$root/../include"; do [ -f "$d/cudnn.h" ] && inc="$(cd "$d" && pwd)" && break; done
    if [ -n "$lib" ]; then echo "cuDNN from $root" >&2; echo "$lib|$inc"; return; fi
  done
  if command -v python3 >/dev/null 2>&1; then
    # The nvidia-cudnn-cu12/-cu13 wheels of a PyTorch environment (nvidia/cudnn/lib, or a newer layout).
    root=$(python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || python3 -c "import nvidia as m; print(list(m.__path__)[0])" 2>/dev/null || true)
    if [ -n "$root" ]; then
      lib=$(find "$root" -maxdepth 4 -name libcudnn.so.9 2>/dev/null | head -1)
      if [ -n "$lib" ]; then
        lib=$(dirname "$lib")
        inc=$(find "$root" -maxdepth 4 -name cudnn.h 2>/dev/null | head -1)
        [ -n "$inc" ] && inc=$(dirname "$inc")
        echo "cuDNN from python3's nvidia wheels ($lib)" >&2
        echo "$lib|$inc"
        return
      fi
    fi
  fi
  lib=$(ldconfig -p 2>/dev/null | awk '/libcudnn\.so\.9 /{print $NF; exit}')
  [ -n "$lib" ] && lib=$(dirname "$lib")
  for d in /usr/include /usr/include/x86_64-linux-gnu /usr/local/cuda/include; do [ -f "$d/cudnn.h" ] && inc="$d" && break; done
  [ -n "$lib$inc" ] && echo "cuDNN from the system (${lib:-no library} / ${inc:-no headers})" >&2
  echo "$lib|$inc"
}

build_cuda() {
  [ "$cuda_mode" = skip ] && { echo "build-native: CUDA addon skipped (--cuda=skip)"; return 0; }
  local nvcc
  nvcc=$(find_nvcc)
  if [ -z "$nvcc" ]; then
    echo "build-native: no CUDA compiler (set CUDA_HOME or put nvcc on PATH); GPU training with --runtime cuda is unavailable"
    [ "$cuda_mode" = require ] && status=1
    return 0
  fi
  local found lib inc
  found=$(find_cudnn)
  lib="${found%%|*}"
  inc="${found##*|}"
  local defs=()
  [ "${KEFER_CUDNN_HEADERS:-1}" = 0 ] && inc=""  # build with our own declarations even where cudnn.h exists
  if [ -n "$inc" ]; then
    defs+=(-DKEFER_HAVE_CUDNN_H -I"$inc")
    echo "build-native: cuDNN headers in $inc: the addon's declarations are checked against them"
  else
    echo "build-native: no cuDNN headers: the addon uses its own declarations (native/cudnn_api.h)"
  fi
  if [ -n "$lib" ]; then
    defs+=(-DKEFER_CUDNN_BUILD_DIR="\"$lib\"")
    echo "build-native: the addon will load cuDNN from $lib (KEFER_CUDNN_DIR overrides)"
  else
    echo "build-native: cuDNN 9 not found here; the addon will look for libcudnn.so.9 at run time (KEFER_CUDNN_DIR)"
  fi
  local arch="${KEFER_CUDA_ARCH:-}"
  if [ -z "$arch" ] && command -v nvidia-smi >/dev/null 2>&1; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
  fi
  local gencode=()
  if [ -n "$arch" ]; then
    gencode=(-gencode "arch=compute_$arch,code=sm_$arch" -gencode "arch=compute_$arch,code=compute_$arch")
  else
    # No GPU visible: Hopper machine code plus PTX that Ampere and newer compile at load time.
    gencode=(-gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80)
    arch="90 + compute_80 PTX"
  fi
  echo "build-native: compiling native/cuda_encoder.cu with $nvcc for sm_$arch"
  if "$nvcc" -std=c++17 -O3 -shared -Xcompiler -fPIC -diag-suppress 177 "${gencode[@]}" "${napi[@]}" "${defs[@]}" \
    native/cuda_encoder.cu -o "$out/kefer_cuda.node.tmp" -ldl; then
    mv "$out/kefer_cuda.node.tmp" "$out/kefer_cuda.node"
    echo "build-native: $out/kefer_cuda.node"
  else
    rm -f "$out/kefer_cuda.node.tmp"
    echo "build-native: compiling the CUDA addon failed; --runtime cuda is unavailable"
    if [ "$cuda_mode" = require ] || ! $lenient; then status=1; fi
  fi
}

build_onednn
build_cuda
exit $status
