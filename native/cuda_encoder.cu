// The KE-FER training step on NVIDIA GPUs with cuDNN (the library PyTorch's CUDA convolutions use), as a
// Node addon. It interprets the same op list as the oneDNN addon (src/engine/native/spec.ts: conv, BatchNorm
// with an optional fused ReLU, residual add with an optional ReLU, max-pool, global average pool) and adds
// the KE-FER head (F_n + Ls, Lt, Lc; src/engine/native/headReference.ts states the same math on the host,
// tested against tfjs) and torch.optim.SGD, so one trainStep() makes no host round trip but the loss read.
//
// Weights, gradients and momentum live in three flat float32 device buffers (encoder then F_n), so SGD is
// one fused kernel over every parameter. Precision: 'fp32' (FMA math, no TF32: PyTorch with TF32 off),
// 'tf32' (cuDNN's default math: PyTorch's default), 'amp' (fp16 activations in NHWC on tensor cores, fp32
// master weights, BN statistics and head, dynamic loss scaling as torch.cuda.amp.GradScaler does it).
//
// cuDNN is loaded with dlopen (cudnn_api.h), so the addon builds without cuDNN and, on a machine without
// it or without a GPU, loads and says what is missing. The CUDA runtime is linked statically.
// Written by hand because no maintained package trains a network on cuDNN from Node.
#include <napi.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cudnn_api.h"

#ifndef KEFER_CUDNN_BUILD_DIR
#define KEFER_CUDNN_BUILD_DIR ""
#endif

namespace {

constexpr float kUnitEps = 1e-8f;  // losses.ts l2normalize's epsilon
constexpr int kMaxClasses = 16;

// ---------------------------------------------------------------------------------------------------
// Errors

struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void CudaCheck(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return;
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t freeB = 0, totalB = 0;
    cudaMemGetInfo(&freeB, &totalB);
    throw OutOfMemory("out of device memory (" + what + "): " + std::to_string(freeB >> 20) + " MiB free of " +
                      std::to_string(totalB >> 20) + " MiB; use a smaller batch");
  }
  throw std::runtime_error(what + ": " + cudaGetErrorString(e));
}

// ---------------------------------------------------------------------------------------------------
// cuDNN, loaded at run time

struct Cudnn {
  kdnn::Api api;
  bool ok = false;
  std::string path, why;
  size_t version = 0;
};

void PreloadFrom(const std::string& dir, const char* const* names) {
  for (const char* const* n = names; *n; n++) dlopen((dir + "/" + *n).c_str(), RTLD_NOW | RTLD_GLOBAL);
}

// cuDNN 9's libcudnn.so.9 is a shim that opens its sub-libraries by name; preloading them (and cuBLAS,
// NVRTC from a PyTorch environment's sibling wheels) makes that work without LD_LIBRARY_PATH.
void PreloadSiblings(const std::string& dir) {
  static const char* const cublas[] = {"libcublasLt.so.13", "libcublas.so.13", "libcublasLt.so.12", "libcublas.so.12", nullptr};
  static const char* const nvrtc[] = {"libnvrtc.so.13", "libnvrtc.so.12", nullptr};
  static const char* const subs[] = {"libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_heuristic.so.9",
                                     "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9", nullptr};
  const std::string nvidia = dir + "/../..";  // site-packages/nvidia/cudnn/lib -> site-packages/nvidia
  PreloadFrom(nvidia + "/cublas/lib", cublas);
  PreloadFrom(nvidia + "/cuda_nvrtc/lib", nvrtc);
  PreloadFrom(dir, subs);
}

Cudnn& LoadCudnn() {
  static Cudnn c;
  static bool tried = false;
  if (tried) return c;
  tried = true;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("KEFER_CUDNN_DIR")) candidates.push_back(std::string(env) + "/libcudnn.so.9");
  if (std::strlen(KEFER_CUDNN_BUILD_DIR)) candidates.push_back(std::string(KEFER_CUDNN_BUILD_DIR) + "/libcudnn.so.9");
  candidates.push_back("libcudnn.so.9");
  std::string errors;
  void* lib = nullptr;
  for (auto& p : candidates) {
    const auto slash = p.rfind('/');
    if (slash != std::string::npos) PreloadSiblings(p.substr(0, slash));
    lib = dlopen(p.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib) {
      c.path = p;
      break;
    }
    const char* e = dlerror();
    errors += (errors.empty() ? "" : "; ") + std::string(e ? e : p);
  }
  if (!lib) {
    c.why = "cuDNN 9 not found (" + errors + "); set KEFER_CUDNN_DIR to the folder holding libcudnn.so.9 (in a PyTorch environment: python3 -c \"import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))\"/lib)";
    return c;
  }
#define KEFER_LOAD(name, ret, args)                                                \
  c.api.name = reinterpret_cast<ret(*) args>(dlsym(lib, #name));                  \
  if (!c.api.name) {                                                               \
    c.why = std::string(c.path) + " has no " #name " (not cuDNN 9?)";              \
    return c;                                                                      \
  }
  KEFER_CUDNN_FUNCTIONS(KEFER_LOAD)
#undef KEFER_LOAD
  c.version = c.api.cudnnGetVersion();
  if (c.version / 10000 != (size_t)kdnn::kCudnnMajor) {
    c.why = c.path + " is cuDNN " + std::to_string(c.version) + "; this addon needs cuDNN 9";
    return c;
  }
  c.ok = true;
  return c;
}

kdnn::Api& Dnn() { return LoadCudnn().api; }

void DnnCheck(cudnnStatus_t s, const std::string& what) {
  if ((int)s == kdnn::kStatusSuccess) return;
  std::string msg = Dnn().cudnnGetErrorString ? Dnn().cudnnGetErrorString(s) : std::to_string((int)s);
  if (msg.find("ALLOC") != std::string::npos) throw OutOfMemory("out of device memory in cuDNN (" + what + "): " + msg);
  throw std::runtime_error("cuDNN " + what + ": " + msg);
}

// ---------------------------------------------------------------------------------------------------
// Kernels

template <typename T> __device__ __forceinline__ float F(T x);
template <> __device__ __forceinline__ float F<float>(float x) { return x; }
template <> __device__ __forceinline__ float F<__half>(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T To(float x);
template <> __device__ __forceinline__ float To<float>(float x) { return x; }
template <> __device__ __forceinline__ __half To<__half>(float x) { return __float2half(x); }

#define KEFER_GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

unsigned Blocks(size_t n, unsigned threads = 256) { return (unsigned)std::min<size_t>((n + threads - 1) / threads, 65535u * 8); }

// images [N, H, W, C] float -> the activation layout and type
template <typename T>
__global__ void IngestKernel(const float* src, T* dst, int N, int C, int H, int W, bool nchw) {
  const size_t total = (size_t)N * H * W * C;
  KEFER_GRID_STRIDE(i, total) {
    size_t j = i;
    if (nchw) {
      const int c = i % C;
      size_t r = i / C;
      const int w = r % W;
      r /= W;
      const int h = r % H;
      const int n = (int)(r / H);
      j = (((size_t)n * C + c) * H + h) * W + w;
    }
    dst[j] = To<T>(src[i]);
  }
}

template <typename T>
__global__ void AddKernel(const T* a, const T* b, T* y, size_t n, bool relu) {
  KEFER_GRID_STRIDE(i, n) {
    float s = F(a[i]) + F(b[i]);
    y[i] = To<T>(relu ? fmaxf(s, 0.f) : s);
  }
}

template <typename T>
__global__ void ReluKernel(T* y, size_t n) {
  KEFER_GRID_STRIDE(i, n) y[i] = To<T>(fmaxf(F(y[i]), 0.f));
}

// dy where the ReLU's output was positive, else 0 (the ReLU's backward from its output).
template <typename T>
__global__ void ReluMaskKernel(T* dy, const T* y, size_t n) {
  KEFER_GRID_STRIDE(i, n) if (!(F(y[i]) > 0.f)) dy[i] = To<T>(0.f);
}

template <typename T>
__global__ void AccumulateKernel(T* dst, const T* src, size_t n, bool add) {
  KEFER_GRID_STRIDE(i, n) dst[i] = add ? To<T>(F(dst[i]) + F(src[i])) : src[i];
}

template <typename T>
__global__ void GapForwardKernel(const T* x, float* v, int N, int C, int HW, bool nhwc) {
  const size_t total = (size_t)N * C;
  KEFER_GRID_STRIDE(i, total) {
    const int n = (int)(i / C), c = (int)(i % C);
    float acc = 0.f;
    for (int p = 0; p < HW; p++) acc += F(x[nhwc ? ((size_t)n * HW + p) * C + c : ((size_t)n * C + c) * HW + p]);
    v[i] = acc / (float)HW;
  }
}

template <typename T>
__global__ void GapBackwardKernel(const float* dv, T* dx, int N, int C, int HW, bool nhwc, float scale, bool add) {
  const size_t total = (size_t)N * C * HW;
  KEFER_GRID_STRIDE(i, total) {
    int n, c;
    if (nhwc) {
      c = (int)(i % C);
      n = (int)(i / ((size_t)C * HW));
    } else {
      c = (int)((i / HW) % C);
      n = (int)(i / ((size_t)C * HW));
    }
    const float g = dv[(size_t)n * C + c] * scale / (float)HW;
    dx[i] = To<T>(add ? F(dx[i]) + g : g);
  }
}

// Max-pool 3x3, stride 2, padding 1 (ResNet's stem), as PyTorch CUDA does it with its own kernels rather
// than cuDNN's: the forward keeps each output's winning tap (0..8), the backward gathers, for each input,
// the gradients of the outputs it won (no atomics, so deterministic; windows overlap at stride 2).
__host__ __device__ inline size_t At(int n, int c, int h, int w, int C, int H, int W, bool nhwc) {
  return nhwc ? (((size_t)n * H + h) * W + w) * C + c : (((size_t)n * C + c) * H + h) * W + w;
}

template <typename T>
__global__ void MaxPoolForwardKernel(const T* x, T* y, unsigned char* tap, int N, int C, int H, int W, int OH, int OW, bool nhwc) {
  const size_t total = (size_t)N * C * OH * OW;
  KEFER_GRID_STRIDE(i, total) {
    int n, c, oh, ow;
    if (nhwc) {
      c = (int)(i % C);
      size_t r = i / C;
      ow = (int)(r % OW); r /= OW;
      oh = (int)(r % OH);
      n = (int)(r / OH);
    } else {
      ow = (int)(i % OW);
      size_t r = i / OW;
      oh = (int)(r % OH); r /= OH;
      c = (int)(r % C);
      n = (int)(r / C);
    }
    float best = -INFINITY;
    int arg = 4;
    for (int kh = 0; kh < 3; kh++) {
      const int ih = oh * 2 - 1 + kh;
      if (ih < 0 || ih >= H) continue;
      for (int kw = 0; kw < 3; kw++) {
        const int iw = ow * 2 - 1 + kw;
        if (iw < 0 || iw >= W) continue;
        const float v = F(x[At(n, c, ih, iw, C, H, W, nhwc)]);
        if (v > best || isnan(v)) {  // NaN wins, as in PyTorch's kernel
          best = v;
          arg = kh * 3 + kw;
        }
      }
    }
    y[i] = To<T>(best);
    tap[i] = (unsigned char)arg;
  }
}

template <typename T>
__global__ void MaxPoolBackwardKernel(const T* dy, const unsigned char* tap, T* dx, int N, int C, int H, int W, int OH, int OW, bool nhwc, bool add) {
  const size_t total = (size_t)N * C * H * W;
  KEFER_GRID_STRIDE(i, total) {
    int n, c, ih, iw;
    if (nhwc) {
      c = (int)(i % C);
      size_t r = i / C;
      iw = (int)(r % W); r /= W;
      ih = (int)(r % H);
      n = (int)(r / H);
    } else {
      iw = (int)(i % W);
      size_t r = i / W;
      ih = (int)(r % H); r /= H;
      c = (int)(r % C);
      n = (int)(r / C);
    }
    float g = 0.f;
    for (int kh = 0; kh < 3; kh++) {
      const int t = ih + 1 - kh;
      if (t < 0 || (t & 1)) continue;
      const int oh = t / 2;
      if (oh >= OH) continue;
      for (int kw = 0; kw < 3; kw++) {
        const int u = iw + 1 - kw;
        if (u < 0 || (u & 1)) continue;
        const int ow = u / 2;
        if (ow >= OW) continue;
        const size_t o = At(n, c, oh, ow, C, OH, OW, nhwc);
        if (tap[o] == kh * 3 + kw) g += F(dy[o]);
      }
    }
    dx[i] = To<T>(add ? F(dx[i]) + g : g);
  }
}

__global__ void HalfToFloatKernel(const __half* src, float* dst, size_t n, float scale) {
  KEFER_GRID_STRIDE(i, n) dst[i] = __half2float(src[i]) * scale;
}
__global__ void FloatToHalfKernel(const float* src, __half* dst, size_t n) {
  KEFER_GRID_STRIDE(i, n) dst[i] = __float2half(src[i]);
}

// Sets *flag when any gradient is inf or NaN (amp: that step is skipped, as GradScaler does).
__global__ void NonFiniteKernel(const float* g, size_t n, float* flag) {
  bool bad = false;
  KEFER_GRID_STRIDE(i, n) bad |= !isfinite(g[i]);
  if (bad) *flag = 1.f;
}

// torch.optim.SGD (dampening 0, no Nesterov) on every parameter at once:
//   g' = g + wd w;  buf = m buf + g' (buf = g' on the first step: a zero buffer gives exactly that);  w -= lr buf
// and, for amp, the fp16 copy the convolutions read.
__global__ void SgdKernel(float* w, const float* g, float* buf, __half* wh, size_t n, float lr, float m, float wd, const float* skip) {
  if (skip && *skip != 0.f) return;
  KEFER_GRID_STRIDE(i, n) {
    const float d = g[i] + wd * w[i];
    const float b = m * buf[i] + d;
    buf[i] = b;
    const float nw = w[i] - lr * b;
    w[i] = nw;
    if (wh) wh[i] = __float2half(nw);
  }
}

// C[M, N] (= or +=) op(A) op(B) (+ bias[n]) (ReLU), strides give the transposes. The head's matrices are
// small (batch x 512 x 128): a tiled kernel is enough, and keeps cuBLAS out of the addon's dependencies.
__global__ void GemmKernel(int M, int N, int K, const float* A, int sAm, int sAk, const float* B, int sBk, int sBn, float* C, int ldc,
                           bool add, const float* bias, bool relu) {
  __shared__ float As[16][17], Bs[16][17];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * 16 + ty, col = blockIdx.x * 16 + tx;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += 16) {
    const int ka = k0 + tx, kb = k0 + ty;
    As[ty][tx] = (row < M && ka < K) ? A[(size_t)row * sAm + (size_t)ka * sAk] : 0.f;
    Bs[ty][tx] = (kb < K && col < N) ? B[(size_t)kb * sBk + (size_t)col * sBn] : 0.f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 16; kk++) acc += As[ty][kk] * Bs[kk][tx];
    __syncthreads();
  }
  if (row < M && col < N) {
    if (bias) acc += bias[col];
    if (relu) acc = fmaxf(acc, 0.f);
    float* c = &C[(size_t)row * ldc + col];
    *c = add ? *c + acc : acc;
  }
}

__global__ void ColumnSumKernel(const float* X, int rows, int cols, float* out) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float s = 0.f;
  for (int i = 0; i < rows; i++) s += X[(size_t)i * cols + j];
  out[j] = s;
}

// ---- the KE-FER head (headReference.ts) ----
struct HeadCfg {
  int B, D, K, H, neutral;
  bool pairwise;
  float lambdaS, lambdaT, lambdaC, scale;
};

// Per-row scalars written by HeadRowsKernel, read by HeadReduceKernel and HeadGradKernel.
enum Row { kRv, kRn, kRa, kRb, kCos, kClampV, kClampN, kClampA, kLs, kLt, kLc, kPred, kRowFixed };
__host__ __device__ inline int RowStride(int K) { return kRowFixed + 3 * K; }  // + softmax p_k, v.t_k, n.t_k

// counts[k] = non-neutral samples of class k; counts[K] = M.
__global__ void HeadCountsKernel(const int* labels, HeadCfg c, float* counts) {
  __shared__ int cnt[kMaxClasses];
  if (threadIdx.x < kMaxClasses) cnt[threadIdx.x] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < c.B; i += blockDim.x)
    if (labels[i] != c.neutral) atomicAdd(&cnt[labels[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int M = 0;
    for (int k = 0; k < c.K; k++) {
      counts[k] = (float)cnt[k];
      M += cnt[k];
    }
    counts[c.K] = (float)M;
  }
}

__device__ float WarpSum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_down_sync(0xffffffffu, x, o);
  return x;
}

// One block per sample: the norms and dot products, then that sample's loss terms.
__global__ void HeadRowsKernel(const float* v, const float* n, const float* text, const int* labels, const float* counts, HeadCfg c,
                               float* rows) {
  constexpr int kQ = 5 + 2 * kMaxClasses;
  __shared__ float part[kQ][8];
  __shared__ float q[kQ];
  const int i = blockIdx.x, y = labels[i], K = c.K, D = c.D;
  const float* vi = v + (size_t)i * D;
  const float* ni = n + (size_t)i * D;
  float acc[kQ];
  for (int k = 0; k < kQ; k++) acc[k] = 0.f;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    const float a = vi[d] - ni[d], b = text[y * D + d] - text[c.neutral * D + d];
    acc[0] += vi[d] * vi[d];
    acc[1] += ni[d] * ni[d];
    acc[2] += a * a;
    acc[3] += a * b;
    acc[4] += b * b;
    for (int k = 0; k < K; k++) {
      acc[5 + k] += vi[d] * text[k * D + d];
      acc[5 + kMaxClasses + k] += ni[d] * text[k * D + d];
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int k = 0; k < kQ; k++) {
    const float s = WarpSum(acc[k]);
    if (lane == 0) part[k][warp] = s;
  }
  __syncthreads();
  if (threadIdx.x < kQ) {
    float s = 0.f;
    for (int w = 0; w < warps; w++) s += part[threadIdx.x][w];
    q[threadIdx.x] = s;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float* r = rows + (size_t)i * RowStride(K);
  const float nv = sqrtf(q[0]), nn = sqrtf(q[1]), na = sqrtf(q[2]), nb = sqrtf(q[4]);
  const float rv = fmaxf(nv, kUnitEps), rn = fmaxf(nn, kUnitEps), ra = fmaxf(na, kUnitEps), rb = fmaxf(nb, kUnitEps);
  const float* vt = q + 5;
  const float* nt = q + 5 + kMaxClasses;
  int best = 0;
  float mx = -INFINITY;
  for (int k = 0; k < K; k++) {
    const float z = c.scale * vt[k] / rv;
    if (z > mx) {
      mx = z;
      best = k;
    }
  }
  float sum = 0.f;
  for (int k = 0; k < K; k++) sum += expf(c.scale * vt[k] / rv - mx);
  for (int k = 0; k < K; k++) {
    r[kRowFixed + k] = expf(c.scale * vt[k] / rv - mx) / sum;
    r[kRowFixed + K + k] = vt[k];
    r[kRowFixed + 2 * K + k] = nt[k];
  }
  const bool m = y != c.neutral;
  const float cosT = q[3] / (ra * rb);
  float lc = 0.f;
  if (m) {
    if (c.pairwise) {
      for (int k = 0; k < K; k++) lc += counts[k] * (nt[k] / rn - vt[k] / rv);
    } else {
      lc = nt[y] / rn - vt[y] / rv + 2.f;
    }
  }
  r[kRv] = rv; r[kRn] = rn; r[kRa] = ra; r[kRb] = rb; r[kCos] = cosT;
  r[kClampV] = nv < kUnitEps; r[kClampN] = nn < kUnitEps; r[kClampA] = na < kUnitEps;
  r[kLs] = mx + logf(sum) - c.scale * vt[y] / rv;
  r[kLt] = m ? 1.f - cosT : 0.f;
  r[kLc] = lc;
  r[kPred] = (float)best;
}

// terms: ls, lt, lc, correct, total (then, set elsewhere: overflow flag, loss scale)
__global__ void HeadReduceKernel(const float* rows, const int* labels, const float* counts, HeadCfg c, float* terms) {
  __shared__ float part[4][32];
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  for (int i = threadIdx.x; i < c.B; i += blockDim.x) {
    const float* r = rows + (size_t)i * RowStride(c.K);
    s[0] += r[kLs];
    s[1] += r[kLt];
    s[2] += r[kLc];
    s[3] += (int)r[kPred] == labels[i] ? 1.f : 0.f;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int k = 0; k < 4; k++) {
    const float w = WarpSum(s[k]);
    if (lane == 0) part[k][warp] = w;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float t[4] = {0.f, 0.f, 0.f, 0.f};
  for (int k = 0; k < 4; k++)
    for (int w = 0; w < (int)blockDim.x / 32; w++) t[k] += part[k][w];
  const float M = counts[c.K];
  const float den = fmaxf(M, 1.f), den2 = fmaxf(M * M, 1.f);
  const float ls = t[0] / c.B, lt = t[1] / den;
  const float lc = c.pairwise ? (t[2] + 2.f * M * M) / den2 : t[2] / den;
  terms[0] = ls;
  terms[1] = lt;
  terms[2] = lc;
  terms[3] = t[3];
  terms[4] = c.lambdaS * ls + c.lambdaT * lt + c.lambdaC * lc;
}

// dL/dv and dL/dn of the losses (before F_n's backward), one block per sample.
__global__ void HeadGradKernel(const float* v, const float* n, const float* text, const int* labels, const float* counts, const float* rows,
                               HeadCfg c, float* dv, float* dn) {
  __shared__ float cv[kMaxClasses], cn[kMaxClasses], sc[4];
  const int i = blockIdx.x, y = labels[i], K = c.K, D = c.D;
  const float* r = rows + (size_t)i * RowStride(K);
  const bool m = y != c.neutral;
  const float M = counts[K];
  const float den = fmaxf(M, 1.f), den2 = fmaxf(M * M, 1.f);
  if (threadIdx.x == 0) {
    float uvgv = 0.f, ungn = 0.f;
    for (int k = 0; k < K; k++) {
      float a = c.lambdaS * c.scale * (r[kRowFixed + k] - (k == y ? 1.f : 0.f)) / c.B, b = 0.f;
      if (m) {
        const float w = c.pairwise ? c.lambdaC * counts[k] / den2 : (k == y ? c.lambdaC / den : 0.f);
        a -= w;
        b = w;
      }
      cv[k] = a;
      cn[k] = b;
      uvgv += a * r[kRowFixed + K + k] / r[kRv];
      ungn += b * r[kRowFixed + 2 * K + k] / r[kRn];
    }
    sc[0] = r[kClampV] != 0.f ? 0.f : uvgv;
    sc[1] = r[kClampN] != 0.f ? 0.f : ungn;
    // Lt: dL/du(a) = -lambda_t u(b) / den, so u(a).that = -lambda_t cos / den.
    sc[2] = r[kClampA] != 0.f ? 0.f : -c.lambdaT * r[kCos] / den;
  }
  __syncthreads();
  const float rv = r[kRv], rn = r[kRn], ra = r[kRa], rb = r[kRb];
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float gv = 0.f, gn = 0.f;
    for (int k = 0; k < K; k++) {
      const float t = text[k * D + d];
      gv += cv[k] * t;
      gn += cn[k] * t;
    }
    const float vd = v[(size_t)i * D + d], nd = n[(size_t)i * D + d];
    float dvd = (gv - vd / rv * sc[0]) / rv;
    float dnd = (gn - nd / rn * sc[1]) / rn;
    if (m) {
      const float ad = vd - nd, bd = text[y * D + d] - text[c.neutral * D + d];
      const float ga = -c.lambdaT * bd / (rb * den);
      const float da = (ga - ad / ra * sc[2]) / ra;
      dvd += da;
      dnd -= da;
    }
    dv[(size_t)i * D + d] = dvd;
    dn[(size_t)i * D + d] = dnd;
  }
}

// ---------------------------------------------------------------------------------------------------
// Device memory

struct DevBuf {
  void* p = nullptr;
  size_t bytes = 0;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), bytes(o.bytes) {
    o.p = nullptr;
    o.bytes = 0;
  }
  DevBuf& operator=(DevBuf&& o) noexcept {
    if (this != &o) {
      Free();
      p = o.p;
      bytes = o.bytes;
      o.p = nullptr;
      o.bytes = 0;
    }
    return *this;
  }
  ~DevBuf() { Free(); }
  void Alloc(size_t n, const std::string& what) {
    Free();
    if (n == 0) return;
    CudaCheck(cudaMalloc(&p, n), "allocating " + std::to_string(n >> 20) + " MiB for " + what);
    bytes = n;
  }
  void Free() {
    if (p) cudaFree(p);
    p = nullptr;
    bytes = 0;
  }
  template <typename T> T* as() const { return static_cast<T*>(p); }
};

enum class Precision { Fp32, Tf32, Amp };
enum class Kind { Conv, Bn, Add, MaxPool, Gap };

struct Act {
  int n = 0, c = 0, h = 0, w = 0;
  size_t count = 0;
  DevBuf x, dx;
  cudnnTensorDescriptor_t desc = nullptr;
  bool ready = false;  // dx written during this backward pass
};

struct Param {
  std::string name;
  std::vector<int> dims;  // conv OIHW; BN [C]; head as tfjs holds it
  size_t offset = 0, count = 0;
  bool conv = false, hasMom = false;
};

struct Op {
  Kind kind;
  int x = -1, b = -1, y = -1, w = -1, scale = -1, shift = -1;
  bool relu = false, needDx = true;
  int k = 0, stride = 1, pad = 0;
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t convFwd = nullptr, convBwdData = nullptr, convBwdFilter = nullptr;
  int algoFwd = 0, algoBwdData = 0, algoBwdFilter = 0;
  cudnnTensorDescriptor_t bnDesc = nullptr;
  DevBuf saveMean, saveInvVar, runMean, runVar;
  std::string name;  // BatchNorm layer name, for running statistics
  DevBuf poolTap;  // max-pool: each output's winning tap
};

// ---------------------------------------------------------------------------------------------------

class Encoder : public Napi::ObjectWrap<Encoder> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Encoder",
                       {InstanceMethod("trainStep", &Encoder::TrainStep), InstanceMethod("forward", &Encoder::Forward),
                        InstanceMethod("backward", &Encoder::Backward), InstanceMethod("head", &Encoder::Head),
                        InstanceMethod("sgd", &Encoder::Sgd), InstanceMethod("setParam", &Encoder::SetParam),
                        InstanceMethod("getParam", &Encoder::GetParam), InstanceMethod("getGrad", &Encoder::GetGrad),
                        InstanceMethod("setMomentum", &Encoder::SetMomentum), InstanceMethod("getMomentum", &Encoder::GetMomentum),
                        InstanceMethod("setBuffer", &Encoder::SetBuffer), InstanceMethod("getBuffer", &Encoder::GetBuffer),
                        InstanceMethod("synchronize", &Encoder::Synchronize),
                        InstanceMethod("info", &Encoder::Info), InstanceMethod("release", &Encoder::Release)});
  }

  explicit Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Encoder>(info) {
    Napi::Env env = info.Env();
    try {
      Build(info[0].As<Napi::Object>());
    } catch (const std::exception& e) {
      Free();
      Napi::Error::New(env, std::string("cuda: ") + e.what()).ThrowAsJavaScriptException();
    }
  }
  ~Encoder() override { Free(); }

 private:
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  Precision precision_ = Precision::Fp32;
  bool nhwc_ = false;
  cudnnDataType_t dt_ = (cudnnDataType_t)kdnn::kDataFloat;
  size_t esz_ = 4;
  float eps_ = 1e-5f, bnMomentum_ = 0.1f;
  std::vector<Act> acts_;
  std::vector<Param> params_;
  std::unordered_map<std::string, int> paramIndex_;
  std::vector<Op> ops_;
  size_t nParams_ = 0, nEncoderParams_ = 0;
  DevBuf W_, G_, Mom_, Wh_, convGradHalf_, workspace_;
  DevBuf images_, labels_, v_, dv_, hidden_, n_, dn_, dh_, text_, rows_, counts_, terms_;
  float* hostImages_ = nullptr;  // pinned staging for the upload
  float* hostTerms_ = nullptr;
  int* hostLabels_ = nullptr;
  int featureAct_ = -1;
  HeadCfg head_{};
  bool hasHead_ = false, whDirty_ = true, released_ = false;
  // Deterministic algorithms only (default): a resumed run then repeats an uninterrupted one exactly.
  bool deterministic_ = true;
  float lossScale_ = 1.f;
  int cleanSteps_ = 0;
  std::map<std::string, int> algoCounts_;
  std::string current_;

  // ---- set-up ----
  static std::vector<int> Dims(const Napi::Value& v) {
    auto a = v.As<Napi::Array>();
    std::vector<int> d;
    for (uint32_t i = 0; i < a.Length(); i++) d.push_back(a.Get(i).As<Napi::Number>().Int32Value());
    return d;
  }
  static int Int(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); }
  static float Num(const Napi::Object& o, const char* k, float dflt) {
    auto v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().FloatValue() : dflt;
  }

  cudnnTensorDescriptor_t TensorDesc(int n, int c, int h, int w, cudnnDataType_t dt, bool nhwc) {
    cudnnTensorDescriptor_t d;
    DnnCheck(Dnn().cudnnCreateTensorDescriptor(&d), "tensor descriptor");
    DnnCheck(Dnn().cudnnSetTensor4dDescriptor(d, (cudnnTensorFormat_t)(nhwc ? kdnn::kTensorNhwc : kdnn::kTensorNchw), dt, n, c, h, w),
             "tensor descriptor " + std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w));
    return d;
  }

  void Build(const Napi::Object spec) {
    int count = 0, driver = 0;
    cudaDriverGetVersion(&driver);
    if (driver == 0) throw std::runtime_error("no CUDA device: no NVIDIA driver (libcuda.so.1) on this machine");
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) throw std::runtime_error(std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "none visible"));
    Cudnn& cud = LoadCudnn();
    if (!cud.ok) throw std::runtime_error(cud.why);
    device_ = spec.Get("device").IsNumber() ? Int(spec, "device") : 0;
    if (device_ < 0 || device_ >= count) throw std::runtime_error("device " + std::to_string(device_) + " of " + std::to_string(count));
    CudaCheck(cudaSetDevice(device_), "cudaSetDevice");
    // A blocking stream: the plain cudaMemcpy / cudaMemset calls of the parameter setters (legacy default
    // stream) are then ordered with the step's work on it.
    CudaCheck(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault), "cudaStreamCreate");
    DnnCheck(Dnn().cudnnCreate(&dnn_), "cudnnCreate");
    DnnCheck(Dnn().cudnnSetStream(dnn_, stream_), "cudnnSetStream");

    const std::string prec = spec.Get("precision").IsString() ? spec.Get("precision").As<Napi::String>().Utf8Value() : "fp32";
    if (prec == "fp32") precision_ = Precision::Fp32;
    else if (prec == "tf32") precision_ = Precision::Tf32;
    else if (prec == "amp") precision_ = Precision::Amp;
    else throw std::runtime_error("precision '" + prec + "' (expected fp32, tf32 or amp)");
    const bool amp = precision_ == Precision::Amp;
    nhwc_ = amp;  // tensor cores want channels last; fp32 keeps PyTorch's default NCHW
    dt_ = (cudnnDataType_t)(amp ? kdnn::kDataHalf : kdnn::kDataFloat);
    esz_ = amp ? 2 : 4;
    lossScale_ = amp ? 65536.f : 1.f;
    eps_ = Num(spec, "eps", 1e-5f);
    if (spec.Get("deterministic").IsBoolean()) deterministic_ = spec.Get("deterministic").As<Napi::Boolean>().Value();
    bnMomentum_ = Num(spec, "bnMomentum", 0.1f);

    auto tensors = spec.Get("tensors").As<Napi::Array>();
    acts_.resize(tensors.Length());
    for (uint32_t i = 0; i < tensors.Length(); i++) {
      auto d = Dims(tensors.Get(i).As<Napi::Object>().Get("dims"));
      if (d.size() != 4) throw std::runtime_error("tensor " + std::to_string(i) + " is not 4-D");
      Act& a = acts_[i];
      a.n = d[0]; a.c = d[1]; a.h = d[2]; a.w = d[3];
      a.count = (size_t)a.n * a.c * a.h * a.w;
    }
    auto params = spec.Get("params").As<Napi::Array>();
    for (uint32_t i = 0; i < params.Length(); i++) {
      auto o = params.Get(i).As<Napi::Object>();
      AddParam(o.Get("name").As<Napi::String>().Utf8Value(), Dims(o.Get("dims")));
    }
    nEncoderParams_ = nParams_;
    auto ops = spec.Get("ops").As<Napi::Array>();
    for (uint32_t i = 0; i < ops.Length(); i++) ops_.push_back(ParseOp(ops.Get(i).As<Napi::Object>()));
    if (featureAct_ < 0) throw std::runtime_error("the encoder has no global average pool");
    const int B = acts_[0].n, D = acts_[featureAct_].c;
    if (spec.Get("head").IsObject()) BuildHead(spec.Get("head").As<Napi::Object>(), B, D);

    // Memory: every activation and its gradient, the flat parameter buffers, the head.
    for (size_t i = 0; i < acts_.size(); i++) {
      Act& a = acts_[i];
      a.x.Alloc(a.count * esz_, "activation " + std::to_string(i));
      if (i > 0) a.dx.Alloc(a.count * esz_, "activation gradient " + std::to_string(i));
      a.desc = TensorDesc(a.n, a.c, a.h, a.w, dt_, nhwc_);
    }
    W_.Alloc(nParams_ * 4, "weights");
    G_.Alloc(nParams_ * 4, "gradients");
    Mom_.Alloc(nParams_ * 4, "momentum");
    CudaCheck(cudaMemsetAsync(W_.p, 0, W_.bytes, stream_), "memset");
    CudaCheck(cudaMemsetAsync(G_.p, 0, G_.bytes, stream_), "memset");
    CudaCheck(cudaMemsetAsync(Mom_.p, 0, Mom_.bytes, stream_), "memset");
    if (amp) {
      Wh_.Alloc(nParams_ * 2, "fp16 weights");
      size_t maxConv = 0;
      for (auto& p : params_) if (p.conv) maxConv = std::max(maxConv, p.count);
      convGradHalf_.Alloc(maxConv * 2, "fp16 filter gradient");
    }
    images_.Alloc(acts_[0].count * 4, "images");
    labels_.Alloc(B * 4, "labels");
    v_.Alloc((size_t)B * D * 4, "features");
    dv_.Alloc((size_t)B * D * 4, "feature gradient");
    terms_.Alloc(8 * 4, "loss terms");
    CudaCheck(cudaMemsetAsync(terms_.p, 0, terms_.bytes, stream_), "memset");
    CudaCheck(cudaHostAlloc((void**)&hostImages_, acts_[0].count * 4, cudaHostAllocDefault), "pinned image staging");
    CudaCheck(cudaHostAlloc((void**)&hostTerms_, 8 * 4, cudaHostAllocDefault), "pinned loss terms");
    CudaCheck(cudaHostAlloc((void**)&hostLabels_, B * 4, cudaHostAllocDefault), "pinned labels");
    for (auto& op : ops_) BuildOpDescriptors(op);
    ChooseAlgorithms(spec);
    CudaCheck(cudaStreamSynchronize(stream_), "set-up");
  }

  void AddParam(const std::string& name, const std::vector<int>& dims) {
    Param p;
    p.name = name;
    p.dims = dims;
    p.conv = dims.size() == 4;
    p.count = 1;
    for (int d : dims) p.count *= (size_t)d;
    p.offset = nParams_;
    nParams_ += (p.count + 31) / 32 * 32;  // 128-byte aligned, for the fp16 copy and cuDNN
    paramIndex_[name] = (int)params_.size();
    params_.push_back(p);
  }
  int ParamIdx(const Napi::Object& o, const char* key) {
    auto name = o.Get(key).As<Napi::String>().Utf8Value();
    auto it = paramIndex_.find(name);
    if (it == paramIndex_.end()) throw std::runtime_error("op names an unknown parameter " + name);
    return it->second;
  }
  void CheckAct(int i, const char* what) {
    if (i < 0 || i >= (int)acts_.size()) throw std::runtime_error(std::string(what) + " names tensor " + std::to_string(i) + ", which does not exist");
  }

  Op ParseOp(const Napi::Object& o) {
    Op op;
    const std::string kind = o.Get("kind").As<Napi::String>().Utf8Value();
    if (kind == "conv") {
      op.kind = Kind::Conv;
      op.x = Int(o, "x"); op.y = Int(o, "y"); op.w = ParamIdx(o, "w");
      op.k = Int(o, "k"); op.stride = Int(o, "stride"); op.pad = Int(o, "pad");
      op.needDx = op.x != 0;
    } else if (kind == "bn") {
      op.kind = Kind::Bn;
      op.x = Int(o, "x"); op.y = Int(o, "y");
      op.scale = ParamIdx(o, "scale"); op.shift = ParamIdx(o, "shift");
      op.relu = o.Get("relu").As<Napi::Boolean>().Value();
      op.name = params_[op.scale].name.substr(0, params_[op.scale].name.rfind('.'));
    } else if (kind == "add") {
      op.kind = Kind::Add;
      op.x = Int(o, "a"); op.b = Int(o, "b"); op.y = Int(o, "y");
      op.relu = o.Get("relu").As<Napi::Boolean>().Value();
      CheckAct(op.b, "add");
    } else if (kind == "maxpool") {
      op.kind = Kind::MaxPool;
      op.x = Int(o, "x"); op.y = Int(o, "y");
    } else if (kind == "gap") {
      op.kind = Kind::Gap;
      op.x = Int(o, "x");
      featureAct_ = op.x;
    } else {
      throw std::runtime_error("unknown op " + kind);
    }
    CheckAct(op.x, kind.c_str());
    if (op.kind != Kind::Gap) CheckAct(op.y, kind.c_str());
    return op;
  }

  void BuildHead(const Napi::Object& h, int B, int D) {
    HeadCfg& c = head_;
    c.B = B;
    c.D = D;
    c.K = Int(h, "classes");
    c.H = Int(h, "hidden");
    c.neutral = Int(h, "neutral");
    c.pairwise = h.Get("contrast").As<Napi::String>().Utf8Value() == "pairwise";
    c.lambdaS = Num(h, "lambdaS", 1.f);
    c.lambdaT = Num(h, "lambdaT", 1.f);
    c.lambdaC = Num(h, "lambdaC", 1.f);
    c.scale = Num(h, "logitScale", 100.f);
    if (c.K < 2 || c.K > kMaxClasses) throw std::runtime_error("head: " + std::to_string(c.K) + " classes (2.." + std::to_string(kMaxClasses) + " supported)");
    if (c.neutral < 0 || c.neutral >= c.K) throw std::runtime_error("head: neutral index " + std::to_string(c.neutral) + " outside 0.." + std::to_string(c.K - 1));
    auto text = h.Get("text").As<Napi::Float32Array>();
    if ((int)text.ElementLength() != c.K * D) throw std::runtime_error("head: text embeddings have " + std::to_string(text.ElementLength()) + " values, expected " + std::to_string(c.K) + " x " + std::to_string(D));
    AddParam("MLP.fc1.weight", {D, c.H});
    AddParam("MLP.fc1.bias", {c.H});
    AddParam("MLP.fc2.weight", {c.H, D});
    AddParam("MLP.fc2.bias", {D});
    text_.Alloc(text.ElementLength() * 4, "text embeddings");
    CudaCheck(cudaMemcpy(text_.p, text.Data(), text_.bytes, cudaMemcpyHostToDevice), "text upload");
    hidden_.Alloc((size_t)B * c.H * 4, "F_n hidden");
    dh_.Alloc((size_t)B * c.H * 4, "F_n hidden gradient");
    n_.Alloc((size_t)B * D * 4, "F_n output");
    dn_.Alloc((size_t)B * D * 4, "F_n output gradient");
    rows_.Alloc((size_t)B * RowStride(c.K) * 4, "loss rows");
    counts_.Alloc((kMaxClasses + 1) * 4, "class counts");
    hasHead_ = true;
  }

  void BuildOpDescriptors(Op& op) {
    auto& api = Dnn();
    switch (op.kind) {
      case Kind::Conv: {
        const Param& p = params_[op.w];
        if (p.dims[1] != acts_[op.x].c || p.dims[0] != acts_[op.y].c) throw std::runtime_error("conv " + p.name + ": weight " + std::to_string(p.dims[0]) + "x" + std::to_string(p.dims[1]) + " does not fit tensors of " + std::to_string(acts_[op.x].c) + " -> " + std::to_string(acts_[op.y].c) + " channels");
        DnnCheck(api.cudnnCreateFilterDescriptor(&op.filter), "filter descriptor");
        DnnCheck(api.cudnnSetFilter4dDescriptor(op.filter, dt_, (cudnnTensorFormat_t)(nhwc_ ? kdnn::kTensorNhwc : kdnn::kTensorNchw), p.dims[0], p.dims[1], p.dims[2], p.dims[3]), "filter descriptor " + p.name);
        const int math = precision_ == Precision::Fp32 ? kdnn::kFmaMath : precision_ == Precision::Tf32 ? kdnn::kDefaultMath : kdnn::kTensorOpMath;
        for (auto* d : {&op.convFwd, &op.convBwdData, &op.convBwdFilter}) {
          DnnCheck(api.cudnnCreateConvolutionDescriptor(d), "convolution descriptor");
          // fp16 data with fp32 accumulation (PyTorch AMP's setting).
          DnnCheck(api.cudnnSetConvolution2dDescriptor(*d, op.pad, op.pad, op.stride, op.stride, 1, 1, (cudnnConvolutionMode_t)kdnn::kCrossCorrelation, (cudnnDataType_t)kdnn::kDataFloat), "convolution descriptor " + p.name);
          DnnCheck(api.cudnnSetConvolutionMathType(*d, (cudnnMathType_t)math), "convolution math type");
        }
        break;
      }
      case Kind::Bn: {
        DnnCheck(Dnn().cudnnCreateTensorDescriptor(&op.bnDesc), "BN descriptor");
        DnnCheck(Dnn().cudnnDeriveBNTensorDescriptor(op.bnDesc, acts_[op.x].desc, (cudnnBatchNormMode_t)BnMode()), "BN descriptor");
        const size_t C = acts_[op.x].c;
        if (params_[op.scale].count != C || params_[op.shift].count != C) throw std::runtime_error("BatchNorm " + op.name + ": parameters do not have " + std::to_string(C) + " channels");
        op.saveMean.Alloc(C * 4, "BN statistics");
        op.saveInvVar.Alloc(C * 4, "BN statistics");
        op.runMean.Alloc(C * 4, "BN running mean");
        op.runVar.Alloc(C * 4, "BN running variance");
        CudaCheck(cudaMemsetAsync(op.runMean.p, 0, C * 4, stream_), "memset");
        std::vector<float> ones(C, 1.f);
        CudaCheck(cudaMemcpy(op.runVar.p, ones.data(), C * 4, cudaMemcpyHostToDevice), "running variance");
        break;
      }
      case Kind::MaxPool: {
        const Act &x = acts_[op.x], &y = acts_[op.y];
        if (y.h != (x.h - 1) / 2 + 1 || y.w != (x.w - 1) / 2 + 1 || y.c != x.c) throw std::runtime_error("max-pool: " + std::to_string(x.h) + "x" + std::to_string(x.w) + " -> " + std::to_string(y.h) + "x" + std::to_string(y.w) + " is not 3x3 stride 2 padding 1");
        op.poolTap.Alloc(y.count, "max-pool taps");
        break;
      }
      default:
        break;
    }
  }

  int BnMode() const {
    // PyTorch uses the persistent kernels for channels-last training; the plain spatial mode otherwise.
    return precision_ == Precision::Amp ? 2 : kdnn::kBatchNormSpatial;
  }

  void* WeightPtr(const Param& p) const {
    return precision_ == Precision::Amp ? (void*)(Wh_.as<__half>() + p.offset) : (void*)(W_.as<float>() + p.offset);
  }

  // Chooses each convolution's three algorithms once per shape with cudnnFind*Ex (timed on this GPU),
  // within a workspace limit, and keeps one workspace of the largest chosen size.
  void ChooseAlgorithms(const Napi::Object& spec) {
    auto& api = Dnn();
    size_t freeB = 0, totalB = 0;
    CudaCheck(cudaMemGetInfo(&freeB, &totalB), "cudaMemGetInfo");
    const size_t limitMiB = spec.Get("workspaceLimitMiB").IsNumber() ? (size_t)Int(spec, "workspaceLimitMiB") : 1024;
    const size_t limit = std::min(limitMiB << 20, freeB / 2);
    DevBuf search;
    search.Alloc(limit, "convolution algorithm search");
    DevBuf scratchW;
    size_t maxW = 0;
    for (auto& p : params_) if (p.conv) maxW = std::max(maxW, p.count);
    scratchW.Alloc(maxW * esz_, "algorithm search filter");
    CudaCheck(cudaMemsetAsync(scratchW.p, 0, scratchW.bytes, stream_), "memset");
    // per shape: the three algorithms and the math types they were timed with
    std::map<std::tuple<int, int, int, int, int, int, int, int, int>, std::vector<int>> cache;
    size_t need = 0;
    constexpr int kTry = 8;
    for (auto& op : ops_) {
      if (op.kind != Kind::Conv) continue;
      const Act &x = acts_[op.x], &y = acts_[op.y];
      auto key = std::make_tuple(x.n, x.c, x.h, x.w, y.c, op.k, op.stride, op.pad, (int)op.needDx);
      auto hit = cache.find(key);
      if (hit != cache.end()) {
        const auto& c = hit->second;
        op.algoFwd = c[0];
        op.algoBwdData = c[1];
        op.algoBwdFilter = c[2];
        SetMath(op.convFwd, c[3]);
        SetMath(op.convBwdData, c[4]);
        SetMath(op.convBwdFilter, c[5]);
        algoCounts_[AlgoName(op)]++;
        continue;
      }
      current_ = params_[op.w].name;
      size_t opNeed = 0;
      int n = 0;
      int mathData = 0;
      cudnnConvolutionFwdAlgoPerf_t fwd[kTry];
      DnnCheck(api.cudnnFindConvolutionForwardAlgorithmEx(dnn_, x.desc, x.x.p, op.filter, scratchW.p, op.convFwd, y.desc, y.x.p, kTry, &n, fwd, search.p, limit), "forward algorithm search for " + current_);
      const int f = Pick(fwd, n, "forward " + current_);
      op.algoFwd = fwd[f].algo;
      opNeed = std::max(opNeed, fwd[f].memory);
      SetMath(op.convFwd, (int)fwd[f].mathType);
      cudnnConvolutionBwdFilterAlgoPerf_t bf[kTry];
      DnnCheck(api.cudnnFindConvolutionBackwardFilterAlgorithmEx(dnn_, x.desc, x.x.p, y.desc, y.dx.p, op.convBwdFilter, op.filter, scratchW.p, kTry, &n, bf, search.p, limit), "filter-gradient algorithm search for " + current_);
      const int g = Pick(bf, n, "filter gradient " + current_);
      op.algoBwdFilter = bf[g].algo;
      opNeed = std::max(opNeed, bf[g].memory);
      SetMath(op.convBwdFilter, (int)bf[g].mathType);
      if (op.needDx) {
        cudnnConvolutionBwdDataAlgoPerf_t bd[kTry];
        DnnCheck(api.cudnnFindConvolutionBackwardDataAlgorithmEx(dnn_, op.filter, scratchW.p, y.desc, y.dx.p, op.convBwdData, x.desc, x.dx.p, kTry, &n, bd, search.p, limit), "data-gradient algorithm search for " + current_);
        const int d = Pick(bd, n, "data gradient " + current_);
        op.algoBwdData = bd[d].algo;
        opNeed = std::max(opNeed, bd[d].memory);
        SetMath(op.convBwdData, (int)bd[d].mathType);
        mathData = bd[d].mathType;
      }
      algoCounts_[AlgoName(op)]++;
      cache[key] = {op.algoFwd, op.algoBwdData, op.algoBwdFilter, (int)fwd[f].mathType, mathData, (int)bf[g].mathType};
      need = std::max(need, opNeed);
    }
    search.Free();
    workspace_.Alloc(std::max<size_t>(need, 256), "convolution workspace");
    current_.clear();
  }
  // Runs a convolution with the math type its algorithm was timed with, except in fp32, whose descriptors
  // keep FMA math: cuDNN's default math would let float convolutions use TF32 on Ampere and newer.
  void SetMath(cudnnConvolutionDescriptor_t d, int math) {
    if (precision_ == Precision::Fp32) return;
    DnnCheck(Dnn().cudnnSetConvolutionMathType(d, (cudnnMathType_t)math), "math type");
  }

  static std::string AlgoName(const Op& op) {
    return "fwd" + std::to_string(op.algoFwd) + (op.needDx ? "/bwdData" + std::to_string(op.algoBwdData) : "") + "/bwdFilter" + std::to_string(op.algoBwdFilter);
  }

  // The fastest successful result; for fp32, only algorithms without tensor-core math (no TF32).
  template <typename Perf>
  int Pick(const Perf* r, int n, const std::string& what) {
    for (int i = 0; i < n; i++) {
      if ((int)r[i].status != kdnn::kStatusSuccess) continue;
      if (precision_ == Precision::Fp32 && (int)r[i].mathType != kdnn::kFmaMath && (int)r[i].mathType != kdnn::kDefaultMath) continue;
      if (deterministic_ && (int)r[i].determinism != kdnn::kDeterministic) continue;
      return i;
    }
    throw std::runtime_error("no cuDNN algorithm runs the " + what + " convolution within the workspace limit");
  }

  // ---- the step ----
  void Launch(const char* what) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) CudaCheck(e, what);
  }

  void UploadImages(const float* src) {
    std::memcpy(hostImages_, src, acts_[0].count * 4);
    CudaCheck(cudaMemcpyAsync(images_.p, hostImages_, acts_[0].count * 4, cudaMemcpyHostToDevice, stream_), "image upload");
  }

  void RefreshHalfWeights() {
    if (precision_ != Precision::Amp || !whDirty_) return;
    FloatToHalfKernel<<<Blocks(nParams_), 256, 0, stream_>>>(W_.as<float>(), Wh_.as<__half>(), nParams_);
    Launch("fp16 weights");
    whDirty_ = false;
  }

  template <typename T>
  void ForwardT(bool train) {
    auto& api = Dnn();
    const float one = 1.f, zero = 0.f;
    Act& img = acts_[0];
    IngestKernel<T><<<Blocks(img.count), 256, 0, stream_>>>(images_.as<float>(), img.x.as<T>(), img.n, img.c, img.h, img.w, !nhwc_);
    Launch("image layout");
    for (auto& op : ops_) {
      Act& x = acts_[op.x];
      switch (op.kind) {
        case Kind::Conv: {
          Act& y = acts_[op.y];
          current_ = params_[op.w].name;
          DnnCheck(api.cudnnConvolutionForward(dnn_, &one, x.desc, x.x.p, op.filter, WeightPtr(params_[op.w]), op.convFwd, (cudnnConvolutionFwdAlgo_t)op.algoFwd, workspace_.p, workspace_.bytes, &zero, y.desc, y.x.p), "forward " + current_);
          break;
        }
        case Kind::Bn: {
          Act& y = acts_[op.y];
          float* W = W_.as<float>();
          current_ = op.name;
          if (train) {
            DnnCheck(api.cudnnBatchNormalizationForwardTraining(dnn_, (cudnnBatchNormMode_t)BnMode(), &one, &zero, x.desc, x.x.p, y.desc, y.x.p, op.bnDesc, W + params_[op.scale].offset, W + params_[op.shift].offset, bnMomentum_, op.runMean.p, op.runVar.p, eps_, op.saveMean.p, op.saveInvVar.p), "BatchNorm " + op.name);
          } else {
            DnnCheck(api.cudnnBatchNormalizationForwardInference(dnn_, (cudnnBatchNormMode_t)kdnn::kBatchNormSpatial, &one, &zero, x.desc, x.x.p, y.desc, y.x.p, op.bnDesc, W + params_[op.scale].offset, W + params_[op.shift].offset, op.runMean.p, op.runVar.p, eps_), "BatchNorm " + op.name);
          }
          if (op.relu) ReluKernel<T><<<Blocks(y.count), 256, 0, stream_>>>(y.x.as<T>(), y.count);
          break;
        }
        case Kind::Add: {
          Act& y = acts_[op.y];
          AddKernel<T><<<Blocks(y.count), 256, 0, stream_>>>(x.x.as<T>(), acts_[op.b].x.as<T>(), y.x.as<T>(), y.count, op.relu);
          break;
        }
        case Kind::MaxPool: {
          Act& y = acts_[op.y];
          MaxPoolForwardKernel<T><<<Blocks(y.count), 256, 0, stream_>>>(x.x.as<T>(), y.x.as<T>(), op.poolTap.as<unsigned char>(), x.n, x.c, x.h, x.w, y.h, y.w, nhwc_);
          break;
        }
        case Kind::Gap:
          GapForwardKernel<T><<<Blocks((size_t)x.n * x.c), 256, 0, stream_>>>(x.x.as<T>(), v_.as<float>(), x.n, x.c, x.h * x.w, nhwc_);
          break;
      }
      Launch("forward");
    }
    current_.clear();
  }

  // Adds (or writes, the first time this pass) a gradient into activation i's dx.
  template <typename T>
  void AccumulateInto(int i, const T* src) {
    Act& a = acts_[i];
    AccumulateKernel<T><<<Blocks(a.count), 256, 0, stream_>>>(a.dx.as<T>(), src, a.count, a.ready);
    a.ready = true;
  }

  template <typename T>
  void BackwardT(const float* dv) {
    auto& api = Dnn();
    const float one = 1.f, zero = 0.f;
    const float invScale = 1.f / lossScale_;
    for (auto& a : acts_) a.ready = false;
    float* G = G_.as<float>();
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      Op& op = *it;
      Act& x = acts_[op.x];
      switch (op.kind) {
        case Kind::Gap:
          GapBackwardKernel<T><<<Blocks(x.count), 256, 0, stream_>>>(dv, x.dx.as<T>(), x.n, x.c, x.h * x.w, nhwc_, lossScale_, x.ready);
          x.ready = true;
          break;
        case Kind::Add: {
          Act& y = acts_[op.y];
          if (op.relu) ReluMaskKernel<T><<<Blocks(y.count), 256, 0, stream_>>>(y.dx.as<T>(), y.x.as<T>(), y.count);
          AccumulateInto<T>(op.x, y.dx.as<T>());
          AccumulateInto<T>(op.b, y.dx.as<T>());
          break;
        }
        case Kind::MaxPool: {
          Act& y = acts_[op.y];
          MaxPoolBackwardKernel<T><<<Blocks(x.count), 256, 0, stream_>>>(y.dx.as<T>(), op.poolTap.as<unsigned char>(), x.dx.as<T>(), x.n, x.c, x.h, x.w, y.h, y.w, nhwc_, x.ready);
          x.ready = true;
          break;
        }
        case Kind::Bn: {
          Act& y = acts_[op.y];
          current_ = op.name;
          if (op.relu) ReluMaskKernel<T><<<Blocks(y.count), 256, 0, stream_>>>(y.dx.as<T>(), y.x.as<T>(), y.count);
          const float beta = x.ready ? 1.f : 0.f;
          float* W = W_.as<float>();
          // alphaParamDiff = 1 / loss scale: the scale and shift gradients land unscaled.
          DnnCheck(api.cudnnBatchNormalizationBackward(dnn_, (cudnnBatchNormMode_t)BnMode(), &one, &beta, &invScale, &zero, x.desc, x.x.p, y.desc, y.dx.p, x.desc, x.dx.p, op.bnDesc, W + params_[op.scale].offset, G + params_[op.scale].offset, G + params_[op.shift].offset, eps_, op.saveMean.p, op.saveInvVar.p), "BatchNorm backward " + op.name);
          x.ready = true;
          break;
        }
        case Kind::Conv: {
          Act& y = acts_[op.y];
          const Param& p = params_[op.w];
          current_ = p.name;
          if (precision_ == Precision::Amp) {
            DnnCheck(api.cudnnConvolutionBackwardFilter(dnn_, &one, x.desc, x.x.p, y.desc, y.dx.p, op.convBwdFilter, (cudnnConvolutionBwdFilterAlgo_t)op.algoBwdFilter, workspace_.p, workspace_.bytes, &zero, op.filter, convGradHalf_.p), "filter gradient " + p.name);
            HalfToFloatKernel<<<Blocks(p.count), 256, 0, stream_>>>(convGradHalf_.as<__half>(), G + p.offset, p.count, invScale);
          } else {
            DnnCheck(api.cudnnConvolutionBackwardFilter(dnn_, &one, x.desc, x.x.p, y.desc, y.dx.p, op.convBwdFilter, (cudnnConvolutionBwdFilterAlgo_t)op.algoBwdFilter, workspace_.p, workspace_.bytes, &zero, op.filter, G + p.offset), "filter gradient " + p.name);
          }
          if (op.needDx) {
            const float beta = x.ready ? 1.f : 0.f;
            DnnCheck(api.cudnnConvolutionBackwardData(dnn_, &one, op.filter, WeightPtr(p), y.desc, y.dx.p, op.convBwdData, (cudnnConvolutionBwdDataAlgo_t)op.algoBwdData, workspace_.p, workspace_.bytes, &beta, x.desc, x.dx.p), "data gradient " + p.name);
            x.ready = true;
          }
          break;
        }
      }
      Launch("backward");
    }
    current_.clear();
  }

  void RunForward(bool train) {
    RefreshHalfWeights();
    if (precision_ == Precision::Amp) ForwardT<__half>(train);
    else ForwardT<float>(train);
  }
  void RunBackward(const float* dv) {
    if (precision_ == Precision::Amp) BackwardT<__half>(dv);
    else BackwardT<float>(dv);
  }

  const Param& P(const char* name) { return params_[paramIndex_.at(name)]; }

  // F_n forward, the losses, their gradients and F_n's backward; leaves dL/dv in dv_.
  void RunHead() {
    const HeadCfg& c = head_;
    float* W = W_.as<float>();
    float* G = G_.as<float>();
    const Param &w1 = P("MLP.fc1.weight"), &b1 = P("MLP.fc1.bias"), &w2 = P("MLP.fc2.weight"), &b2 = P("MLP.fc2.bias");
    const dim3 t(16, 16);
    auto grid = [](int M, int N) { return dim3((N + 15) / 16, (M + 15) / 16); };
    const float* v = v_.as<float>();
    float* r = hidden_.as<float>();
    float* n = n_.as<float>();
    // r = relu(v W1 + b1); n = r W2 + b2
    GemmKernel<<<grid(c.B, c.H), t, 0, stream_>>>(c.B, c.H, c.D, v, c.D, 1, W + w1.offset, c.H, 1, r, c.H, false, W + b1.offset, true);
    GemmKernel<<<grid(c.B, c.D), t, 0, stream_>>>(c.B, c.D, c.H, r, c.H, 1, W + w2.offset, c.D, 1, n, c.D, false, W + b2.offset, false);
    const int* labels = labels_.as<int>();
    HeadCountsKernel<<<1, 256, 0, stream_>>>(labels, c, counts_.as<float>());
    HeadRowsKernel<<<c.B, 128, 0, stream_>>>(v, n, text_.as<float>(), labels, counts_.as<float>(), c, rows_.as<float>());
    HeadReduceKernel<<<1, 256, 0, stream_>>>(rows_.as<float>(), labels, counts_.as<float>(), c, terms_.as<float>());
    float* dv = dv_.as<float>();
    float* dn = dn_.as<float>();
    HeadGradKernel<<<c.B, 128, 0, stream_>>>(v, n, text_.as<float>(), labels, counts_.as<float>(), rows_.as<float>(), c, dv, dn);
    // dW2 = r^T dn; db2 = sum dn; dh = (dn W2^T) [r > 0]; dW1 = v^T dh; db1 = sum dh; dv += dh W1^T
    float* dh = dh_.as<float>();
    GemmKernel<<<grid(c.H, c.D), t, 0, stream_>>>(c.H, c.D, c.B, r, 1, c.H, dn, c.D, 1, G + w2.offset, c.D, false, nullptr, false);
    ColumnSumKernel<<<(c.D + 127) / 128, 128, 0, stream_>>>(dn, c.B, c.D, G + b2.offset);
    GemmKernel<<<grid(c.B, c.H), t, 0, stream_>>>(c.B, c.H, c.D, dn, c.D, 1, W + w2.offset, 1, c.D, dh, c.H, false, nullptr, false);
    ReluMaskKernel<float><<<Blocks((size_t)c.B * c.H), 256, 0, stream_>>>(dh, r, (size_t)c.B * c.H);
    GemmKernel<<<grid(c.D, c.H), t, 0, stream_>>>(c.D, c.H, c.B, v, 1, c.D, dh, c.H, 1, G + w1.offset, c.H, false, nullptr, false);
    ColumnSumKernel<<<(c.H + 127) / 128, 128, 0, stream_>>>(dh, c.B, c.H, G + b1.offset);
    GemmKernel<<<grid(c.B, c.D), t, 0, stream_>>>(c.B, c.D, c.H, dh, c.H, 1, W + w1.offset, 1, c.H, dv, c.D, true, nullptr, false);
    Launch("head");
  }

  void RunSgd(float lr, float m, float wd, bool checkFinite) {
    float* flag = terms_.as<float>() + 5;
    CudaCheck(cudaMemsetAsync(flag, 0, 4, stream_), "memset");
    if (checkFinite) NonFiniteKernel<<<Blocks(nParams_), 256, 0, stream_>>>(G_.as<float>(), nParams_, flag);
    SgdKernel<<<Blocks(nParams_), 256, 0, stream_>>>(W_.as<float>(), G_.as<float>(), Mom_.as<float>(), precision_ == Precision::Amp ? Wh_.as<__half>() : nullptr, nParams_, lr, m, wd, checkFinite ? flag : nullptr);
    Launch("sgd");
    for (auto& p : params_) p.hasMom = true;
  }

  void CheckLabels(const Napi::Int32Array& labels) {
    if ((int)labels.ElementLength() != head_.B) throw std::runtime_error("got " + std::to_string(labels.ElementLength()) + " labels for a batch of " + std::to_string(head_.B));
    for (size_t i = 0; i < labels.ElementLength(); i++)
      if (labels[i] < 0 || labels[i] >= head_.K) throw std::runtime_error("label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) + " is outside 0.." + std::to_string(head_.K - 1));
    std::memcpy(hostLabels_, labels.Data(), labels.ElementLength() * 4);
    CudaCheck(cudaMemcpyAsync(labels_.p, hostLabels_, labels.ElementLength() * 4, cudaMemcpyHostToDevice, stream_), "label upload");
  }

  void CheckImages(const Napi::Value& v) {
    if (v.IsNull() || v.IsUndefined()) return;  // the images already on the device (benchmarks)
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw std::runtime_error("images must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    const Act& img = acts_[0];
    if (a.ElementLength() != img.count) throw std::runtime_error("got " + std::to_string(a.ElementLength()) + " image values; batch " + std::to_string(img.n) + " of " + std::to_string(img.h) + "x" + std::to_string(img.w) + "x" + std::to_string(img.c) + " takes " + std::to_string(img.count));
    UploadImages(a.Data());
  }

  // ---- N-API methods ----
  template <typename F>
  Napi::Value Guard(const Napi::CallbackInfo& info, const char* what, F&& body) {
    Napi::Env env = info.Env();
    if (released_) {
      Napi::Error::New(env, "cuda: the encoder was released").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    try {
      CudaCheck(cudaSetDevice(device_), "cudaSetDevice");
      return body(env);
    } catch (const OutOfMemory& e) {
      auto err = Napi::Error::New(env, std::string("cuda ") + what + ": " + e.what());
      err.Set("code", "KEFER_CUDA_OOM");
      err.ThrowAsJavaScriptException();
    } catch (const std::exception& e) {
      std::string where = current_.empty() ? "" : " (at " + current_ + ")";
      Napi::Error::New(env, std::string("cuda ") + what + where + ": " + e.what()).ThrowAsJavaScriptException();
    }
    current_.clear();
    return env.Undefined();
  }

  Napi::Float32Array HostCopy(Napi::Env env, const void* src, size_t n) {
    auto out = Napi::Float32Array::New(env, n);
    CudaCheck(cudaMemcpyAsync(out.Data(), src, n * 4, cudaMemcpyDeviceToHost, stream_), "copy to host");
    CudaCheck(cudaStreamSynchronize(stream_), "synchronize");
    return out;
  }

  // trainStep(images | null, labels Int32Array, lr, momentum, weightDecay) -> [ls, lt, lc, correct, total, skipped, lossScale]
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    return Guard(info, "trainStep", [&](Napi::Env env) -> Napi::Value {
      if (!hasHead_) throw std::runtime_error("built without a head: trainStep needs one");
      CheckImages(info[0]);
      CheckLabels(info[1].As<Napi::Int32Array>());
      const float lr = info[2].As<Napi::Number>().FloatValue(), m = info[3].As<Napi::Number>().FloatValue(), wd = info[4].As<Napi::Number>().FloatValue();
      RunForward(true);
      RunHead();
      RunBackward(dv_.as<float>());
      const bool amp = precision_ == Precision::Amp;
      RunSgd(lr, m, wd, amp);
      CudaCheck(cudaMemcpyAsync(hostTerms_, terms_.p, 8 * 4, cudaMemcpyDeviceToHost, stream_), "loss read");
      CudaCheck(cudaStreamSynchronize(stream_), "training step");
      const bool skipped = amp && hostTerms_[5] != 0.f;
      const float usedScale = lossScale_;
      if (amp) {
        // torch.cuda.amp.GradScaler's defaults: halve on overflow, double after 2000 clean steps.
        if (skipped) {
          lossScale_ *= 0.5f;
          cleanSteps_ = 0;
        } else if (++cleanSteps_ >= 2000) {
          lossScale_ *= 2.f;
          cleanSteps_ = 0;
        }
      }
      auto out = Napi::Float32Array::New(env, 7);
      for (int i = 0; i < 5; i++) out[i] = hostTerms_[i];
      out[5] = skipped ? 1.f : 0.f;
      out[6] = usedScale;
      return out;
    });
  }

  // forward(images, train = true) -> v [N, D] (train: batch statistics, running statistics updated)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return Guard(info, "forward", [&](Napi::Env env) -> Napi::Value {
      CheckImages(info[0]);
      const bool train = info.Length() < 2 || info[1].ToBoolean().Value();
      RunForward(train);
      const Act& f = acts_[featureAct_];
      return HostCopy(env, v_.p, (size_t)f.n * f.c);
    });
  }

  // backward(dv [N, D]) -> encoder gradients kept here (getGrad), from the last forward.
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    return Guard(info, "backward", [&](Napi::Env env) -> Napi::Value {
      auto dv = info[0].As<Napi::Float32Array>();
      const Act& f = acts_[featureAct_];
      if (dv.ElementLength() != (size_t)f.n * f.c) throw std::runtime_error("got " + std::to_string(dv.ElementLength()) + " gradient values for [" + std::to_string(f.n) + ", " + std::to_string(f.c) + "]");
      CudaCheck(cudaMemcpyAsync(dv_.p, dv.Data(), dv.ElementLength() * 4, cudaMemcpyHostToDevice, stream_), "upload");
      RunBackward(dv_.as<float>());
      CudaCheck(cudaStreamSynchronize(stream_), "backward");
      return env.Undefined();
    });
  }

  // head(v [N, D], labels) -> { terms [ls, lt, lc, correct, total], dv, n }; F_n's gradients kept here.
  Napi::Value Head(const Napi::CallbackInfo& info) {
    return Guard(info, "head", [&](Napi::Env env) -> Napi::Value {
      if (!hasHead_) throw std::runtime_error("built without a head");
      auto v = info[0].As<Napi::Float32Array>();
      if (v.ElementLength() != (size_t)head_.B * head_.D) throw std::runtime_error("got " + std::to_string(v.ElementLength()) + " feature values for [" + std::to_string(head_.B) + ", " + std::to_string(head_.D) + "]");
      CheckLabels(info[1].As<Napi::Int32Array>());
      CudaCheck(cudaMemcpyAsync(v_.p, v.Data(), v.ElementLength() * 4, cudaMemcpyHostToDevice, stream_), "upload");
      RunHead();
      auto out = Napi::Object::New(env);
      out.Set("terms", HostCopy(env, terms_.p, 5));
      out.Set("dv", HostCopy(env, dv_.p, (size_t)head_.B * head_.D));
      out.Set("n", HostCopy(env, n_.p, (size_t)head_.B * head_.D));
      return out;
    });
  }

  Napi::Value Sgd(const Napi::CallbackInfo& info) {
    return Guard(info, "sgd", [&](Napi::Env env) -> Napi::Value {
      RunSgd(info[0].As<Napi::Number>().FloatValue(), info[1].As<Napi::Number>().FloatValue(), info[2].As<Napi::Number>().FloatValue(), false);
      CudaCheck(cudaStreamSynchronize(stream_), "sgd");
      return env.Undefined();
    });
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    return Guard(info, "synchronize", [&](Napi::Env env) -> Napi::Value {
      CudaCheck(cudaStreamSynchronize(stream_), "synchronize");
      return env.Undefined();
    });
  }

  Param& Find(const Napi::CallbackInfo& info) {
    auto name = info[0].As<Napi::String>().Utf8Value();
    auto it = paramIndex_.find(name);
    if (it == paramIndex_.end()) throw std::runtime_error("no parameter " + name);
    return params_[it->second];
  }

  // Conv weights cross the boundary as OIHW; in NHWC mode they are held OHWI (cuDNN's NHWC filter layout).
  std::vector<float> ToCompute(const Param& p, const float* src) const {
    std::vector<float> out(src, src + p.count);
    if (!p.conv || !nhwc_) return out;
    const int O = p.dims[0], I = p.dims[1], KH = p.dims[2], KW = p.dims[3];
    for (int o = 0; o < O; o++)
      for (int i = 0; i < I; i++)
        for (int h = 0; h < KH; h++)
          for (int w = 0; w < KW; w++) out[((size_t)(o * KH + h) * KW + w) * I + i] = src[((size_t)(o * I + i) * KH + h) * KW + w];
    return out;
  }
  void FromCompute(const Param& p, const float* src, float* dst) const {
    if (!p.conv || !nhwc_) {
      std::memcpy(dst, src, p.count * 4);
      return;
    }
    const int O = p.dims[0], I = p.dims[1], KH = p.dims[2], KW = p.dims[3];
    for (int o = 0; o < O; o++)
      for (int i = 0; i < I; i++)
        for (int h = 0; h < KH; h++)
          for (int w = 0; w < KW; w++) dst[((size_t)(o * I + i) * KH + h) * KW + w] = src[((size_t)(o * KH + h) * KW + w) * I + i];
  }

  Napi::Value Read(const Napi::CallbackInfo& info, const DevBuf& buf) {
    return Guard(info, "read", [&](Napi::Env env) -> Napi::Value {
      Param& p = Find(info);
      std::vector<float> tmp(p.count);
      CudaCheck(cudaMemcpyAsync(tmp.data(), buf.as<float>() + p.offset, p.count * 4, cudaMemcpyDeviceToHost, stream_), "copy to host");
      CudaCheck(cudaStreamSynchronize(stream_), "synchronize");
      auto out = Napi::Float32Array::New(env, p.count);
      FromCompute(p, tmp.data(), out.Data());
      return out;
    });
  }
  Napi::Value Write(const Napi::CallbackInfo& info, DevBuf& buf) {
    return Guard(info, "write", [&](Napi::Env env) -> Napi::Value {
      Param& p = Find(info);
      auto data = info[1].As<Napi::Float32Array>();
      if (data.ElementLength() != p.count) throw std::runtime_error(p.name + " takes " + std::to_string(p.count) + " values, got " + std::to_string(data.ElementLength()));
      auto tmp = ToCompute(p, data.Data());
      CudaCheck(cudaMemcpy(buf.as<float>() + p.offset, tmp.data(), p.count * 4, cudaMemcpyHostToDevice), "upload");
      whDirty_ = true;
      return env.Undefined();
    });
  }
  Napi::Value SetParam(const Napi::CallbackInfo& info) { return Write(info, W_); }
  Napi::Value GetParam(const Napi::CallbackInfo& info) { return Read(info, W_); }
  Napi::Value GetGrad(const Napi::CallbackInfo& info) { return Read(info, G_); }
  Napi::Value SetMomentum(const Napi::CallbackInfo& info) {
    if (info[1].IsNull() || info[1].IsUndefined()) {
      return Guard(info, "setMomentum", [&](Napi::Env env) -> Napi::Value {
        Param& p = Find(info);
        // A zero buffer makes the next step's buf = g' exactly, torch's first step.
        CudaCheck(cudaMemset(Mom_.as<float>() + p.offset, 0, p.count * 4), "memset");
        p.hasMom = false;
        return env.Undefined();
      });
    }
    Napi::Value r = Write(info, Mom_);
    if (!released_ && paramIndex_.count(info[0].As<Napi::String>().Utf8Value())) params_[paramIndex_.at(info[0].As<Napi::String>().Utf8Value())].hasMom = true;
    return r;
  }
  Napi::Value GetMomentum(const Napi::CallbackInfo& info) {
    if (!released_) {
      auto it = paramIndex_.find(info[0].As<Napi::String>().Utf8Value());
      if (it != paramIndex_.end() && !params_[it->second].hasMom) return info.Env().Null();
    }
    return Read(info, Mom_);
  }

  Op* FindBn(const std::string& layer) {
    for (auto& op : ops_)
      if (op.kind == Kind::Bn && op.name == layer) return &op;
    return nullptr;
  }
  // Running statistics by PyTorch's names: "<layer>.running_mean" / "<layer>.running_var".
  Napi::Value GetBuffer(const Napi::CallbackInfo& info) {
    return Guard(info, "getBuffer", [&](Napi::Env env) -> Napi::Value {
      auto name = info[0].As<Napi::String>().Utf8Value();
      const auto dot = name.rfind('.');
      Op* op = dot == std::string::npos ? nullptr : FindBn(name.substr(0, dot));
      const std::string which = dot == std::string::npos ? "" : name.substr(dot + 1);
      if (!op || (which != "running_mean" && which != "running_var")) throw std::runtime_error("no buffer " + name);
      return HostCopy(env, which == "running_mean" ? op->runMean.p : op->runVar.p, acts_[op->x].c);
    });
  }
  Napi::Value SetBuffer(const Napi::CallbackInfo& info) {
    return Guard(info, "setBuffer", [&](Napi::Env env) -> Napi::Value {
      auto name = info[0].As<Napi::String>().Utf8Value();
      const auto dot = name.rfind('.');
      Op* op = dot == std::string::npos ? nullptr : FindBn(name.substr(0, dot));
      const std::string which = dot == std::string::npos ? "" : name.substr(dot + 1);
      if (!op || (which != "running_mean" && which != "running_var")) throw std::runtime_error("no buffer " + name);
      auto data = info[1].As<Napi::Float32Array>();
      if (data.ElementLength() != (size_t)acts_[op->x].c) throw std::runtime_error(name + " takes " + std::to_string(acts_[op->x].c) + " values");
      CudaCheck(cudaMemcpy(which == "running_mean" ? op->runMean.p : op->runVar.p, data.Data(), data.ElementLength() * 4, cudaMemcpyHostToDevice), "upload");
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    return Guard(info, "info", [&](Napi::Env env) -> Napi::Value {
      auto o = Napi::Object::New(env);
      cudaDeviceProp prop;
      CudaCheck(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
      int driver = 0, runtime = 0;
      cudaDriverGetVersion(&driver);
      cudaRuntimeGetVersion(&runtime);
      o.Set("gpu", std::string(prop.name));
      o.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
      o.Set("memoryMiB", (double)(prop.totalGlobalMem >> 20));
      o.Set("driver", std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10));
      o.Set("cuda", std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10));
      const size_t v = LoadCudnn().version;
      o.Set("cudnn", std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100));
      o.Set("cudnnPath", LoadCudnn().path);
      o.Set("precision", precision_ == Precision::Fp32 ? "fp32" : precision_ == Precision::Tf32 ? "tf32" : "amp");
      o.Set("layout", nhwc_ ? "NHWC" : "NCHW");
      o.Set("workspaceMiB", (double)workspace_.bytes / (1 << 20));
      o.Set("lossScale", lossScale_);
      std::string algos;
      for (auto& [k, n] : algoCounts_) algos += (algos.empty() ? "" : ", ") + k + " x" + std::to_string(n);
      o.Set("algorithms", algos);
      o.Set("deterministic", deterministic_);
      return o;
    });
  }

  void Free() {
    auto& api = Dnn();
    if (stream_) cudaStreamSynchronize(stream_);
    for (auto& op : ops_) {
      if (op.filter && api.cudnnDestroyFilterDescriptor) api.cudnnDestroyFilterDescriptor(op.filter);
      for (auto d : {op.convFwd, op.convBwdData, op.convBwdFilter})
        if (d && api.cudnnDestroyConvolutionDescriptor) api.cudnnDestroyConvolutionDescriptor(d);
      if (op.bnDesc && api.cudnnDestroyTensorDescriptor) api.cudnnDestroyTensorDescriptor(op.bnDesc);
    }
    ops_.clear();
    for (auto& a : acts_)
      if (a.desc && api.cudnnDestroyTensorDescriptor) api.cudnnDestroyTensorDescriptor(a.desc);
    acts_.clear();
    for (DevBuf* b : {&W_, &G_, &Mom_, &Wh_, &convGradHalf_, &workspace_, &images_, &labels_, &v_, &dv_, &hidden_, &n_, &dn_, &dh_, &text_, &rows_, &counts_, &terms_}) b->Free();
    for (void* h : {(void*)hostImages_, (void*)hostTerms_, (void*)hostLabels_})
      if (h) cudaFreeHost(h);
    hostImages_ = nullptr;
    hostTerms_ = nullptr;
    hostLabels_ = nullptr;
    if (dnn_ && api.cudnnDestroy) api.cudnnDestroy(dnn_);
    dnn_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
  }

  // Frees the device memory now rather than at garbage collection; the object is unusable afterwards.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (!released_) {
      cudaSetDevice(device_);
      Free();
    }
    released_ = true;
    return info.Env().Undefined();
  }
};

// probe() -> what this machine offers, without throwing: CUDA runtime and driver, devices, cuDNN.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  int runtime = 0, driver = 0, count = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  o.Set("cuda", std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10));
  o.Set("driver", driver ? std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10) : "none");
  cudaError_t e = cudaGetDeviceCount(&count);
  auto devices = Napi::Array::New(env);
  if (e != cudaSuccess) {
    o.Set("deviceError", std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e));
    cudaGetLastError();
    count = 0;
  }
  for (int i = 0; i < count; i++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    auto d = Napi::Object::New(env);
    d.Set("name", std::string(p.name));
    d.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    d.Set("memoryMiB", (double)(p.totalGlobalMem >> 20));
    devices.Set(i, d);
  }
  o.Set("devices", devices);
  Cudnn& c = LoadCudnn();
  auto cd = Napi::Object::New(env);
  cd.Set("loaded", c.ok);
  if (c.ok) {
    cd.Set("version", std::to_string(c.version / 10000) + "." + std::to_string((c.version / 100) % 100) + "." + std::to_string(c.version % 100));
    cd.Set("path", c.path);
  } else {
    cd.Set("why", c.why);
  }
  o.Set("cudnn", cd);
  o.Set("headersChecked",
#ifdef KEFER_HAVE_CUDNN_H
        true
#else
        false
#endif
  );
  return o;
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Encoder", Encoder::Init(env));
  exports.Set("probe", Napi::Function::New(env, Probe));
  return exports;
}

}  // namespace

NODE_API_MODULE(kefer_cuda, InitAll)
