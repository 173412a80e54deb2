// bench:wino — the addon's AVX2 Winograd (native/wino_avx2.h) against oneDNN's direct AVX2 convolution
// (what PyTorch runs on that ISA) on ResNet-18 @112's four 3x3 stride-1 shapes, same inputs, same
// threads, same run. Each layer: the two outputs compared (max |diff|), then the best of `reps` timings
// per side, alternating. Run under DNNL_MAX_CPU_ISA=AVX2 (run.sh sets it) so oneDNN picks its AVX2 kernel.
#include <oneapi/dnnl/dnnl.hpp>

#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
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
  return 0;
}
