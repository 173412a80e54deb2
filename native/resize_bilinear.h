// libvips' bilinear enlargement as src/engine/data/pngFastPath.ts reproduces it, compiled: the same
// fixed-point weights (made there, once per size pair, and handed over), the same integer sums. In JS the
// loop costs 0.07-0.15 ms per 112x112 image, more than half of kefer eval's PNG decode; here 3-4x less.
// No package reproduces libvips' rule (pngFastPath.ts says why), hence by hand.
#pragma once
#include <cstdint>

namespace resize {

// out: size x size RGB (grey repeated to the three channels). Row oy reads source rows ylo[oy] and
// yhi[oy] with the four weights per output column in weights[rowWeights[oy]][ox][0..4) (sum 4096).
inline void Bilinear(const uint8_t* src, long w, int channels, long size, const int32_t* xlo, const int32_t* xhi, const int32_t* ylo,
                     const int32_t* yhi, const int32_t* weights, const int32_t* rowWeights, uint8_t* out) {
  for (long oy = 0; oy < size; oy++) {
    const int32_t* wts = weights + (long)rowWeights[oy] * size * 4;
    const uint8_t* r0 = src + (long)ylo[oy] * w * channels;
    const uint8_t* r1 = src + (long)yhi[oy] * w * channels;
    uint8_t* o = out + oy * size * 3;
    if (channels == 1) {
      for (long ox = 0; ox < size; ox++, o += 3) {
        const int32_t* q = wts + ox * 4;
        const long a = xlo[ox], b = xhi[ox];
        const uint8_t v = (uint8_t)((q[0] * r0[a] + q[1] * r0[b] + q[2] * r1[a] + q[3] * r1[b] + 2048) >> 12);
        o[0] = o[1] = o[2] = v;
      }
    } else {
      for (long ox = 0; ox < size; ox++, o += 3) {
        const int32_t* q = wts + ox * 4;
        const long a = xlo[ox] * 3, b = xhi[ox] * 3;
        for (int k = 0; k < 3; k++) o[k] = (uint8_t)((q[0] * r0[a + k] + q[1] * r0[b + k] + q[2] * r1[a + k] + q[3] * r1[b + k] + 2048) >> 12);
      }
    }
  }
}

}  // namespace resize
