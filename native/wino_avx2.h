// A 3x3 stride-1 convolution (pad 1) by Winograd F(4x4, 3x3) or F(7x7, 3x3) on AVX2 + FMA, for the inference encoder
// where oneDNN has no Winograd kernel. oneDNN 2.6 (Debian's) implements Winograd for AVX-512 only; its
// AVX2 convolutions are the direct ones PyTorch runs too, so on an AVX2 CPU this is where inference gets
// ahead. XNNPACK (in Debian) has no Winograd; NNPACK's is archived and not packaged. Hence by hand.
//
// Layout: source and destination in oneDNN's nChw8c (one 8-channel block is one ymm register), the
// bias, the residual add (sum into the destination) and ReLU fused into the output transform, like the
// oneDNN convolutions it stands in for. The int8 encoder's layout too (Quant): u8 NHWC in, u8/s8 NHWC out,
// the scales folded into the transformed weights, requantized in the output transform; on AVX2 without
// VNNI oneDNN's int8 3x3 convolutions are slower than this fp32 Winograd on the same layer. Tiles are
// processed in chunks sized for the cache: input transform, (m+2)^2 small GEMMs (one per Winograd point,
// 6x16 FMA microkernel), output transform, each phase spread over the OpenMP threads.
//
// Transform matrices by Cook-Toom (CookToom below). F(4x4, 3x3), points 0, +-1, +-2, inf (Lavin & Gray 2015):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// F(7x7, 3x3), points 0, +-1, +-2, +-1/2, -1/4, inf: one tile per 7x7 map (ResNet-18 @112's layer 3) and
// 4 per 14x14 (layer 2), 81 products per 49 outputs where F(4x4) spends 144 (its tiles overhang 7 by 1).
// Its fp32 error on u8 inputs is about 1e-5 of the output's range (measured against a float64 direct
// convolution; the point -1/4 gave the smallest of the eighth points tried), under an int8 step.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace wino {

// True where the CPU runs AVX2 and FMA (the caller also honours oneDNN's ISA cap).
inline bool CpuHasAvx2Fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;
inline Buffer Allocate(size_t floats) {
  void* p = std::aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<float*>(p));
}
// Weights two instances of one encoder (built for different batch sizes) may share.
using Shared = std::shared_ptr<float>;
inline Shared AllocateShared(size_t floats) { return Shared(Allocate(floats).release(), AlignedFree()); }

// F(m x m, 3x3) by Cook-Toom on m+1 finite points p and infinity, computed at compile time (double):
// A^T[i][j] = p_j^i; G[j][k] = p_j^k / prod_{l != j}(p_j - p_l); B^T's row j the ascending coefficients
// of prod_{l != j}(x - p_l), and its last row those of prod_l (x - p_l); infinity adds the last column of
// A^T and the row [0 0 1] of G. With points 0, +-1, +-2 this gives exactly the F(4x4) matrices above.
template <int M>
struct CookToom {
  static constexpr int A = M + 2;  // points per axis (input tile size)
  double at[M][A]{}, g[A][3]{}, bt[A][A]{};
  constexpr explicit CookToom(const double (&p)[A - 1]) {
    for (int j = 0; j <= A - 1; j++) {
      // The product over every point but j (j = A - 1: over all of them), one root at a time.
      double poly[A + 1]{}, den = 1;
      poly[0] = 1;
      int deg = 0;
      for (int l = 0; l < A - 1; l++) {
        if (l == j) continue;
        if (j < A - 1) den *= p[j] - p[l];
        deg++;
        for (int d = deg; d >= 0; d--) poly[d] = (d > 0 ? poly[d - 1] : 0) - p[l] * poly[d];
      }
      for (int d = 0; d <= deg; d++) bt[j][d] = poly[d];
      if (j == A - 1) break;
      double pw = 1;
      for (int i = 0; i < M; i++, pw *= p[j]) at[i][j] = pw;
      pw = 1;
      for (int k = 0; k < 3; k++, pw *= p[j]) g[j][k] = pw / den;
    }
    at[M - 1][A - 1] = 1;
    g[A - 1][2] = 1;
  }
};
inline constexpr double kPoints4[] = {0, 1, -1, 2, -2};
inline constexpr double kPoints7[] = {0, 1, -1, 2, -2, 0.5, -0.5, -0.25};
template <int M>
struct Matrices;
template <>
struct Matrices<4> {
  static constexpr CookToom<4> value{kPoints4};
};
template <>
struct Matrices<7> {
  static constexpr CookToom<7> value{kPoints7};
};
static_assert(Matrices<4>::value.bt[0][2] == -5 && Matrices<4>::value.bt[5][3] == -5 && Matrices<4>::value.g[3][1] == 1.0 / 12 &&
                  Matrices<4>::value.at[3][3] == 8 && Matrices<4>::value.at[3][5] == 1,
              "Cook-Toom on 0, +-1, +-2 must give Lavin & Gray's F(4x4, 3x3)");

// The kernels are compiled for AVX2 + FMA whatever the addon's flags (an attribute, not a pragma: GCC
// and clang both honour it); callers check CpuHasAvx2Fma first.
#define KEFER_AVX2 __attribute__((target("avx2,fma")))

// y = B^T x over six vectors (one row or column of a tile).
KEFER_AVX2 static inline void InputRow(const __m256 x[6], __m256 y[6]) {
  const __m256 four = _mm256_set1_ps(4.f), five = _mm256_set1_ps(5.f), two = _mm256_set1_ps(2.f);
  y[0] = _mm256_fmadd_ps(four, x[0], _mm256_fnmadd_ps(five, x[2], x[4]));
  y[1] = _mm256_fnmadd_ps(four, _mm256_add_ps(x[1], x[2]), _mm256_add_ps(x[3], x[4]));
  y[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(x[1], x[2]), _mm256_sub_ps(x[4], x[3]));
  y[3] = _mm256_fmadd_ps(two, _mm256_sub_ps(x[3], x[1]), _mm256_sub_ps(x[4], x[2]));
  y[4] = _mm256_fnmadd_ps(two, _mm256_sub_ps(x[3], x[1]), _mm256_sub_ps(x[4], x[2]));
  y[5] = _mm256_fmadd_ps(four, x[1], _mm256_fnmadd_ps(five, x[3], x[5]));
}

// y = A^T x: six Winograd points to four outputs.
KEFER_AVX2 static inline void OutputRow(const __m256 x[6], __m256 y[4]) {
  const __m256 two = _mm256_set1_ps(2.f), four = _mm256_set1_ps(4.f), eight = _mm256_set1_ps(8.f);
  const __m256 s12 = _mm256_add_ps(x[1], x[2]), d12 = _mm256_sub_ps(x[1], x[2]);
  const __m256 s34 = _mm256_add_ps(x[3], x[4]), d34 = _mm256_sub_ps(x[3], x[4]);
  y[0] = _mm256_add_ps(_mm256_add_ps(x[0], s12), s34);
  y[1] = _mm256_fmadd_ps(two, d34, d12);
  y[2] = _mm256_fmadd_ps(four, s34, s12);
  y[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, d34, d12), x[5]);
}

// y = T x for a compile-time matrix T (R x Cols): unrolled, so zero entries cost nothing and +-1 are adds.
template <int R, int Cols>
KEFER_AVX2 static inline void ConstRows(const double (&t)[R][Cols], const __m256* x, __m256* y) {
#pragma GCC unroll 16
  for (int i = 0; i < R; i++) {
    __m256 acc = _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int l = 0; l < Cols; l++) {
      const float c = (float)t[i][l];
      if (c == 1.f) acc = _mm256_add_ps(acc, x[l]);
      else if (c == -1.f) acc = _mm256_sub_ps(acc, x[l]);
      else if (c != 0.f) acc = _mm256_fmadd_ps(_mm256_set1_ps(c), x[l], acc);
    }
    y[i] = acc;
  }
}

// y = B^T x over one row or column of an (M+2)-point tile; F(4x4) by the hand-scheduled InputRow.
template <int M>
KEFER_AVX2 static inline void InputRowOf(const __m256* x, __m256* y) {
  if constexpr (M == 4) InputRow(x, y);
  else ConstRows(Matrices<M>::value.bt, x, y);
}
// y = A^T x: M+2 Winograd points to M outputs.
template <int M>
KEFER_AVX2 static inline void OutputRowOf(const __m256* x, __m256* y) {
  if constexpr (M == 4) OutputRow(x, y);
  else ConstRows(Matrices<M>::value.at, x, y);
}

// m[r][0..16) = sum_c v[r][c] * u[c][0..16) for R <= 6 rows of tiles. v is packed [C/8][ldv][8] (the
// rows' 8-channel blocks side by side, as the input transform writes them), u is [C][16], m's two
// 8-column blocks are ldm apart (the output transform reads them as v is written). Named
// accumulators: an array of them makes GCC spill every one to the stack on every step.
#define KEFER_WINO_ROW(r)                                        \
  if constexpr (R > r) {                                          \
    const __m256 b = _mm256_broadcast_ss(block + r * 8 + ci);     \
    a##r##0 = _mm256_fmadd_ps(b, u0, a##r##0);                    \
    a##r##1 = _mm256_fmadd_ps(b, u1, a##r##1);                    \
  }
#define KEFER_WINO_STORE(r)                    \
  if constexpr (R > r) {                        \
    _mm256_store_ps(m + r * 8, a##r##0);        \
    _mm256_store_ps(m + ldm + r * 8, a##r##1);  \
  }
template <int R>
KEFER_AVX2 static inline void Microkernel(const float* v, long ldv, const float* u, long C, float* m, long ldm) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00,
         a50 = a00, a51 = a00;
  for (long cb = 0; cb < C / 8; cb++) {
    const float* block = v + cb * ldv * 8;
    const float* uc = u + cb * 128;
    for (int ci = 0; ci < 8; ci++) {
      const __m256 u0 = _mm256_load_ps(uc + ci * 16), u1 = _mm256_load_ps(uc + ci * 16 + 8);
      KEFER_WINO_ROW(0) KEFER_WINO_ROW(1) KEFER_WINO_ROW(2) KEFER_WINO_ROW(3) KEFER_WINO_ROW(4) KEFER_WINO_ROW(5)
    }
  }
  KEFER_WINO_STORE(0) KEFER_WINO_STORE(1) KEFER_WINO_STORE(2) KEFER_WINO_STORE(3) KEFER_WINO_STORE(4) KEFER_WINO_STORE(5)
}
#undef KEFER_WINO_ROW
#undef KEFER_WINO_STORE

// Eight u8 (or s8) channels to floats.
KEFER_AVX2 static inline __m256 Load8(const void* p, bool isSigned) {
  const __m128i b = _mm_loadl_epi64(static_cast<const __m128i*>(p));
  return _mm256_cvtepi32_ps(isSigned ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
}
// Eight floats rounded to nearest and saturated to u8 (or s8), as oneDNN's int8 destinations are.
KEFER_AVX2 static inline void Store8(void* p, __m256 v, bool isSigned) {
  v = isSigned ? _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-128.f)), _mm256_set1_ps(127.f))
               : _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.f));
  const __m256i i = _mm256_cvtps_epi32(v);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  _mm_storel_epi64(static_cast<__m128i*>(p), isSigned ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
}

// The int8 encoder's convolution: u8 NHWC source at some scale, destination requantized to u8 (or s8)
// NHWC; q = value x scale. The products stay fp32 (weights unquantized), so only the activations round.
struct Quant {
  float srcScale = 1.f, dstScale = 1.f;
  bool dstSigned = false;
  bool sumSigned = false;  // the shortcut already in the destination (when `sum`): s8 or u8
  float sumScale = 1.f;    // the shortcut's q to the destination's q
  // The transformed weights carry dstScale / srcScale: two convolutions share them only when these agree.
  bool SameWeightScales(const Quant& o) const { return srcScale == o.srcScale && dstScale == o.dstScale; }
};

class Conv3x3 {
 public:
  // N images of C x H x W in, K x H x W out; C a multiple of 8 and K of 16 (Supports says). `quant`: the
  // int8 encoder's layout and scales, else fp32 nChw8c. `tile`: 4 or 7 outputs per tile side, 0 = Tile().
  Conv3x3(long N, long C, long K, long H, long W, bool sum, bool relu, const Quant* quant = nullptr, int tile = 0)
      : N_(N), C_(C), K_(K), H_(H), W_(W), sum_(sum), relu_(relu), quantized_(quant != nullptr), q_(quant ? *quant : Quant()),
        m_(tile ? tile : Tile(C, K, H, W, quant != nullptr)) {
    if (!Supports(C, K)) throw std::runtime_error("winograd avx2: channels must be multiples of 8 (in) and 16 (out)");
    if (m_ != 4 && m_ != 7) throw std::runtime_error("winograd avx2: tiles of 4 or 7 outputs");
    th_ = (H + m_ - 1) / m_;
    tw_ = (W + m_ - 1) / m_;
    tiles_ = N * th_ * tw_;
    // A chunk's transformed input (points x tiles x C) in about 2 MiB, at least 48 tiles so each weight
    // panel is reused across enough rows; a multiple of 6, the microkernel's rows.
    long tb = (2l << 20) / (Points() * C * (long)sizeof(float));
    tb = std::max(48l, std::min(tb, 240l));
    tb = std::min(tb, ((tiles_ + 5) / 6) * 6);
    chunk_ = std::max(6l, (tb / 6) * 6);
    // Where the transformed weights fit in L2 (64 channels) and there are chunks enough for every thread,
    // each thread runs whole chunks on its own: no barrier between the phases (three per chunk otherwise,
    // 170 per layer at 28x28, batch 256; each waits for a descheduled thread on a busy machine).
    threads_ = std::max(1, omp_get_max_threads());
    independent_ = Points() * C * K * (long)sizeof(float) <= (1l << 20) && tiles_ >= 4 * chunk_ * threads_;
    u_ = AllocateShared(Points() * C * K);
    bias_ = AllocateShared(K);
    std::memset(bias_.get(), 0, K * sizeof(float));
  }

  static bool Supports(long C, long K) { return C % 8 == 0 && K % 16 == 0; }
  // F(7x7) where 7 divides the map (no overhang; F(4x4) overhangs 7 and 14 by one row and column) and the
  // channels are many enough that its denser transforms (62 and 56 of 81 and 63 matrix entries nonzero)
  // stay small beside the products: 0.65x F(4x4)'s work at 14x14 and 128 channels by count, break-even at
  // 28x28 and 64 (bench:wino measures 0.8x there, 1.24x at 14x14 and 1.32x at 7x7). int8 only: in fp32 the
  // encoder's features stay within 1e-4 of direct either way, but F(4x4)'s about 2e-6 against F(7x7)'s
  // 2-7e-5; under int8's rounding the two are equally close to fp32 (test/engine/onednn-wino-avx2.test.ts).
  static int Tile(long C, long K, long H, long W, bool quantized) {
    return quantized && H % 7 == 0 && W % 7 == 0 && C >= 128 && K >= 128 ? 7 : 4;
  }
  // Outputs per tile side: 4 or 7.
  int TileSize() const { return m_; }
  // Whether each thread runs whole chunks on its own (no barriers between the phases).
  bool PerThreadChunks() const { return independent_; }

  // From now on uses (and SetWeights writes) `o`'s transformed weights and bias: the same convolution in
  // an instance built for another batch size. The transformed weights are 4x the direct ones.
  bool ShareWeightsOf(const Conv3x3& o) {
    // int8: the transformed weights carry the scales, which must be the same.
    if (o.C_ != C_ || o.K_ != K_ || o.m_ != m_ || o.quantized_ != quantized_ || !o.q_.SameWeightScales(q_)) return false;
    u_ = o.u_;
    bias_ = o.bias_;
    return true;
  }

  // Scratch floats Run needs: one chunk's transformed input and products.
  size_t ScratchFloats() const { return (size_t)Points() * chunk_ * (C_ + K_) * (independent_ ? threads_ : 1); }

  // hwio: [3][3][C][K] (tfjs's layout, BatchNorm folded in); bias: [K]. U = G g G^T per (c, k), packed
  // as [points][K/16][C][16] for the microkernel; int8: times dstScale / srcScale (u8 in, q out), the bias
  // times dstScale.
  void SetWeights(const float* hwio, const float* bias) {
    if (m_ == 7) TransformWeights<7>(hwio);
    else TransformWeights<4>(hwio);
    for (long k = 0; k < K_; k++) bias_.get()[k] = quantized_ ? bias[k] * q_.dstScale : bias[k];
  }

  // src, dst: nChw8c floats, or (Quant) u8 / u8-or-s8 NHWC; dst holds the shortcut to add when `sum`.
  // scratch: ScratchFloats(), 64-byte aligned.
  void Run(const void* src, void* dst, float* scratch) const {
    if (m_ == 7) {
      if (quantized_) RunAs<true, 7>(src, dst, scratch);
      else RunAs<false, 7>(src, dst, scratch);
    } else {
      if (quantized_) RunAs<true, 4>(src, dst, scratch);
      else RunAs<false, 4>(src, dst, scratch);
    }
  }

 private:
  long N_, C_, K_, H_, W_;
  bool sum_, relu_;
  bool quantized_;
  Quant q_;
  int m_;  // outputs per tile side
  long th_, tw_, tiles_, chunk_;
  int threads_ = 1;
  bool independent_ = false;
  Shared u_, bias_;

  // Winograd points per tile.
  long Points() const { return (long)(m_ + 2) * (m_ + 2); }

  template <int M>
  void TransformWeights(const float* hwio) {
    constexpr int A = M + 2;
    const auto& G = Matrices<M>::value.g;
    const double factor = quantized_ ? (double)q_.dstScale / q_.srcScale : 1.0;
    float* u = u_.get();
#pragma omp parallel for
    for (long k = 0; k < K_; k++) {
      for (long c = 0; c < C_; c++) {
        double g[3][3], t[A][3];
        for (int i = 0; i < 3; i++)
          for (int j = 0; j < 3; j++) g[i][j] = hwio[((i * 3 + j) * C_ + c) * K_ + k];
        for (int a = 0; a < A; a++)
          for (int j = 0; j < 3; j++) t[a][j] = G[a][0] * g[0][j] + G[a][1] * g[1][j] + G[a][2] * g[2][j];
        for (int a = 0; a < A; a++)
          for (int b = 0; b < A; b++) {
            const double x = t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2];
            u[(((long)(a * A + b) * (K_ / 16) + k / 16) * C_ + c) * 16 + k % 16] = (float)(x * factor);
          }
      }
    }
  }

  template <bool Q, int M>
  void RunAs(const void* src, void* dst, float* scratch) const {
    constexpr long P = (M + 2) * (M + 2);
    if (independent_) {
      const long chunks = (tiles_ + chunk_ - 1) / chunk_;
#pragma omp parallel num_threads(threads_)
      {
        float* V = scratch + (size_t)omp_get_thread_num() * P * chunk_ * (C_ + K_);
        float* Mp = V + P * chunk_ * C_;
#pragma omp for schedule(dynamic, 1)
        for (long ci = 0; ci < chunks; ci++) {
          const long t0 = ci * chunk_, n = std::min(chunk_, tiles_ - t0);
          for (long cb = 0; cb < C_ / 8; cb++)
            for (long t = 0; t < n; t++) TransformInput<Q, M>(src, t0 + t, cb, V + (cb * chunk_ + t) * 8);
          for (long p = 0; p < P; p++)
            for (long kb = 0; kb < K_ / 16; kb++) Multiply(V + p * chunk_ * C_, u_.get() + (p * (K_ / 16) + kb) * C_ * 16, n, Mp + p * chunk_ * K_ + kb * 16 * chunk_);
          for (long kb = 0; kb < K_ / 8; kb++)
            for (long t = 0; t < n; t++) TransformOutput<Q, M>(Mp + (kb * chunk_ + t) * 8, t0 + t, kb, dst);
        }
      }
      return;
    }
    float* V = scratch;                     // [P][C/8][chunk][8]
    float* Mp = scratch + P * chunk_ * C_;  // [P][K/8][chunk][8]
#pragma omp parallel
    for (long t0 = 0; t0 < tiles_; t0 += chunk_) {
      const long n = std::min(chunk_, tiles_ - t0);
      // Channel block outer: consecutive tiles fill V's cache lines in order and share input rows.
#pragma omp for collapse(2) schedule(static)
      for (long cb = 0; cb < C_ / 8; cb++)
        for (long t = 0; t < n; t++) TransformInput<Q, M>(src, t0 + t, cb, V + (cb * chunk_ + t) * 8);
#pragma omp for collapse(2) schedule(static)
      for (long p = 0; p < P; p++)
        for (long kb = 0; kb < K_ / 16; kb++) Multiply(V + p * chunk_ * C_, u_.get() + (p * (K_ / 16) + kb) * C_ * 16, n, Mp + p * chunk_ * K_ + kb * 16 * chunk_);
#pragma omp for collapse(2) schedule(static)
      for (long kb = 0; kb < K_ / 8; kb++)
        for (long t = 0; t < n; t++) TransformOutput<Q, M>(Mp + (kb * chunk_ + t) * 8, t0 + t, kb, dst);
    }
  }

  // The (M+2)^2 input tile of global tile `g`, channel block `cb`, to its Winograd points (stride chunk*C).
  template <bool Q, int M>
  KEFER_AVX2 void TransformInput(const void* src, long g, long cb, float* v) const {
    constexpr int A = M + 2;
    const long n = g / (th_ * tw_), r = g % (th_ * tw_);
    const long y0 = (r / tw_) * M - 1, x0 = (r % tw_) * M - 1;
    __m256 d[A][A], t[A][A];
    for (int i = 0; i < A; i++) {
      const long y = y0 + i;
      for (int j = 0; j < A; j++) {
        const long x = x0 + j;
        if (!(y >= 0 && y < H_ && x >= 0 && x < W_)) {
          d[i][j] = _mm256_setzero_ps();
        } else if constexpr (Q) {
          d[i][j] = Load8(static_cast<const uint8_t*>(src) + ((n * H_ + y) * W_ + x) * C_ + cb * 8, false);
        } else {
          d[i][j] = _mm256_loadu_ps(static_cast<const float*>(src) + ((n * (C_ / 8) + cb) * H_ * W_ + y * W_ + x) * 8);
        }
      }
    }
    // Rows of B^T d, then (B^T d) B column-wise.
    for (int j = 0; j < A; j++) {
      __m256 col[A], out[A];
      for (int i = 0; i < A; i++) col[i] = d[i][j];
      InputRowOf<M>(col, out);
      for (int i = 0; i < A; i++) t[i][j] = out[i];
    }
    const long stride = chunk_ * C_;
    for (int i = 0; i < A; i++) {
      __m256 out[A];
      InputRowOf<M>(t[i], out);
      for (int j = 0; j < A; j++) _mm256_store_ps(v + (i * A + j) * stride, out[j]);
    }
  }

  // M[0..n) x 16 columns = V[0..n) x U panel, six rows at a time (V and M packed [channels/8][chunk][8]).
  KEFER_AVX2 void Multiply(const float* v, const float* u, long n, float* m) const {
    long r = 0;
    const long ldm = chunk_ * 8;
    for (; r + 6 <= n; r += 6) Microkernel<6>(v + r * 8, chunk_, u, C_, m + r * 8, ldm);
    switch (n - r) {
      case 5: Microkernel<5>(v + r * 8, chunk_, u, C_, m + r * 8, ldm); break;
      case 4: Microkernel<4>(v + r * 8, chunk_, u, C_, m + r * 8, ldm); break;
      case 3: Microkernel<3>(v + r * 8, chunk_, u, C_, m + r * 8, ldm); break;
      case 2: Microkernel<2>(v + r * 8, chunk_, u, C_, m + r * 8, ldm); break;
      case 1: Microkernel<1>(v + r * 8, chunk_, u, C_, m + r * 8, ldm); break;
      default: break;
    }
  }

  // The (M+2)^2 products of global tile `g`, output block `kb`, to its MxM outputs (+ bias, + shortcut, ReLU).
  template <bool Q, int M>
  KEFER_AVX2 void TransformOutput(const float* m, long g, long kb, void* dst) const {
    constexpr int A = M + 2;
    const long stride = chunk_ * K_;
    __m256 t[M][A];
    for (int j = 0; j < A; j++) {
      __m256 col[A], out[M];
      for (int i = 0; i < A; i++) col[i] = _mm256_load_ps(m + (i * A + j) * stride);
      OutputRowOf<M>(col, out);
      for (int i = 0; i < M; i++) t[i][j] = out[i];
    }
    const long n = g / (th_ * tw_), r = g % (th_ * tw_);
    const long y0 = (r / tw_) * M, x0 = (r % tw_) * M;
    const __m256 bias = _mm256_load_ps(bias_.get() + kb * 8), zero = _mm256_setzero_ps(), sumScale = _mm256_set1_ps(q_.sumScale);
    for (int i = 0; i < M; i++) {
      const long y = y0 + i;
      if (y >= H_) break;
      __m256 out[M];
      OutputRowOf<M>(t[i], out);
      for (int j = 0; j < M; j++) {
        const long x = x0 + j;
        if (x >= W_) break;
        __m256 o = _mm256_add_ps(out[j], bias);
        if constexpr (Q) {
          uint8_t* p = static_cast<uint8_t*>(dst) + ((n * H_ + y) * W_ + x) * K_ + kb * 8;
          if (sum_) o = _mm256_fmadd_ps(sumScale, Load8(p, q_.sumSigned), o);
          if (relu_) o = _mm256_max_ps(o, zero);
          Store8(p, o, q_.dstSigned);
        } else {
          float* p = static_cast<float*>(dst) + ((n * (K_ / 8) + kb) * H_ * W_ + y * W_ + x) * 8;
          if (sum_) o = _mm256_add_ps(o, _mm256_loadu_ps(p));
          if (relu_) o = _mm256_max_ps(o, zero);
          _mm256_storeu_ps(p, o);
        }
      }
    }
  }
};

}  // namespace wino
