// The encoder's stem for grey images on AVX2 + FMA: the 7x7 stride-2 convolution (BatchNorm folded, ReLU)
// and the 3x3 stride-2 max pool after it, in one pass per image, for the inference encoder's pixel path.
//
// FER2013 and FERPlus are grey; decoded, a grey image is R = G = B. The stem's three input channels are
// then one:  sum_c W_c (v / 255 - m_c) / s_c  =  v * sum_c W_c / (255 s_c)  -  sum_c W_c m_c / s_c.
// That is 49 products per output where the RGB stem has 147 (and oneDNN's int8 stem pads 3 channels to 4:
// 196), in fp32 on the grey levels themselves, so nothing is quantized on the way in. The second term is
// a constant, except where the window overlaps the zero padding (there the RGB stem reads normalised 0,
// not grey 0): one bias per (row window, column window) class, computed once, keeps it exact. The pool
// reads three rows of the stem's output kept in a ring, so the 56x56x64 map per image is never written
// out. Output: u8 NHWC at a scale (the int8 encoder) or f32 nChw8c / nChw16c (fp32), as the pool wrote.
// No library offers this fusion on a grey input (oneDNN's stem is a general convolution), hence by hand.
#pragma once
#include "wino_avx2.h"

namespace greystem {

// Whether bytes [0, 96) of p (32 RGB pixels) hold grey pixels: each byte against the next where the next is
// the same pixel's (R with G, G with B). Reads p[96] too.
KEFER_AVX2 inline bool Grey32(const uint8_t* p) {
  alignas(32) static const uint8_t mask[96] = {
#define KEFER_RGB_ 0xFF, 0xFF, 0
      KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_,
      KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_,
      KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_,
      KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_, KEFER_RGB_,
#undef KEFER_RGB_
  };
  __m256i bad = _mm256_setzero_si256();
  for (int j = 0; j < 3; j++) {
    const __m256i same = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i*)(p + 32 * j)), _mm256_loadu_si256((const __m256i*)(p + 32 * j + 1)));
    bad = _mm256_or_si256(bad, _mm256_andnot_si256(same, _mm256_load_si256((const __m256i*)(mask + 32 * j))));
  }
  return _mm256_testz_si256(bad, bad);
}

// True when every pixel of `pixels` interleaved RGB bytes has R = G = B.
inline bool AllGrey(const uint8_t* rgb, long pixels) {
  const long bytes = pixels * 3;
  // Grey32 reads one byte past its 96: a last chunk that ends the buffer is left to the scalar tail.
  const long chunks = bytes >= 97 ? (bytes - 1) / 96 : 0;
  int differ = 0;
#pragma omp parallel for reduction(| : differ) schedule(static)
  for (long i = 0; i < chunks; i++) differ |= !Grey32(rgb + i * 96);
  if (differ) return false;
  for (long j = chunks * 32; j < pixels; j++)
    if (rgb[j * 3] != rgb[j * 3 + 1] || rgb[j * 3] != rgb[j * 3 + 2]) return false;
  return true;
}

// Where the pooled output goes: u8 NHWC (q = value x scale), or f32 in oneDNN's nChw{block}c.
struct Output {
  void* data;
  bool u8;
  float scale;
  int block;
};

// Six output pixels of one row x 16 channels, over every tap: named accumulators (an array of them makes
// GCC spill each one on every step; see wino_avx2.h's Microkernel).
#define KEFER_STEM_TAP(r)                                    \
  if constexpr (R > r) {                                      \
    const __m256 b = _mm256_broadcast_ss(x + r * stride);     \
    a##r##0 = _mm256_fmadd_ps(b, u0, a##r##0);                \
    a##r##1 = _mm256_fmadd_ps(b, u1, a##r##1);                \
  }
#define KEFER_STEM_STORE(r)                                                                                        \
  if constexpr (R > r) {                                                                                            \
    const float* b = bias + colClass[r] * oc;                                                                       \
    _mm256_storeu_ps(out + r * oc, _mm256_max_ps(_mm256_add_ps(a##r##0, _mm256_loadu_ps(b)), zero));                \
    _mm256_storeu_ps(out + r * oc + 8, _mm256_max_ps(_mm256_add_ps(a##r##1, _mm256_loadu_ps(b + 8)), zero));        \
  }
// in: the padded plane at the first pixel's window corner; a: [k][k][oc] at this channel block; bias: the
// row class's [colClass][oc] at this block; out: the ring row at the first pixel, this block.
template <int R>
KEFER_AVX2 static inline void StemKernel(const float* in, long wp, int stride, int k, const float* a, long oc, const float* bias,
                                         const int* colClass, float* out) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00,
         a50 = a00, a51 = a00;
  for (int ky = 0; ky < k; ky++)
    for (int kx = 0; kx < k; kx++) {
      const float* u = a + (ky * k + kx) * oc;
      const __m256 u0 = _mm256_load_ps(u), u1 = _mm256_load_ps(u + 8);
      const float* x = in + ky * wp + kx;
      KEFER_STEM_TAP(0) KEFER_STEM_TAP(1) KEFER_STEM_TAP(2) KEFER_STEM_TAP(3) KEFER_STEM_TAP(4) KEFER_STEM_TAP(5)
    }
  const __m256 zero = _mm256_setzero_ps();
  KEFER_STEM_STORE(0) KEFER_STEM_STORE(1) KEFER_STEM_STORE(2) KEFER_STEM_STORE(3) KEFER_STEM_STORE(4) KEFER_STEM_STORE(5)
}
#undef KEFER_STEM_TAP
#undef KEFER_STEM_STORE

class Stem {
 public:
  // n images h x w (RGB bytes, grey) -> conv k x k, stride, pad, oc channels, ReLU -> max pool 3x3 stride 2
  // pad 1 (the ResNet stem); oc a multiple of 16 (Supports says).
  Stem(long n, long h, long w, long oc, int k, int stride, int pad)
      : n_(n), h_(h), w_(w), oc_(oc), k_(k), s_(stride), p_(pad), weights_((size_t)k * k * 3 * oc, 0.f), bias_(oc, 0.f) {
    if (!Supports(oc)) throw std::runtime_error("grey stem: channels must be a multiple of 16");
    oh_ = (h + 2 * pad - k) / stride + 1;
    ow_ = (w + 2 * pad - k) / stride + 1;
    ph_ = (oh_ - 1) / 2 + 1;
    pw_ = (ow_ - 1) / 2 + 1;
    hp_ = h + 2 * pad;
    wp_ = w + 2 * pad;
    rowClass_ = Classes(oh_, h, rowMasks_);
    colClass_ = Classes(ow_, w, colMasks_);
  }
  static bool Supports(long oc) { return oc % 16 == 0; }
  long PooledH() const { return ph_; }
  long PooledW() const { return pw_; }

  // The convolution's weights as tfjs holds them (HWIO: [k][k][3][oc]) and bias, BatchNorm folded in.
  void SetWeights(const float* hwio, const float* bias) {
    std::copy(hwio, hwio + weights_.size(), weights_.begin());
    std::copy(bias, bias + oc_, bias_.begin());
    prepared_ = false;
  }

  // rgb: n images [h][w][3] with R = G = B (AllGrey); mean / stdev: the model's normalisation.
  void Run(const uint8_t* rgb, const double mean[3], const double stdev[3], const Output& out) {
    Prepare(mean, stdev);
    const int threads = omp_get_max_threads();
    const long per = PerThreadFloats();
    if (threads_ < threads) {
      // Zeroed once: the planes' padding borders are never written after.
      scratch_ = wino::Allocate((size_t)per * threads);
      std::memset(scratch_.get(), 0, (size_t)per * threads * sizeof(float));
      threads_ = threads;
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n_; i++) Image(rgb + i * h_ * w_ * 3, i, scratch_.get() + per * omp_get_thread_num(), out);
  }

 private:
  long n_, h_, w_, oc_;
  int k_, s_, p_;
  long oh_, ow_, ph_, pw_, hp_, wp_;
  std::vector<float> weights_, bias_;
  // Per output row (column): which taps fall inside the image, as a class (an index into the masks).
  std::vector<int> rowClass_, colClass_;
  std::vector<uint32_t> rowMasks_, colMasks_;
  wino::Buffer a_;     // [k][k][oc]: sum_c W_c / (255 s_c)
  wino::Buffer biasTable_;  // [row class][col class][oc]: bias - sum over the inside taps of sum_c W_c m_c / s_c
  bool prepared_ = false;
  double mean_[3]{}, std_[3]{};
  wino::Buffer scratch_;
  int threads_ = 0;

  long PlaneFloats() const { return (hp_ * wp_ + 15) / 16 * 16; }
  long PerThreadFloats() const { return PlaneFloats() + 3 * ow_ * oc_; }

  // Each output position's in-image taps along one axis, and the distinct such sets.
  std::vector<int> Classes(long outs, long size, std::vector<uint32_t>& masks) const {
    std::vector<int> cls(outs);
    for (long o = 0; o < outs; o++) {
      uint32_t m = 0;
      for (int t = 0; t < k_; t++) {
        const long i = o * s_ - p_ + t;
        if (i >= 0 && i < size) m |= 1u << t;
      }
      auto it = std::find(masks.begin(), masks.end(), m);
      cls[o] = (int)(it - masks.begin());
      if (it == masks.end()) masks.push_back(m);
    }
    return cls;
  }

  void Prepare(const double mean[3], const double stdev[3]) {
    if (prepared_ && std::equal(mean, mean + 3, mean_) && std::equal(stdev, stdev + 3, std_)) return;
    const long taps = (long)k_ * k_;
    if (!a_) a_ = wino::Allocate(taps * oc_);
    std::vector<double> shift(taps * oc_);  // sum_c W_c m_c / s_c per tap
    for (long t = 0; t < taps; t++)
      for (long o = 0; o < oc_; o++) {
        double a = 0, b = 0;
        for (int c = 0; c < 3; c++) {
          const double w = weights_[(t * 3 + c) * oc_ + o];
          a += w / (255.0 * stdev[c]);
          b += w * mean[c] / stdev[c];
        }
        a_[t * oc_ + o] = (float)a;
        shift[t * oc_ + o] = b;
      }
    const long rc = (long)rowMasks_.size(), cc = (long)colMasks_.size();
    biasTable_ = wino::Allocate(rc * cc * oc_);
    for (long r = 0; r < rc; r++)
      for (long c = 0; c < cc; c++)
        for (long o = 0; o < oc_; o++) {
          double b = bias_[o];
          for (int ky = 0; ky < k_; ky++)
            for (int kx = 0; kx < k_; kx++)
              if ((rowMasks_[r] >> ky & 1) && (colMasks_[c] >> kx & 1)) b -= shift[(ky * k_ + kx) * oc_ + o];
          biasTable_[(r * cc + c) * oc_ + o] = (float)b;
        }
    std::copy(mean, mean + 3, mean_);
    std::copy(stdev, stdev + 3, std_);
    prepared_ = true;
  }

  KEFER_AVX2 void Image(const uint8_t* rgb, long n, float* buf, const Output& out) const {
    float* plane = buf;
    float* ring = buf + PlaneFloats();
    for (long y = 0; y < h_; y++) {
      float* row = plane + (y + p_) * wp_ + p_;
      const uint8_t* src = rgb + y * w_ * 3;
      for (long x = 0; x < w_; x++) row[x] = src[x * 3];
    }
    long pooled = 0;
    for (long oy = 0; oy < oh_; oy++) {
      ConvRow(plane, oy, ring + (oy % 3) * ow_ * oc_);
      // Pool row py needs conv rows 2py-1 .. 2py+1 (those inside): emitted once its last one is done.
      while (pooled < ph_ && std::min(2 * pooled + 1, oh_ - 1) == oy) PoolRow(ring, pooled++, n, out);
    }
  }

  KEFER_AVX2 void ConvRow(const float* plane, long oy, float* row) const {
    const float* bias = biasTable_.get() + rowClass_[oy] * (long)colMasks_.size() * oc_;
    const float* in = plane + oy * s_ * wp_;
    for (long ob = 0; ob < oc_; ob += 16)
      for (long ox = 0; ox < ow_; ox += 6) {
        const float* x = in + ox * s_;
        const float* a = a_.get() + ob;
        const int* cls = colClass_.data() + ox;
        float* o = row + ox * oc_ + ob;
        switch (std::min<long>(6, ow_ - ox)) {
          case 6: StemKernel<6>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
          case 5: StemKernel<5>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
          case 4: StemKernel<4>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
          case 3: StemKernel<3>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
          case 2: StemKernel<2>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
          default: StemKernel<1>(x, wp_, s_, k_, a, oc_, bias + ob, cls, o); break;
        }
      }
  }

  // Max over the 3x3 window (the parts inside the map; the values are >= 0 after the ReLU), then stored as
  // the pool would have: max commutes with the positive quantization scale.
  KEFER_AVX2 void PoolRow(const float* ring, long py, long n, const Output& out) const {
    const long r0 = std::max(0L, 2 * py - 1), r1 = std::min(oh_ - 1, 2 * py + 1);
    const __m256 scale = _mm256_set1_ps(out.scale);
    for (long px = 0; px < pw_; px++) {
      const long c0 = std::max(0L, 2 * px - 1), c1 = std::min(ow_ - 1, 2 * px + 1);
      for (long ov = 0; ov < oc_; ov += 8) {
        __m256 m = _mm256_setzero_ps();
        for (long r = r0; r <= r1; r++)
          for (long c = c0; c <= c1; c++) m = _mm256_max_ps(m, _mm256_loadu_ps(ring + ((r % 3) * ow_ + c) * oc_ + ov));
        if (out.u8) {
          wino::Store8(static_cast<uint8_t*>(out.data) + ((n * ph_ + py) * pw_ + px) * oc_ + ov, _mm256_mul_ps(m, scale), false);
        } else {
          const long b = out.block;
          _mm256_storeu_ps(static_cast<float*>(out.data) + (((n * (oc_ / b) + ov / b) * ph_ + py) * pw_ + px) * b + ov % b, m);
        }
      }
    }
  }
};

}  // namespace greystem

#undef KEFER_AVX2
