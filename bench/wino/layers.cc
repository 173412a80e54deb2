// bench:wino — the addon's AVX2 Winograd (native/wino_avx2.h) against oneDNN's direct AVX2 convolution
// (what PyTorch runs on that ISA) on ResNet-18 @112's four 3x3 stride-1 shapes, same inputs, same
// threads, same run. Each layer: the two outputs compared (max |diff|), then the best of `reps` timings
// per side, alternating. Run under DNNL_MAX_CPU_ISA=AVX2 (run.sh sets it) so oneDNN picks its AVX2 kernel.
#include <oneapi/dnnl/dnnl.hpp>

#include <chrono>
#include <functional>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>
#include <random>

#include "../../native/wino_avx2.h"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static double Best(int reps, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const auto t = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  return best;
}

// The int8 encoder's layer: u8 NHWC in, s8 weights per output channel, u8 out after the shortcut (u8) is
// added and ReLU; oneDNN's int8 direct kernel (what --precision int8 ran before) against ours, which
// keeps u8 in and out and does the products in fp32 Winograd (weights unquantized). Differences in
// output levels (1 = one u8 step).
static void Int8(engine& eng, stream& s, long N, int reps, const long (*shapes)[2]) {
  double totalDirect = 0, totalWino = 0;
  for (int li = 0; li < 4; li++) {
    const long C = shapes[li][0], K = C, H = shapes[li][1], W = H;
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0, 1);
    std::uniform_int_distribution<int> u8(0, 255);
    const float srcScale = 40.f, dstScale = 30.f, sumScale = 1.1f;
    std::vector<uint8_t> x(N * H * W * C), shortcut(N * H * W * K);
    std::vector<float> w(9 * C * K), b(K), ws(K), os(K);
    for (auto& v : x) v = (uint8_t)std::max(0, u8(rng) - 100);  // ReLU outputs: many zeros
    for (auto& v : shortcut) v = (uint8_t)u8(rng);
    for (auto& v : w) v = nd(rng) * std::sqrt(2.f / (9 * C));
    for (auto& v : b) v = nd(rng) * 0.1f;
    for (long k = 0; k < K; k++) {
      float m = 0;
      for (long i = 0; i < 9 * C; i++) m = std::max(m, std::fabs(w[i * K + k]));
      ws[k] = 63.f / m;  // 7-bit weights, as the encoder quantizes them without VNNI
      os[k] = dstScale / (srcScale * ws[k]);
    }
    memory::dims xd{N, C, H, W}, wd{K, C, 3, 3}, yd{N, K, H, W};
    memory::desc xmd(xd, dt::u8, tag::nhwc), ymd(yd, dt::u8, tag::nhwc);
    memory xm(xmd, eng, x.data()), yDirect(ymd, eng), yWino(ymd, eng);
    post_ops po;
    po.append_sum(sumScale);
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0, 0);
    primitive_attr attr;
    attr.set_post_ops(po);
    attr.set_output_scales(1 << 1, os);
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, xmd, {wd, dt::s8, tag::any}, {{K}, dt::f32, tag::x}, ymd, {1, 1},
                                {1, 1}, {1, 1});
    convolution_forward::primitive_desc pd(d, attr, eng);
    std::vector<float> bq(K);
    for (long k = 0; k < K; k++) bq[k] = b[k] * srcScale * ws[k];
    memory wm(pd.weights_desc(), eng), bm({{K}, dt::f32, tag::x}, eng, bq.data()), wu({wd, dt::f32, tag::hwio}, eng, w.data());
    primitive_attr wa;
    wa.set_output_scales(1 << 0, ws);
    reorder(reorder::primitive_desc(eng, wu.get_desc(), eng, wm.get_desc(), wa)).execute(s, wu, wm);
    convolution_forward direct(pd);
    wino::Quant q;
    q.srcScale = srcScale;
    q.dstScale = dstScale;
    q.sumScale = sumScale;
    wino::Conv3x3 ours(N, C, K, H, W, true, true, &q);
    ours.SetWeights(w.data(), b.data());
    // Where 7 divides the map, the other tile size too (the one Conv3x3::Tile did not pick), same inputs.
    const int otherTile = ours.TileSize() == 7 ? 4 : 7;
    std::unique_ptr<wino::Conv3x3> other;
    if (H % 7 == 0) {
      other = std::make_unique<wino::Conv3x3>(N, C, K, H, W, true, true, &q, otherTile);
      other->SetWeights(w.data(), b.data());
    }
    auto scratch = wino::Allocate(std::max(ours.ScratchFloats(), other ? other->ScratchFloats() : 0));
    const size_t bytes = ymd.get_size();
    auto runDirect = [&] {
      std::memcpy(yDirect.get_data_handle(), shortcut.data(), bytes);
      direct.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, yDirect}});
      s.wait();
    };
    auto runWino = [&] {
      std::memcpy(yWino.get_data_handle(), shortcut.data(), bytes);
      ours.Run(xm.get_data_handle(), yWino.get_data_handle(), scratch.get());
    };
    runDirect();
    runWino();
    int diff = 0;
    long off = 0;
    const uint8_t* p = static_cast<const uint8_t*>(yDirect.get_data_handle());
    const uint8_t* r = static_cast<const uint8_t*>(yWino.get_data_handle());
    for (size_t i = 0; i < bytes; i++) diff = std::max(diff, std::abs((int)p[i] - (int)r[i])), off += p[i] != r[i];
    std::vector<uint8_t> yOther(bytes);
    auto runOther = [&] {
      std::memcpy(yOther.data(), shortcut.data(), bytes);
      other->Run(xm.get_data_handle(), yOther.data(), scratch.get());
    };
    double td = 1e30, tw = 1e30, to = 1e30;
    for (int round = 0; round < 2; round++) {
      td = std::min(td, Best(reps / 2, runDirect)), tw = std::min(tw, Best(reps / 2, runWino));
      if (other) to = std::min(to, Best(reps / 2, runOther));
    }
    totalDirect += td;
    totalWino += tw;
    printf("int8 %4ld ch %2ldx%-2ld: oneDNN int8 direct (%s) %7.2f ms, ours u8 in/out, F(%dx%d) %7.2f ms = %.2fx; outputs differ by <= %d levels (%.1f%% differ)\n", C, H, W,
           pd.impl_info_str(), td, ours.TileSize(), ours.TileSize(), tw, td / tw, diff, 100.0 * off / bytes);
    if (other) {
      int d = 0;
      for (size_t i = 0; i < bytes; i++) d = std::max(d, std::abs((int)r[i] - (int)yOther[i]));
      printf("                        the other tile, F(%dx%d): %7.2f ms = F(%dx%d) is %.2fx it; their outputs differ by <= %d levels\n", otherTile, otherTile, to,
             ours.TileSize(), ours.TileSize(), to / tw, d);
    }
  }
  printf("int8, one of each layer: oneDNN int8 direct %.2f ms, ours %.2f ms = %.2fx\n", totalDirect, totalWino, totalDirect / totalWino);
}

int main(int argc, char** argv) {
  const long N = argc > 1 ? atol(argv[1]) : 32;
  const int reps = argc > 2 ? atoi(argv[2]) : 20;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const auto isa = get_effective_cpu_isa();
  const char* isaName = isa == cpu_isa::avx2 ? "avx2" : isa == cpu_isa::avx2_vnni ? "avx2_vnni" : "not avx2";
  printf("batch %ld, %d thread(s), oneDNN runs %s (DNNL_MAX_CPU_ISA=%s), best of %d per side\n", N, omp_get_max_threads(), isaName,
         getenv("DNNL_MAX_CPU_ISA") ? getenv("DNNL_MAX_CPU_ISA") : "unset", reps);
  if (!wino::CpuHasAvx2Fma()) {
    printf("SKIP: this CPU has no AVX2 + FMA\n");
    return 0;
  }
  const long shapes[4][2] = {{64, 28}, {128, 14}, {256, 7}, {512, 4}};
  double totalDirect = 0, totalWino = 0;
  for (const auto& sh : shapes) {
    const long C = sh[0], K = sh[0], H = sh[1], W = sh[1];
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x(N * C * H * W), w(9 * C * K), b(K), shortcut(N * K * H * W);
    for (auto& v : x) v = std::max(0.f, nd(rng));
    for (auto& v : w) v = nd(rng) * std::sqrt(2.f / (9 * C));
    for (auto& v : b) v = nd(rng) * 0.1f;
    for (auto& v : shortcut) v = nd(rng);
    memory::dims xd{N, C, H, W}, wd{K, C, 3, 3}, yd{N, K, H, W};
    memory::desc xmd(xd, dt::f32, tag::nChw8c), ymd(yd, dt::f32, tag::nChw8c);
    memory xm(xmd, eng), yDirect(ymd, eng), yWino(ymd, eng), sm(ymd, eng);
    memory xu({xd, dt::f32, tag::nchw}, eng, x.data()), su({yd, dt::f32, tag::nchw}, eng, shortcut.data());
    reorder(xu, xm).execute(s, xu, xm);
    reorder(su, sm).execute(s, su, sm);
    // The residual block's second convolution: bias, sum into the shortcut, ReLU.
    post_ops po;
    po.append_sum(1.f);
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0, 0);
    primitive_attr attr;
    attr.set_post_ops(po);
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, xmd, {wd, dt::f32, tag::any}, {{K}, dt::f32, tag::x}, ymd, {1, 1},
                                {1, 1}, {1, 1});
    convolution_forward::primitive_desc pd(d, attr, eng);
    memory wm(pd.weights_desc(), eng), bm({{K}, dt::f32, tag::x}, eng, b.data()), wu({wd, dt::f32, tag::hwio}, eng, w.data());
    reorder(wu, wm).execute(s, wu, wm);
    convolution_forward direct(pd);
    wino::Conv3x3 ours(N, C, K, H, W, true, true);
    ours.SetWeights(w.data(), b.data());
    auto scratch = wino::Allocate(ours.ScratchFloats());
    const size_t bytes = ymd.get_size();
    auto runDirect = [&] {
      std::memcpy(yDirect.get_data_handle(), sm.get_data_handle(), bytes);
      direct.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, yDirect}});
      s.wait();
    };
    auto runWino = [&] {
      std::memcpy(yWino.get_data_handle(), sm.get_data_handle(), bytes);
      ours.Run(static_cast<float*>(xm.get_data_handle()), static_cast<float*>(yWino.get_data_handle()), scratch.get());
    };
    runDirect();
    runWino();
    double diff = 0, scale = 0;
    const float* p = static_cast<const float*>(yDirect.get_data_handle());
    const float* q = static_cast<const float*>(yWino.get_data_handle());
    for (size_t i = 0; i < bytes / sizeof(float); i++) diff = std::max(diff, (double)std::fabs(p[i] - q[i])), scale = std::max(scale, (double)std::fabs(p[i]));
    double td = 1e30, tw = 1e30;
    for (int round = 0; round < 2; round++) td = std::min(td, Best(reps / 2, runDirect)), tw = std::min(tw, Best(reps / 2, runWino));
    totalDirect += td;
    totalWino += tw;
    printf("%4ld ch %2ldx%-2ld: oneDNN direct (%s) %7.2f ms, ours %7.2f ms = %.2fx; max |diff| %.1e of max |y| %.1e\n", C, H, W, pd.impl_info_str(), td, tw, td / tw,
           diff, scale);
  }
  printf("one of each layer: oneDNN direct %.2f ms, ours %.2f ms = %.2fx\n", totalDirect, totalWino, totalDirect / totalWino);
  Int8(eng, s, N, reps, shapes);
  return 0;
}
