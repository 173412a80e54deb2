// The visual encoder's training step on oneDNN (the library PyTorch's CPU convolutions use), as a Node
// addon. It interprets the encoder described by src/engine/native/spec.ts (conv, BatchNorm with an
// optional fused ReLU, residual add with an optional ReLU, max-pool, global average pool) and keeps,
// between steps, everything in oneDNN's own formats: activations in the CPU's blocked layout (nChw8c on
// AVX2) end to end, weights and momentum in the layout the forward convolution wants. That avoids the
// per-call layout conversions PyTorch's NCHW tensors pay, which is where this beats it (bench:train).
//
// The JS side (native/encoder.ts) owns the head and the losses; this file does
//   forward(images NHWC) -> v [N, D] and every BatchNorm's batch mean / biased variance
//   backward(dv)          -> every parameter's gradient (kept here; readable for tests)
//   sgd(lr, momentum, wd) -> torch.optim.SGD's update on every parameter
// Written by hand because no maintained package trains a network on oneDNN from Node.
#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "grey_stem_avx2.h"
#include "resize_bilinear.h"
#include "wino_avx2.h"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

struct Act {
  memory::dims dims;
  memory::desc md;
  memory mem;
  memory diff;
  bool diffReady = false;
};

struct Param {
  std::string name;
  memory::dims dims;  // plain: OIHW for conv weights, [C] for BatchNorm
  bool conv = false;
  memory master;      // in the compute format
  memory grad;        // same format as master
  memory mom;         // same format as master
  bool hasMom = false;
};

enum class Kind { Conv, Bn, Add, MaxPool, Gap };

struct Op {
  Kind kind;
  int x = -1, b = -1, y = -1;
  bool relu = false;
  int w = -1, scale = -1, shift = -1;
  bool needDx = true;
  primitive fwd, bwdData, bwdW;
  memory wBwdData;  // weights as backward-data wants them, when that differs from master's format
  memory gradRaw;   // filter gradient as backward-weights writes it, when that differs
  memory mean, var, ws;
  std::string impl, implBwd;  // the implementations oneDNN chose (reported in the run log)
};

// The instruction set oneDNN dispatches to (after DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA caps it).
std::string IsaName() {
  switch (get_effective_cpu_isa()) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// Elementwise loops shorter than this run on one thread: a parallel region's fork and barrier cost more
// than the loop, and far more on a shared machine where a thread of the team may be descheduled.
constexpr long kParallelMin = 1 << 15;

size_t elems(const memory& m) { return m.get_desc().get_size() / sizeof(float); }

// The global average pool: blocked [N, C/B, HW, B] -> [N, C].
void BlockedMean(const float* src, long N, long C, long HW, long B, float* out) {
  const float inv = 1.0f / (float)HW;
#pragma omp parallel for collapse(2)
  for (long n = 0; n < N; n++)
    for (long cb = 0; cb < C / B; cb++) {
      float acc[16] = {0};
      const float* p = src + ((n * (C / B) + cb) * HW) * B;
      for (long hw = 0; hw < HW; hw++)
        for (long c = 0; c < B; c++) acc[c] += p[hw * B + c];
      for (long c = 0; c < B; c++) out[n * C + cb * B + c] = acc[c] * inv;
    }
}
float* ptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

class Encoder : public Napi::ObjectWrap<Encoder> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Encoder",
                       {InstanceMethod("forward", &Encoder::Forward), InstanceMethod("backward", &Encoder::Backward),
                        InstanceMethod("sgd", &Encoder::Sgd), InstanceMethod("setParam", &Encoder::SetParam),
                        InstanceMethod("getParam", &Encoder::GetParam), InstanceMethod("getGrad", &Encoder::GetGrad),
                        InstanceMethod("setMomentum", &Encoder::SetMomentum),
                        InstanceMethod("getMomentum", &Encoder::GetMomentum), InstanceMethod("info", &Encoder::Info),
                        InstanceMethod("release", &Encoder::Release)});
  }

  explicit Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Encoder>(info), eng_(engine::kind::cpu, 0), s_(eng_) {
    Napi::Env env = info.Env();
    try {
      Build(info[0].As<Napi::Object>());
    } catch (const dnnl::error& e) {
      Napi::Error::New(env, std::string("onednn: ") + e.what()).ThrowAsJavaScriptException();
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("onednn: ") + e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  engine eng_;
  stream s_;
  int threads_ = 0;
  float eps_ = 1e-5f;
  int block_ = 8;
  // 'auto' lets oneDNN pick Winograd where its heuristics expect a gain (3x3, stride 1, enough channels,
  // AVX-512): faster steps than 'direct' (PyTorch's algorithm), at a small precision cost (bench/README.md).
  algorithm convAlg_ = algorithm::convolution_auto;
  std::vector<Act> acts_;
  std::vector<Param> params_;
  std::unordered_map<std::string, int> paramIndex_;
  std::vector<Op> ops_;
  memory::desc imagesUserMd_;
  std::vector<float> scratch_;
  int featureAct_ = -1;
  int current_ = -1;  // the op running, for error messages
  bool released_ = false;

  static memory::dims Dims(const Napi::Value& v) {
    auto a = v.As<Napi::Array>();
    memory::dims d;
    for (uint32_t i = 0; i < a.Length(); i++) d.push_back(a.Get(i).As<Napi::Number>().Int64Value());
    return d;
  }
  static int Int(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); }

  memory::desc Blocked(const memory::dims& d) const {
    if (d[1] % block_ != 0) throw std::runtime_error("channels " + std::to_string(d[1]) + " not a multiple of " + std::to_string(block_));
    return memory::desc(d, dt::f32, block_ == 16 ? tag::nChw16c : tag::nChw8c);
  }

  // The activation layout the CPU's convolutions prefer: ask oneDNN for a 64->64 3x3 convolution.
  int ProbeBlock() {
    memory::dims src{2, 64, 8, 8}, w{64, 64, 3, 3};
    auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
    convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, any(src), any(w), any(src), {1, 1}, {1, 1}, {1, 1});
    convolution_forward::primitive_desc pd(d, eng_);
    if (pd.dst_desc() == memory::desc(src, dt::f32, tag::nChw16c)) return 16;
    return 8;
  }

  void Build(const Napi::Object spec) {
    threads_ = Int(spec, "threads");
    eps_ = spec.Get("eps").As<Napi::Number>().FloatValue();
    if (spec.Get("convolution").As<Napi::String>().Utf8Value() == "direct") convAlg_ = algorithm::convolution_direct;
    if (threads_ > 0) omp_set_num_threads(threads_);
    block_ = ProbeBlock();

    auto tensors = spec.Get("tensors").As<Napi::Array>();
    for (uint32_t i = 0; i < tensors.Length(); i++) {
      Act a;
      a.dims = Dims(tensors.Get(i).As<Napi::Object>().Get("dims"));
      acts_.push_back(a);
    }
    auto params = spec.Get("params").As<Napi::Array>();
    for (uint32_t i = 0; i < params.Length(); i++) {
      auto o = params.Get(i).As<Napi::Object>();
      Param p;
      p.name = o.Get("name").As<Napi::String>().Utf8Value();
      p.dims = Dims(o.Get("dims"));
      p.conv = p.dims.size() == 4;
      paramIndex_[p.name] = (int)params_.size();
      params_.push_back(p);
    }
    // Every activation but the images lives in the blocked layout (the stem convolution picks the images').
    for (size_t i = 1; i < acts_.size(); i++) {
      if (acts_[i].dims.size() == 4) acts_[i].md = Blocked(acts_[i].dims);
    }
    const auto& img = acts_[0].dims;  // [N, 3, S, S]
    imagesUserMd_ = memory::desc(img, dt::f32, tag::nhwc);

    auto ops = spec.Get("ops").As<Napi::Array>();
    for (uint32_t i = 0; i < ops.Length(); i++) {
      auto o = ops.Get(i).As<Napi::Object>();
      std::string kind = o.Get("kind").As<Napi::String>().Utf8Value();
      Op op;
      if (kind == "conv") BuildConv(op, o);
      else if (kind == "bn") BuildBn(op, o);
      else if (kind == "add") {
        op.kind = Kind::Add;
        op.x = Int(o, "a");
        op.b = Int(o, "b");
        op.y = Int(o, "y");
        op.relu = o.Get("relu").As<Napi::Boolean>().Value();
      } else if (kind == "maxpool") BuildPool(op, o);
      else if (kind == "gap") {
        op.kind = Kind::Gap;
        op.x = Int(o, "x");
        featureAct_ = op.x;
      } else throw std::runtime_error("unknown op " + kind);
      ops_.push_back(std::move(op));
    }
    if (featureAct_ < 0) throw std::runtime_error("the encoder has no global average pool");

    size_t maxElems = 0;
    for (auto& a : acts_) {
      if (a.md.data.ndims == 0) throw std::runtime_error("an activation has no layout (no stem convolution reads the images?)");
      a.mem = memory(a.md, eng_);
      a.diff = memory(a.md, eng_);
      maxElems = std::max(maxElems, elems(a.mem));
    }
    scratch_.resize(maxElems);
    for (auto& p : params_) {
      if (!p.master) throw std::runtime_error("parameter " + p.name + " is used by no op");
      p.grad = memory(p.master.get_desc(), eng_);
      p.mom = memory(p.master.get_desc(), eng_);
    }
  }

  void BuildConv(Op& op, const Napi::Object& o) {
    op.kind = Kind::Conv;
    op.x = Int(o, "x");
    op.y = Int(o, "y");
    op.w = paramIndex_.at(o.Get("w").As<Napi::String>().Utf8Value());
    const bool stem = op.x == 0;
    op.needDx = !stem;
    // The stem (3 input channels) gains nothing from Winograd. And 'auto' can pair a Winograd forward
    // with a reference backward kernel (measured: the compact stem's filter gradient took 1.5 s, 300x
    // direct's), so any layer where a reference kernel would run is built with direct convolutions.
    if (stem || !BuildConvWith(op, o, convAlg_)) BuildConvWith(op, o, algorithm::convolution_direct);
  }

  // False when one of the three primitives would be oneDNN's slow reference implementation.
  bool BuildConvWith(Op& op, const Napi::Object& o, algorithm alg) {
    const int stride = Int(o, "stride"), pad = Int(o, "pad");
    Param& p = params_[op.w];
    const bool stem = op.x == 0;
    auto srcMd = stem ? memory::desc(acts_[0].dims, dt::f32, tag::any) : acts_[op.x].md;
    auto wAny = memory::desc(p.dims, dt::f32, tag::any);
    memory::dims strides{stride, stride}, pl{pad, pad}, pr{pad, pad};
    convolution_forward::desc fd(prop_kind::forward_training, alg, srcMd, wAny, acts_[op.y].md, strides, pl, pr);
    convolution_forward::primitive_desc fpd(fd, eng_);
    const auto xMd = stem ? fpd.src_desc() : acts_[op.x].md;
    convolution_backward_weights::desc wd(alg, xMd, wAny, acts_[op.y].md, strides, pl, pr);
    convolution_backward_weights::primitive_desc wpd(wd, eng_, fpd);
    std::string impls = std::string(fpd.impl_info_str()) + " " + wpd.impl_info_str();
    convolution_backward_data::primitive_desc dpd;
    if (op.needDx) {
      convolution_backward_data::desc dd(alg, xMd, wAny, acts_[op.y].md, strides, pl, pr);
      dpd = convolution_backward_data::primitive_desc(dd, eng_, fpd);
      impls += " " + std::string(dpd.impl_info_str());
    }
    if (alg != algorithm::convolution_direct && impls.find("ref") != std::string::npos) return false;

    if (stem) acts_[0].md = xMd;
    op.fwd = convolution_forward(fpd);
    op.impl = fpd.impl_info_str();
    op.implBwd = impls.substr(op.impl.size() + 1);
    p.master = memory(fpd.weights_desc(), eng_);
    op.bwdW = convolution_backward_weights(wpd);
    op.gradRaw = wpd.diff_weights_desc() != fpd.weights_desc() ? memory(wpd.diff_weights_desc(), eng_) : memory();
    if (op.needDx) {
      op.bwdData = convolution_backward_data(dpd);
      op.wBwdData = dpd.weights_desc() != fpd.weights_desc() ? memory(dpd.weights_desc(), eng_) : memory();
    }
    return true;
  }

  void BuildBn(Op& op, const Napi::Object& o) {
    op.kind = Kind::Bn;
    op.x = Int(o, "x");
    op.y = Int(o, "y");
    op.relu = o.Get("relu").As<Napi::Boolean>().Value();
    op.scale = paramIndex_.at(o.Get("scale").As<Napi::String>().Utf8Value());
    op.shift = paramIndex_.at(o.Get("shift").As<Napi::String>().Utf8Value());
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    if (op.relu) flags = flags | normalization_flags::fuse_norm_relu;
    batch_normalization_forward::desc fd(prop_kind::forward_training, acts_[op.x].md, eps_, flags);
    batch_normalization_forward::primitive_desc fpd(fd, eng_);
    op.fwd = batch_normalization_forward(fpd);
    batch_normalization_backward::desc bd(prop_kind::backward, acts_[op.x].md, acts_[op.x].md, eps_, flags);
    batch_normalization_backward::primitive_desc bpd(bd, eng_, fpd);
    op.bwdData = batch_normalization_backward(bpd);
    op.mean = memory(fpd.mean_desc(), eng_);
    op.var = memory(fpd.variance_desc(), eng_);
    if (op.relu) op.ws = memory(fpd.workspace_desc(), eng_);
    for (int pi : {op.scale, op.shift}) params_[pi].master = memory(memory::desc(params_[pi].dims, dt::f32, tag::x), eng_);
  }

  void BuildPool(Op& op, const Napi::Object& o) {
    op.kind = Kind::MaxPool;
    op.x = Int(o, "x");
    op.y = Int(o, "y");
    memory::dims strides{2, 2}, kernel{3, 3}, pl{1, 1}, pr{1, 1};
    pooling_forward::desc fd(prop_kind::forward_training, algorithm::pooling_max, acts_[op.x].md, acts_[op.y].md, strides, kernel, pl, pr);
    pooling_forward::primitive_desc fpd(fd, eng_);
    op.fwd = pooling_forward(fpd);
    pooling_backward::desc bd(algorithm::pooling_max, acts_[op.x].md, acts_[op.y].md, strides, kernel, pl, pr);
    pooling_backward::primitive_desc bpd(bd, eng_, fpd);
    op.bwdData = pooling_backward(bpd);
    op.ws = memory(fpd.workspace_desc(), eng_);
  }

  void SetThreads() {
    if (threads_ > 0) omp_set_num_threads(threads_);
  }

  // Where a gradient w.r.t. activation i goes: straight into its diff the first time this pass, else into
  // scratch, which Accumulate() then adds (a tensor read by two ops gets the sum of both gradients).
  memory DiffTarget(int i) {
    Act& a = acts_[i];
    if (!a.diffReady) return a.diff;
    return memory(a.md, eng_, scratch_.data());
  }
  void Accumulate(int i, const memory& written) {
    Act& a = acts_[i];
    if (!a.diffReady) {
      a.diffReady = true;
      return;
    }
    AddInto(a, ptr(written));
  }
  // The same from a plain buffer of the activation's layout: copied the first time this pass, added after.
  void AddGradient(int i, const float* src) {
    Act& a = acts_[i];
    if (a.diffReady) {
      AddInto(a, src);
      return;
    }
    std::memcpy(ptr(a.diff), src, elems(a.diff) * sizeof(float));
    a.diffReady = true;
  }
  static void AddInto(Act& a, const float* src) {
    float* d = ptr(a.diff);
    const long n = (long)elems(a.diff);
#pragma omp parallel for simd if (n > kParallelMin)
    for (long k = 0; k < n; k++) d[k] += src[k];
  }

  // Blocked [N, C/B, H, W, B] <-> [N, C] for the global average pool.
  void GapForward(int x, float* v) {
    const auto& d = acts_[x].dims;
    const long N = d[0], C = d[1], HW = d[2] * d[3], B = block_;
    BlockedMean(ptr(acts_[x].mem), N, C, HW, B, v);
  }
  void GapBackward(int x, const float* dv) {
    const auto& d = acts_[x].dims;
    const long N = d[0], C = d[1], HW = d[2] * d[3], B = block_;
    memory target = DiffTarget(x);
    float* dst = ptr(target);
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for collapse(2)
    for (long n = 0; n < N; n++)
      for (long cb = 0; cb < C / B; cb++) {
        float* p = dst + ((n * (C / B) + cb) * HW) * B;
        for (long hw = 0; hw < HW; hw++)
          for (long c = 0; c < B; c++) p[hw * B + c] = dv[n * C + cb * B + c] * inv;
      }
    Accumulate(x, target);
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    auto images = info[0].As<Napi::Float32Array>();
    if (images.ElementLength() * sizeof(float) != imagesUserMd_.get_size()) {
      Napi::Error::New(env, "onednn: forward got " + std::to_string(images.ElementLength()) + " image values").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    try {
      SetThreads();
      memory user(imagesUserMd_, eng_, images.Data());
      reorder(user, acts_[0].mem).execute(s_, user, acts_[0].mem);
      const auto& fd = acts_[featureAct_].dims;
      auto v = Napi::Float32Array::New(env, fd[0] * fd[1]);
      std::vector<Op*> bns;
      for (auto& op : ops_) {
        switch (op.kind) {
          case Kind::Conv:
            op.fwd.execute(s_, {{DNNL_ARG_SRC, acts_[op.x].mem}, {DNNL_ARG_WEIGHTS, params_[op.w].master}, {DNNL_ARG_DST, acts_[op.y].mem}});
            break;
          case Kind::Bn: {
            std::unordered_map<int, memory> args{{DNNL_ARG_SRC, acts_[op.x].mem}, {DNNL_ARG_DST, acts_[op.y].mem},
                                                 {DNNL_ARG_SCALE, params_[op.scale].master}, {DNNL_ARG_SHIFT, params_[op.shift].master},
                                                 {DNNL_ARG_MEAN, op.mean}, {DNNL_ARG_VARIANCE, op.var}};
            if (op.relu) args[DNNL_ARG_WORKSPACE] = op.ws;
            op.fwd.execute(s_, args);
            bns.push_back(&op);
            break;
          }
          case Kind::Add: {
            const float* a = ptr(acts_[op.x].mem);
            const float* b = ptr(acts_[op.b].mem);
            float* y = ptr(acts_[op.y].mem);
            const long n = (long)elems(acts_[op.y].mem);
            if (op.relu) {
#pragma omp parallel for simd if (n > kParallelMin)
              for (long k = 0; k < n; k++) y[k] = std::max(a[k] + b[k], 0.0f);
            } else {
#pragma omp parallel for simd if (n > kParallelMin)
              for (long k = 0; k < n; k++) y[k] = a[k] + b[k];
            }
            break;
          }
          case Kind::MaxPool:
            op.fwd.execute(s_, {{DNNL_ARG_SRC, acts_[op.x].mem}, {DNNL_ARG_DST, acts_[op.y].mem}, {DNNL_ARG_WORKSPACE, op.ws}});
            break;
          case Kind::Gap:
            s_.wait();
            GapForward(op.x, v.Data());
            break;
        }
      }
      s_.wait();
      size_t total = 0;
      for (auto* op : bns) total += 2 * elems(op->mean);
      auto stats = Napi::Float32Array::New(env, total);
      size_t off = 0;
      for (auto* op : bns) {
        const size_t c = elems(op->mean);
        std::memcpy(stats.Data() + off, ptr(op->mean), c * sizeof(float));
        std::memcpy(stats.Data() + off + c, ptr(op->var), c * sizeof(float));
        off += 2 * c;
      }
      auto out = Napi::Object::New(env);
      out.Set("v", v);
      out.Set("stats", stats);
      return out;
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("onednn forward: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    auto dv = info[0].As<Napi::Float32Array>();
    const auto& fd = acts_[featureAct_].dims;
    if ((long)dv.ElementLength() != fd[0] * fd[1]) {
      Napi::Error::New(env, "onednn: backward got " + std::to_string(dv.ElementLength()) + " gradient values").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    try {
      SetThreads();
      for (auto& a : acts_) a.diffReady = false;
      for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
        Op& op = *it;
        current_ = (int)(it.base() - ops_.begin()) - 1;
        switch (op.kind) {
          case Kind::Gap:
            GapBackward(op.x, dv.Data());
            break;
          case Kind::Add: {
            float* d = ptr(acts_[op.y].diff);
            const long n = (long)elems(acts_[op.y].diff);
            if (op.relu) {
              const float* y = ptr(acts_[op.y].mem);
#pragma omp parallel for simd if (n > kParallelMin)
              for (long k = 0; k < n; k++) d[k] = y[k] > 0.0f ? d[k] : 0.0f;
            }
            for (int in : {op.x, op.b}) AddGradient(in, d);
            break;
          }
          case Kind::MaxPool: {
            memory t = DiffTarget(op.x);
            op.bwdData.execute(s_, {{DNNL_ARG_DIFF_DST, acts_[op.y].diff}, {DNNL_ARG_DIFF_SRC, t}, {DNNL_ARG_WORKSPACE, op.ws}});
            s_.wait();
            Accumulate(op.x, t);
            break;
          }
          case Kind::Bn: {
            memory t = DiffTarget(op.x);
            std::unordered_map<int, memory> args{{DNNL_ARG_SRC, acts_[op.x].mem}, {DNNL_ARG_MEAN, op.mean}, {DNNL_ARG_VARIANCE, op.var},
                                                 {DNNL_ARG_DIFF_DST, acts_[op.y].diff}, {DNNL_ARG_SCALE, params_[op.scale].master},
                                                 {DNNL_ARG_SHIFT, params_[op.shift].master},
                                                 {DNNL_ARG_DIFF_SRC, t}, {DNNL_ARG_DIFF_SCALE, params_[op.scale].grad},
                                                 {DNNL_ARG_DIFF_SHIFT, params_[op.shift].grad}};
            if (op.relu) args[DNNL_ARG_WORKSPACE] = op.ws;
            op.bwdData.execute(s_, args);
            s_.wait();
            Accumulate(op.x, t);
            break;
          }
          case Kind::Conv: {
            Param& p = params_[op.w];
            memory g = op.gradRaw ? op.gradRaw : p.grad;
            op.bwdW.execute(s_, {{DNNL_ARG_SRC, acts_[op.x].mem}, {DNNL_ARG_DIFF_DST, acts_[op.y].diff}, {DNNL_ARG_DIFF_WEIGHTS, g}});
            if (op.gradRaw) reorder(op.gradRaw, p.grad).execute(s_, op.gradRaw, p.grad);
            if (op.needDx) {
              memory w = p.master;
              if (op.wBwdData) {
                reorder(p.master, op.wBwdData).execute(s_, p.master, op.wBwdData);
                w = op.wBwdData;
              }
              memory t = DiffTarget(op.x);
              op.bwdData.execute(s_, {{DNNL_ARG_DIFF_DST, acts_[op.y].diff}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, t}});
              s_.wait();
              Accumulate(op.x, t);
            }
            break;
          }
        }
      }
      s_.wait();
      return env.Undefined();
    } catch (const std::exception& e) {
      Napi::Error::New(env, "onednn backward (op " + std::to_string(current_) + "): " + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  // torch.optim.SGD: g = grad + wd p; buf = m buf + g (buf = g on the first step); p -= lr buf.
  Napi::Value Sgd(const Napi::CallbackInfo& info) {
    if (Released(info.Env())) return info.Env().Undefined();
    const float lr = info[0].As<Napi::Number>().FloatValue();
    const float m = info[1].As<Napi::Number>().FloatValue();
    const float wd = info[2].As<Napi::Number>().FloatValue();
    SetThreads();
    // One parallel region over every parameter: the threads split each tensor and go on to the next
    // without waiting (nowait); one barrier at the end instead of one per tensor.
#pragma omp parallel
    for (auto& p : params_) {
      float* w = ptr(p.master);
      const float* g = ptr(p.grad);
      float* b = ptr(p.mom);
      const long n = (long)elems(p.master);
      if (!p.hasMom) {
#pragma omp for simd nowait
        for (long k = 0; k < n; k++) {
          b[k] = g[k] + wd * w[k];
          w[k] -= lr * b[k];
        }
      } else {
#pragma omp for simd nowait
        for (long k = 0; k < n; k++) {
          b[k] = m * b[k] + (g[k] + wd * w[k]);
          w[k] -= lr * b[k];
        }
      }
    }
    for (auto& p : params_) p.hasMom = true;
    return info.Env().Undefined();
  }

  bool Released(Napi::Env env) {
    if (released_) Napi::Error::New(env, "onednn: the encoder was released").ThrowAsJavaScriptException();
    return released_;
  }

  Param* Find(const Napi::CallbackInfo& info) {
    if (Released(info.Env())) return nullptr;
    auto name = info[0].As<Napi::String>().Utf8Value();
    auto it = paramIndex_.find(name);
    if (it == paramIndex_.end()) {
      Napi::Error::New(info.Env(), "onednn: no parameter " + name).ThrowAsJavaScriptException();
      return nullptr;
    }
    return &params_[it->second];
  }
  memory::desc PlainMd(const Param& p) const { return memory::desc(p.dims, dt::f32, p.conv ? tag::oihw : tag::x); }

  // Plain (OIHW / [C]) <-> the compute format.
  Napi::Value Read(const Napi::CallbackInfo& info, memory Param::*which) {
    Param* p = Find(info);
    if (!p) return info.Env().Undefined();
    auto md = PlainMd(*p);
    auto out = Napi::Float32Array::New(info.Env(), md.get_size() / sizeof(float));
    memory plain(md, eng_, out.Data());
    memory& src = p->*which;
    reorder(src, plain).execute(s_, src, plain);
    s_.wait();
    return out;
  }
  void Write(const Napi::CallbackInfo& info, memory Param::*which) {
    Param* p = Find(info);
    if (!p) return;
    auto data = info[1].As<Napi::Float32Array>();
    auto md = PlainMd(*p);
    if (data.ElementLength() * sizeof(float) != md.get_size()) {
      Napi::Error::New(info.Env(), "onednn: " + p->name + " takes " + std::to_string(md.get_size() / sizeof(float)) + " values, got " + std::to_string(data.ElementLength())).ThrowAsJavaScriptException();
      return;
    }
    memory plain(md, eng_, data.Data());
    memory& dst = p->*which;
    reorder(plain, dst).execute(s_, plain, dst);
    s_.wait();
  }

  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Write(info, &Param::master);
    return info.Env().Undefined();
  }
  Napi::Value GetParam(const Napi::CallbackInfo& info) { return Read(info, &Param::master); }
  Napi::Value GetGrad(const Napi::CallbackInfo& info) { return Read(info, &Param::grad); }
  Napi::Value SetMomentum(const Napi::CallbackInfo& info) {
    Param* p = Find(info);
    if (!p) return info.Env().Undefined();
    if (info[1].IsNull() || info[1].IsUndefined()) {
      p->hasMom = false;
      return info.Env().Undefined();
    }
    Write(info, &Param::mom);
    p->hasMom = true;
    return info.Env().Undefined();
  }
  Napi::Value GetMomentum(const Napi::CallbackInfo& info) {
    Param* p = Find(info);
    if (!p) return info.Env().Undefined();
    if (!p->hasMom) return info.Env().Null();
    return Read(info, &Param::mom);
  }

  // Frees the activations, weights and primitives now rather than at garbage collection (ResNet-18 at
  // batch 64 holds about 2 GB). The object is unusable afterwards.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    ops_.clear();
    acts_.clear();
    params_.clear();
    paramIndex_.clear();
    scratch_ = std::vector<float>();
    released_ = true;
    return info.Env().Undefined();
  }

  // What the run log reports: the oneDNN version, the block size and the convolution implementations.
  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto o = Napi::Object::New(env);
    const auto* ver = dnnl::version();
    o.Set("version", std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch));
    o.Set("block", block_);
    o.Set("threads", threads_ > 0 ? threads_ : omp_get_max_threads());
    std::string fwd, bwd;
    auto add = [](std::string& list, const std::string& name) {
      if (list.find(name) == std::string::npos) list += (list.empty() ? "" : ", ") + name;
    };
    for (auto& op : ops_) {
      if (op.kind != Kind::Conv) continue;
      add(fwd, op.impl);
      size_t start = 0;
      while (start < op.implBwd.size()) {
        size_t end = op.implBwd.find(' ', start);
        if (end == std::string::npos) end = op.implBwd.size();
        add(bwd, op.implBwd.substr(start, end - start));
        start = end + 1;
      }
    }
    o.Set("convolution", fwd);
    o.Set("backward", bwd);
    o.Set("isa", IsaName());
    return o;
  }
};

// The encoder in inference mode (validation, --diagnose, kefer eval): every BatchNorm folded into the
// convolution before it (the JS side folds the running statistics into weights + bias), ReLU and the
// residual add as the convolution's post-ops (sum, then eltwise ReLU, written into the shortcut's buffer),
// and tensors sharing a few buffers by lifetime (the spec's slots), so a large batch fits. One scratchpad
// serves every primitive.
//   fp32: activations in the blocked layout end to end; `algorithm: "auto"` runs the 3x3 stride-1
//         convolutions with Winograd: oneDNN's on AVX-512, wino_avx2.h's on AVX2 (oneDNN has none
//         there), else direct.
//   int8 (the spec's ops carry `outScale`, convolutions `wScales`; inference.ts calibrates them): the
//         images quantized to s8, every convolution u8/s8 x s8 weights (per output channel) with s32
//         accumulation, its output requantized to u8 after a ReLU, s8 otherwise (the downsample shortcut);
//         activations NHWC (what oneDNN's int8 kernels read); the features dequantized in the pool.
//         On AVX2 without VNNI, `auto` runs the 3x3 stride-1 convolutions on wino_avx2.h instead (u8
//         in, fp32 Winograd with unquantized weights, requantized out): faster there than oneDNN's int8.
class Inference : public Napi::ObjectWrap<Inference> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Inference",
                       {InstanceMethod("forward", &Inference::Forward), InstanceMethod("forwardPixels", &Inference::ForwardPixels),
                        InstanceMethod("calibrate", &Inference::Calibrate),
                        InstanceMethod("setWeights", &Inference::SetWeights), InstanceMethod("info", &Inference::Info),
                        InstanceMethod("release", &Inference::Release)});
  }

  explicit Inference(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Inference>(info), eng_(engine::kind::cpu, 0), s_(eng_) {
    try {
      Build(info[0].As<Napi::Object>());
      if (info.Length() > 1 && info[1].IsObject()) ShareWinogradWeights(Napi::ObjectWrap<Inference>::Unwrap(info[1].As<Napi::Object>()));
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), std::string("onednn inference: ") + e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  // An operand: a tensor (whose slot holds it) seen through one memory descriptor; int8 tensors change
  // data type over their life (a shortcut is s8, then the block's u8 output in place), so each op keeps
  // its own views.
  struct View {
    int t = -1;
    memory::desc md;
    memory mem;
  };
  struct Conv {
    View src, dst;
    primitive prim;
    memory weights, bias;
    memory::desc userW;
    std::vector<float> wScales;  // int8: per output channel (q = w * scale)
    float srcScale = 1.f;
    std::string impl;
    std::unique_ptr<wino::Conv3x3> wino;  // instead of prim: Winograd on AVX2, where oneDNN has none
    bool winoShared = false;              // its Winograd weights are a sibling instance's
  };
  struct Pool {
    View src, dst;
    primitive prim;
  };
  enum class K { Conv, Pool, Gap };
  // The stem convolution's shape as the spec gave it (reluOnly: ReLU and no residual add).
  struct StemOp {
    int k = 0, stride = 0, pad = 0;
    bool reluOnly = false;
    float outScale = 1.f;
  };
  struct Step {
    K kind;
    int index;  // into convs_ / pools_
  };
  engine eng_;
  stream s_;
  int threads_ = 0;
  int block_ = 8;
  bool int8_ = false;
  std::vector<memory::dims> dims_;
  std::vector<int> slotOf_;
  std::vector<memory> slots_;
  std::vector<Conv> convs_;
  std::vector<Pool> pools_;
  std::vector<Step> steps_;
  std::unordered_map<std::string, int> convByWeight_;
  memory::desc imagesUserMd_;
  View images_;        // the stem's input, as the stem wants it
  float inputScale_ = 1.f;
  View feature_;       // the global average pool's input
  float featureScale_ = 1.f;
  memory scratch_;
  wino::Buffer winoScratch_;
  wino::Buffer pixelsF32_;  // forwardPixels, fp32: the normalised images before the reorder to the stem's layout
  std::vector<int8_t> pixelsS8_;  // forwardPixels, int8: the quantized images, NHWC
  int winoShared_ = 0;  // convolutions whose Winograd weights are a sibling instance's
  // The stem and its max pool for grey batches (forwardPixels, R = G = B): greystem::Stem, on AVX2.
  std::unique_ptr<greystem::Stem> greyStem_;
  float greyStemScale_ = 1.f;  // int8: the stem's output scale (the pool keeps it)
  double greyStemBatches_ = 0;
  bool released_ = false;

  static memory::dims Dims(const Napi::Value& v) {
    auto a = v.As<Napi::Array>();
    memory::dims d;
    for (uint32_t i = 0; i < a.Length(); i++) d.push_back(a.Get(i).As<Napi::Number>().Int64Value());
    return d;
  }
  static int Int(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); }
  static float Float(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().FloatValue(); }

  int ProbeBlock() {
    memory::dims src{2, 64, 8, 8}, w{64, 64, 3, 3};
    auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
    // forward_training: the inference probe picks nChw8c even where the kernels run on nChw16c (AVX-512).
    convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, any(src), any(w), any(src), {1, 1}, {1, 1}, {1, 1});
    convolution_forward::primitive_desc pd(d, eng_);
    return pd.dst_desc() == memory::desc(src, dt::f32, tag::nChw16c) ? 16 : 8;
  }

  // A fresh attribute per primitive: primitive_attr copies share one handle.
  static primitive_attr AttrWith(const post_ops& po) {
    primitive_attr a;
    a.set_scratchpad_mode(scratchpad_mode::user);
    a.set_post_ops(po);
    return a;
  }

  memory::desc Md(int t, dt type) const {
    if (int8_) return memory::desc(dims_[t], type, tag::nhwc);
    return memory::desc(dims_[t], dt::f32, block_ == 16 ? tag::nChw16c : tag::nChw8c);
  }

  // The convolution primitive descriptor for `alg`, or none when oneDNN has only its reference kernel.
  static bool MakeConv(convolution_forward::primitive_desc& out, algorithm alg, const memory::desc& src, const memory::desc& w, const memory::desc& b,
                       const memory::desc& dst, const memory::dims& strides, const memory::dims& pad, const primitive_attr& attr, const engine& eng) {
    try {
      convolution_forward::desc d(prop_kind::forward_inference, alg, src, w, b, dst, strides, pad, pad);
      convolution_forward::primitive_desc pd(d, attr, eng);
      if (alg != algorithm::convolution_direct && std::string(pd.impl_info_str()).find("ref") != std::string::npos) return false;
      out = pd;
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }

  void Build(const Napi::Object spec) {
    threads_ = Int(spec, "threads");
    if (threads_ > 0) omp_set_num_threads(threads_);
    block_ = ProbeBlock();
    const bool winograd = spec.Has("algorithm") && spec.Get("algorithm").As<Napi::String>().Utf8Value() == "auto";
    // Our Winograd's tile: 0 = wino::Conv3x3::Tile's choice; 4 or 7 forces it (tests, benches).
    const int winoTile = spec.Has("winogradTile") ? Int(spec, "winogradTile") : 0;
    auto tensors = spec.Get("tensors").As<Napi::Array>();
    for (uint32_t i = 0; i < tensors.Length(); i++) {
      auto t = tensors.Get(i).As<Napi::Object>();
      dims_.push_back(Dims(t.Get("dims")));
      slotOf_.push_back(Int(t, "slot"));
    }
    auto ops = spec.Get("ops").As<Napi::Array>();
    int8_ = spec.Has("precision") && spec.Get("precision").As<Napi::String>().Utf8Value() == "int8";
    if (int8_) inputScale_ = Float(spec, "inputScale");
    for (size_t i = 1; i < dims_.size(); i++)
      if (!int8_ && dims_[i].size() == 4 && dims_[i][1] % block_ != 0)
        throw std::runtime_error("channels " + std::to_string(dims_[i][1]) + " not a multiple of " + std::to_string(block_));
    imagesUserMd_ = memory::desc(dims_[0], dt::f32, tag::nhwc);

    // Each tensor's data type and quantization scale as the ops so far left it (int8).
    std::vector<dt> type(dims_.size(), int8_ ? dt::s8 : dt::f32);
    std::vector<float> scale(dims_.size(), 1.f);
    scale[0] = inputScale_;
    size_t scratch = 0, winoScratch = 0;
    StemOp stemOp;
    for (uint32_t i = 0; i < ops.Length(); i++) {
      auto o = ops.Get(i).As<Napi::Object>();
      std::string kind = o.Get("kind").As<Napi::String>().Utf8Value();
      if (kind == "conv") {
        Conv c;
        const int x = Int(o, "x"), y = Int(o, "y");
        const int k = Int(o, "k"), stride = Int(o, "stride"), pad = Int(o, "pad");
        const bool relu = o.Get("relu").As<Napi::Boolean>().Value();
        const bool sum = o.Get("sum").As<Napi::Boolean>().Value();
        const auto& dx = dims_[x];
        const auto& dy = dims_[y];
        memory::dims wd{dy[1], dx[1], k, k};
        const bool stem = x == 0;
        const dt dstType = int8_ ? (relu ? dt::u8 : dt::s8) : dt::f32;
        const float dstScale = int8_ ? Float(o, "outScale") : 1.f;
        // int8: the shortcut already in y is rescaled to y's new scale (and read as s8 when it was signed).
        const float sumScale = int8_ ? dstScale / scale[y] : 1.f;
        post_ops po;
        if (sum) {
          if (int8_) po.append_sum(sumScale, type[y] == dstType ? dt::undef : type[y]);
          else po.append_sum(1.0f);
        }
        if (relu) po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
        std::vector<float> os;
        if (int8_) {
          auto ws = o.Get("wScales").As<Napi::Float32Array>();
          if ((long)ws.ElementLength() != dy[1]) throw std::runtime_error("wScales of " + o.Get("w").As<Napi::String>().Utf8Value() + " has the wrong length");
          c.wScales.assign(ws.Data(), ws.Data() + ws.ElementLength());
          c.srcScale = scale[x];
          // dst = (acc + bias') * dstScale / (srcScale * wScale): the bias is handed over pre-multiplied.
          for (long oc = 0; oc < dy[1]; oc++) os.push_back(dstScale / (c.srcScale * c.wScales[oc]));
        }
        auto attrFor = [&]() {
          primitive_attr a = AttrWith(po);
          if (int8_) a.set_output_scales(1 << 1, os);
          return a;
        };
        auto srcMd = stem ? memory::desc(dx, int8_ ? dt::s8 : dt::f32, tag::any) : Md(x, type[x]);
        auto wMd = memory::desc(wd, int8_ ? dt::s8 : dt::f32, tag::any);
        auto bMd = memory::desc({dy[1]}, dt::f32, tag::x);
        auto dstMd = Md(y, dstType);
        const memory::dims strides{stride, stride}, pads{pad, pad};
        convolution_forward::primitive_desc pd;
        const bool wino3x3 = winograd && !stem && k == 3 && stride == 1 && pad == 1;
        const bool wino = wino3x3 && !int8_;
        // int8 on AVX2 without VNNI: oneDNN's int8 3x3 stride-1 convolutions are slower than our fp32
        // Winograd on the same layer (bench:wino), so those take u8 in and requantize on the way out.
        const bool winoInt8 = wino3x3 && int8_ && type[x] == dt::u8 && get_effective_cpu_isa() == cpu_isa::avx2;
        c.userW = memory::desc(wd, dt::f32, tag::hwio);
        c.bias = memory(bMd, eng_);
        // oneDNN's Winograd where it has one (AVX-512), else ours where it runs, else oneDNN's direct.
        const bool oneDnnWino = wino && MakeConv(pd, algorithm::convolution_winograd, srcMd, wMd, bMd, dstMd, strides, pads, attrFor(), eng_);
        if (((wino && !oneDnnWino) || winoInt8) && OwnWinograd(dx[1], dy[1])) {
          wino::Quant q;
          if (int8_) {
            q.srcScale = scale[x];
            q.dstScale = dstScale;
            q.dstSigned = dstType == dt::s8;
            q.sumSigned = type[y] == dt::s8;
            q.sumScale = sumScale;
          }
          c.wino = std::make_unique<wino::Conv3x3>(dx[0], dx[1], dy[1], dx[2], dx[3], sum, relu, int8_ ? &q : nullptr, winoTile);
          c.src = {x, srcMd, memory()};
          c.dst = {y, dstMd, memory()};
          c.impl = std::string("wino_") + std::to_string(c.wino->TileSize()) + "x3:avx2" + (int8_ ? " u8" : "") + " (kefer)";
          winoScratch = std::max(winoScratch, c.wino->ScratchFloats());
        } else {
          if (!oneDnnWino && !MakeConv(pd, algorithm::convolution_direct, srcMd, wMd, bMd, dstMd, strides, pads, attrFor(), eng_))
            throw std::runtime_error(std::string("no ") + (int8_ ? "int8 " : "") + "convolution for " + o.Get("w").As<Napi::String>().Utf8Value());
          c.src = {x, pd.src_desc(), memory()};
          c.dst = {y, pd.dst_desc(), memory()};
          c.prim = convolution_forward(pd);
          c.weights = memory(pd.weights_desc(), eng_);
          // The JS side hands the weights over in tfjs's own layout (HWIO), BatchNorm folded in: one reorder here.
          c.impl = pd.impl_info_str();
          scratch = std::max(scratch, pd.scratchpad_desc().get_size());
        }
        if (stem) {
          images_ = c.src;
          stemOp = {k, stride, pad, relu && !sum, dstScale};
        }
        convByWeight_[o.Get("w").As<Napi::String>().Utf8Value()] = (int)convs_.size();
        steps_.push_back({K::Conv, (int)convs_.size()});
        convs_.push_back(std::move(c));
        type[y] = dstType;
        scale[y] = dstScale;
      } else if (kind == "maxpool") {
        Pool p;
        const int x = Int(o, "x"), y = Int(o, "y");
        // Max-pooling commutes with a positive scale: the output keeps the input's type and scale.
        p.src = {x, Md(x, type[x]), memory()};
        p.dst = {y, Md(y, type[x]), memory()};
        pooling_forward::desc d(prop_kind::forward_inference, algorithm::pooling_max, p.src.md, p.dst.md, {2, 2}, {3, 3}, {1, 1}, {1, 1});
        pooling_forward::primitive_desc pd(d, AttrWith(post_ops()), eng_);
        scratch = std::max(scratch, pd.scratchpad_desc().get_size());
        p.prim = pooling_forward(pd);
        steps_.push_back({K::Pool, (int)pools_.size()});
        pools_.push_back(std::move(p));
        type[y] = type[x];
        scale[y] = scale[x];
      } else if (kind == "gap") {
        const int x = Int(o, "x");
        feature_ = {x, Md(x, type[x]), memory()};
        featureScale_ = scale[x];
        steps_.push_back({K::Gap, x});
      } else {
        throw std::runtime_error("unknown inference op " + kind);
      }
    }
    if (feature_.t < 0) throw std::runtime_error("the encoder has no global average pool");
    if (!spec.Has("greyStem") || spec.Get("greyStem").As<Napi::Boolean>().Value()) BuildGreyStem(stemOp);
    // One buffer per slot, as large as the largest view placed in it; each view is a memory on its slot.
    int nSlots = 0;
    for (int s : slotOf_) nSlots = std::max(nSlots, s + 1);
    std::vector<size_t> bytes(nSlots, 0);
    auto need = [&](const View& v) { bytes[slotOf_[v.t]] = std::max(bytes[slotOf_[v.t]], v.md.get_size()); };
    for (auto& c : convs_) need(c.src), need(c.dst);
    for (auto& p : pools_) need(p.src), need(p.dst);
    need(feature_);
    for (int s = 0; s < nSlots; s++) slots_.push_back(memory(memory::desc({(memory::dim)(bytes[s] / sizeof(float) + 1)}, dt::f32, tag::x), eng_));
    auto bind = [&](View& v) { v.mem = memory(v.md, eng_, slots_[slotOf_[v.t]].get_data_handle()); };
    for (auto& c : convs_) bind(c.src), bind(c.dst);
    for (auto& p : pools_) bind(p.src), bind(p.dst);
    bind(images_);
    bind(feature_);
    scratch_ = memory(memory::desc({(memory::dim)(scratch / sizeof(float) + 1)}, dt::f32, tag::x), eng_);
    if (winoScratch) winoScratch_ = wino::Allocate(winoScratch);
  }

  // Takes `sibling`'s Winograd weights for the same convolutions (the same encoder built for another
  // batch size): one copy instead of two, each 4x the direct weights (about 150 MB for ResNet-18).
  void ShareWinogradWeights(Inference* sibling) {
    if (!sibling || sibling->released_) return;
    for (const auto& [name, index] : convByWeight_) {
      auto it = sibling->convByWeight_.find(name);
      if (it == sibling->convByWeight_.end()) continue;
      Conv& c = convs_[index];
      const Conv& s = sibling->convs_[it->second];
      if (c.wino && s.wino && c.wino->ShareWeightsOf(*s.wino)) winoShared_++, c.winoShared = true;
    }
  }

  // The grey stem where the graph begins as ResNet's does (stem convolution with ReLU, then its max pool),
  // on RGB input and oneDNN's AVX2. Not on AVX-512: there oneDNN's int8 stem has VNNI on 512-bit vectors,
  // several times this kernel's multiply-adds per cycle (not measured against it).
  void BuildGreyStem(const StemOp& op) {
    const auto isa = get_effective_cpu_isa();
    if (steps_.size() < 2 || steps_[0].kind != K::Conv || steps_[1].kind != K::Pool || !op.reluOnly) return;
    if (!((isa == cpu_isa::avx2 || isa == cpu_isa::avx2_vnni) && wino::CpuHasAvx2Fma())) return;
    const Conv& c = convs_[steps_[0].index];
    const Pool& p = pools_[steps_[1].index];
    const auto& in = dims_[0];
    const auto& out = dims_[p.dst.t];
    if (c.src.t != 0 || p.src.t != c.dst.t || in[1] != 3 || !greystem::Stem::Supports(out[1])) return;
    auto stem = std::make_unique<greystem::Stem>(in[0], in[2], in[3], out[1], op.k, op.stride, op.pad);
    if (stem->PooledH() != out[2] || stem->PooledW() != out[3]) return;
    greyStem_ = std::move(stem);
    greyStemScale_ = op.outScale;
  }

  // Our Winograd where the activations are nChw8c (fp32) or NHWC (int8) and oneDNN's effective ISA
  // (DNNL_MAX_CPU_ISA caps it) is AVX2: the ISA its kernels are written for.
  bool OwnWinograd(long cin, long cout) const {
    const auto isa = get_effective_cpu_isa();
    return (int8_ || block_ == 8) && (isa == cpu_isa::avx2 || isa == cpu_isa::avx2_vnni) && wino::CpuHasAvx2Fma() && wino::Conv3x3::Supports(cin, cout);
  }

  bool Released(Napi::Env env) {
    if (released_) Napi::Error::New(env, "onednn inference: released").ThrowAsJavaScriptException();
    return released_;
  }

  // setWeights(convWeightName, HWIO weights with the BatchNorm folded in, bias [O], skipShared?): with
  // skipShared, a convolution whose Winograd weights are a sibling's is left alone (the caller has just
  // written the same weights through the sibling; the transform is the costly part of a load).
  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    auto name = info[0].As<Napi::String>().Utf8Value();
    auto it = convByWeight_.find(name);
    if (it == convByWeight_.end()) {
      Napi::Error::New(env, "onednn inference: no convolution " + name).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Conv& c = convs_[it->second];
    auto w = info[1].As<Napi::Float32Array>();
    auto b = info[2].As<Napi::Float32Array>();
    const size_t cout = c.bias.get_desc().get_size() / sizeof(float);
    if (w.ElementLength() * sizeof(float) != c.userW.get_size() || b.ElementLength() != cout) {
      Napi::Error::New(env, "onednn inference: " + name + " takes " + std::to_string(c.userW.get_size() / sizeof(float)) + " weights and " +
                                std::to_string(cout) + " biases, got " + std::to_string(w.ElementLength()) + " and " + std::to_string(b.ElementLength()))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    try {
      if (greyStem_ && it->second == steps_[0].index) greyStem_->SetWeights(w.Data(), b.Data());
      memory user(c.userW, eng_, w.Data());
      float* bias = static_cast<float*>(c.bias.get_data_handle());
      const bool skipShared = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
      if (c.wino && c.winoShared && skipShared) {
        return env.Undefined();
      } else if (c.wino) {
        c.wino->SetWeights(w.Data(), b.Data());  // keeps its own bias: c.bias only sizes the check above
      } else if (int8_) {
        // s8 per output channel (dims O, I, H, W: mask bit 0); oneDNN's reorder adds the s8-input
        // compensation and the non-VNNI half scale where the convolution's weight format asks for them.
        primitive_attr a;
        a.set_output_scales(1 << 0, c.wScales);
        reorder(reorder::primitive_desc(eng_, c.userW, eng_, c.weights.get_desc(), a)).execute(s_, user, c.weights);
        for (size_t oc = 0; oc < cout; oc++) bias[oc] = b.Data()[oc] * c.srcScale * c.wScales[oc];
      } else {
        reorder(user, c.weights).execute(s_, user, c.weights);
        std::memcpy(bias, b.Data(), cout * sizeof(float));
      }
      s_.wait();
    } catch (const std::exception& e) {
      Napi::Error::New(env, "onednn inference: weights of " + name + ": " + e.what()).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // Runs the steps on `images`; after each convolution and pool, `each(stepIndex, dst)` when given.
  template <typename F>
  void Run(Napi::Float32Array images, float* features, F each) {
    if (threads_ > 0) omp_set_num_threads(threads_);
    LoadImages(images.Data());
    RunSteps(features, each);
  }

  // Normalised NHWC floats -> the stem's input (int8: quantized by the reorder's scale).
  void LoadImages(const float* x) {
    memory user(imagesUserMd_, eng_, const_cast<float*>(x));
    if (int8_) {
      primitive_attr a;
      a.set_output_scales(0, {inputScale_});
      reorder(reorder::primitive_desc(eng_, imagesUserMd_, eng_, images_.md, a)).execute(s_, user, images_.mem);
    } else {
      reorder(user, images_.mem).execute(s_, user, images_.mem);
    }
  }

  // RGB bytes as decoded, NHWC -> the stem's input: normalised ((v / 255 - mean) / std, as the JS side's
  // table computes it) and, int8, quantized as the float path's reorder does (scale, round to nearest
  // even, saturate). A table per channel: 256 entries instead of a float per value through JS.
  void LoadPixels(const uint8_t* rgb, const double mean[3], const double stdev[3]) {
    const long values = (long)(imagesUserMd_.get_size() / sizeof(float));
    float table[3][256];
    for (int c = 0; c < 3; c++)
      for (int v = 0; v < 256; v++) table[c][v] = (float)((v / 255.0 - mean[c]) / stdev[c]);
    if (int8_) {
      int8_t q[3][256];
      for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) q[c][v] = (int8_t)std::max(-128.f, std::min(127.f, std::nearbyint(table[c][v] * inputScale_)));
      pixelsS8_.resize(values);
      int8_t* out = pixelsS8_.data();
#pragma omp parallel for
      for (long p = 0; p < values / 3; p++)
        for (int c = 0; c < 3; c++) out[p * 3 + c] = q[c][rgb[p * 3 + c]];
      memory::desc md(dims_[0], dt::s8, tag::nhwc);
      memory user(md, eng_, pixelsS8_.data());
      reorder(user, images_.mem).execute(s_, user, images_.mem);
      return;
    }
    if (!pixelsF32_) pixelsF32_ = wino::Allocate(values);
    float* x = pixelsF32_.get();
#pragma omp parallel for
    for (long p = 0; p < values / 3; p++)
      for (int c = 0; c < 3; c++) x[p * 3 + c] = table[c][rgb[p * 3 + c]];
    LoadImages(x);
  }

  // From step `first` on (the grey stem has done steps 0 and 1).
  template <typename F>
  void RunSteps(float* features, F each, size_t first = 0) {
    for (size_t i = first; i < steps_.size(); i++) {
      const auto& st = steps_[i];
      if (st.kind == K::Conv) {
        Conv& c = convs_[st.index];
        if (c.wino) {
          s_.wait();
          c.wino->Run(c.src.mem.get_data_handle(), c.dst.mem.get_data_handle(), winoScratch_.get());
          each(i, c.dst);
          continue;
        }
        c.prim.execute(s_, {{DNNL_ARG_SRC, c.src.mem}, {DNNL_ARG_WEIGHTS, c.weights}, {DNNL_ARG_BIAS, c.bias}, {DNNL_ARG_DST, c.dst.mem}, {DNNL_ARG_SCRATCHPAD, scratch_}});
        each(i, c.dst);
      } else if (st.kind == K::Pool) {
        Pool& p = pools_[st.index];
        p.prim.execute(s_, {{DNNL_ARG_SRC, p.src.mem}, {DNNL_ARG_DST, p.dst.mem}, {DNNL_ARG_SCRATCHPAD, scratch_}});
        each(i, p.dst);
      } else if (features) {
        s_.wait();
        GlobalAveragePool(features);
      }
    }
    s_.wait();
  }

  void GlobalAveragePool(float* out) {
    const auto& fd = dims_[feature_.t];
    const long N = fd[0], C = fd[1], HW = fd[2] * fd[3];
    if (int8_) {
      // NHWC u8 (or s8): sum over HW per channel, then one multiply by 1 / (scale * HW).
      const float inv = 1.0f / (featureScale_ * (float)HW);
      const bool u8 = feature_.md.data_type() == dt::u8;
      const void* base = feature_.mem.get_data_handle();
#pragma omp parallel for
      for (long n = 0; n < N; n++) {
        std::vector<int32_t> acc(C, 0);
        for (long hw = 0; hw < HW; hw++) {
          const long off = (n * HW + hw) * C;
          if (u8)
            for (long c = 0; c < C; c++) acc[c] += static_cast<const uint8_t*>(base)[off + c];
          else
            for (long c = 0; c < C; c++) acc[c] += static_cast<const int8_t*>(base)[off + c];
        }
        for (long c = 0; c < C; c++) out[n * C + c] = (float)acc[c] * inv;
      }
      return;
    }
    BlockedMean(ptr(feature_.mem), N, C, HW, block_, out);
  }

  // `values` image values (floats or bytes, `what` names them) against the batch this instance was built for.
  bool CheckImages(Napi::Env env, size_t values, const char* what = "image") {
    if (values * sizeof(float) == imagesUserMd_.get_size()) return true;
    Napi::Error::New(env, "onednn inference: got " + std::to_string(values) + " " + what + " values, built for " +
                              std::to_string(imagesUserMd_.get_size() / sizeof(float)))
        .ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    auto images = info[0].As<Napi::Float32Array>();
    if (!CheckImages(env, images.ElementLength())) return env.Undefined();
    try {
      const auto& fd = dims_[feature_.t];
      auto v = Napi::Float32Array::New(env, fd[0] * fd[1]);
      Run(images, v.Data(), [](size_t, const View&) {});
      return v;
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("onednn inference forward: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  // forwardPixels(rgb: Uint8Array [N, S, S, 3] as decoded, mean[3], std[3]) -> v [N, D]: forward() without
  // the normalised float copy of every image in JS.
  Napi::Value ForwardPixels(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    auto rgb = info[0].As<Napi::Uint8Array>();
    if (!CheckImages(env, rgb.ElementLength(), "pixel")) return env.Undefined();
    double mean[3], stdev[3];
    for (uint32_t c = 0; c < 3; c++) {
      mean[c] = info[1].As<Napi::Array>().Get(c).As<Napi::Number>().DoubleValue();
      stdev[c] = info[2].As<Napi::Array>().Get(c).As<Napi::Number>().DoubleValue();
      if (!(stdev[c] > 0)) {
        Napi::Error::New(env, "onednn inference: std must be positive").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    try {
      const auto& fd = dims_[feature_.t];
      auto v = Napi::Float32Array::New(env, fd[0] * fd[1]);
      if (threads_ > 0) omp_set_num_threads(threads_);
      const long pixels = (long)rgb.ElementLength() / 3;
      if (greyStem_ && greystem::AllGrey(rgb.Data(), pixels)) {
        const Pool& p = pools_[steps_[1].index];
        greyStem_->Run(rgb.Data(), mean, stdev, {p.dst.mem.get_data_handle(), int8_, greyStemScale_, block_});
        greyStemBatches_++;
        RunSteps(v.Data(), [](size_t, const View&) {}, 2);
      } else {
        LoadPixels(rgb.Data(), mean, stdev);
        RunSteps(v.Data(), [](size_t, const View&) {});
      }
      return v;
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("onednn inference forward: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  // calibrate(images) -> the largest |value| each op wrote (0 for the pool of features), fp32 only: what
  // the int8 scales are made from.
  Napi::Value Calibrate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Released(env)) return env.Undefined();
    if (int8_) {
      Napi::Error::New(env, "onednn inference: calibrate runs on the fp32 encoder").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto images = info[0].As<Napi::Float32Array>();
    if (!CheckImages(env, images.ElementLength())) return env.Undefined();
    try {
      auto out = Napi::Float32Array::New(env, steps_.size());
      std::fill(out.Data(), out.Data() + steps_.size(), 0.f);
      Run(images, nullptr, [&](size_t i, const View& v) {
        s_.wait();
        const float* p = ptr(v.mem);
        const long n = (long)(v.md.get_size() / sizeof(float));
        float m = 0.f;
#pragma omp parallel for reduction(max : m)
        for (long j = 0; j < n; j++) m = std::max(m, std::fabs(p[j]));
        out.Data()[i] = m;
      });
      return out;
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("onednn inference calibrate: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto o = Napi::Object::New(env);
    const auto* ver = dnnl::version();
    o.Set("version", std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch));
    o.Set("block", block_);
    o.Set("threads", threads_ > 0 ? threads_ : omp_get_max_threads());
    o.Set("precision", int8_ ? "int8" : "fp32");
    std::string impls;
    for (auto& c : convs_)
      if (impls.find(c.impl) == std::string::npos) impls += (impls.empty() ? "" : ", ") + c.impl;
    o.Set("convolution", impls);
    o.Set("winogradShared", winoShared_);
    // Our Winograd's convolutions: those running whole chunks per thread, and those by tile, F(4x4) / F(7x7).
    int perThread = 0, f4 = 0, f7 = 0;
    for (auto& c : convs_) {
      if (!c.wino) continue;
      perThread += c.wino->PerThreadChunks() ? 1 : 0;
      (c.wino->TileSize() == 7 ? f7 : f4)++;
    }
    o.Set("winogradPerThreadChunks", perThread);
    o.Set("winogradF4", f4);
    o.Set("winogradF7", f7);
    o.Set("greyStem", greyStem_ != nullptr);
    o.Set("greyStemBatches", greyStemBatches_);
    size_t bytes = scratch_ ? scratch_.get_desc().get_size() : 0;
    for (auto& m : slots_) bytes += m.get_desc().get_size();
    o.Set("activationBytes", (double)bytes);
    o.Set("isa", IsaName());
    return o;
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    convs_.clear();
    pools_.clear();
    steps_.clear();
    slots_.clear();
    images_ = View();
    feature_ = View();
    scratch_ = memory();
    winoScratch_.reset();
    pixelsF32_.reset();
    pixelsS8_ = {};
    greyStem_.reset();
    released_ = true;
    return info.Env().Undefined();
  }
};

// resizeBilinear(src, w, h, channels, size, xlo, xhi, ylo, yhi, weights, rowWeights, out): resize::Bilinear on
// pngFastPath.ts's plan. Every index is checked against its array first: a wrong plan is an error, not a
// read out of bounds.
Napi::Value ResizeBilinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto i32 = [&](int k) { return info[k].As<Napi::Int32Array>(); };
  auto src = info[0].As<Napi::Uint8Array>();
  const long w = info[1].As<Napi::Number>().Int64Value(), h = info[2].As<Napi::Number>().Int64Value();
  const int channels = info[3].As<Napi::Number>().Int32Value();
  const long size = info[4].As<Napi::Number>().Int64Value();
  auto xlo = i32(5), xhi = i32(6), ylo = i32(7), yhi = i32(8), weights = i32(9), rows = i32(10);
  auto out = info[11].As<Napi::Uint8Array>();
  auto fail = [&](const std::string& why) {
    Napi::Error::New(env, "resizeBilinear: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  };
  if ((channels != 1 && channels != 3) || w < 1 || h < 1 || size < 1) return fail("bad shape");
  if ((long)src.ElementLength() < w * h * channels) return fail("the source is smaller than its shape");
  if ((long)out.ElementLength() != size * size * 3) return fail("the output is not size x size x 3");
  const long plans = (long)weights.ElementLength() / (size * 4);
  if ((long)xlo.ElementLength() != size || (long)xhi.ElementLength() != size || (long)ylo.ElementLength() != size || (long)yhi.ElementLength() != size ||
      (long)rows.ElementLength() != size || plans < 1)
    return fail("the plan does not fit the size");
  const int32_t *x0 = xlo.Data(), *x1 = xhi.Data(), *y0 = ylo.Data(), *y1 = yhi.Data(), *r = rows.Data();
  for (long i = 0; i < size; i++) {
    if (x0[i] < 0 || x0[i] >= w || x1[i] < 0 || x1[i] >= w) return fail("a column index is outside the source");
    if (y0[i] < 0 || y0[i] >= h || y1[i] < 0 || y1[i] >= h) return fail("a row index is outside the source");
    if (r[i] < 0 || r[i] >= plans) return fail("a row's weights are missing");
  }
  resize::Bilinear(src.Data(), w, channels, size, x0, x1, y0, y1, weights.Data(), r, out.Data());
  return env.Undefined();
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("resizeBilinear", Napi::Function::New(env, ResizeBilinear));
  exports.Set("Encoder", Encoder::Init(env));
  exports.Set("Inference", Inference::Init(env));
  exports.Set("isa", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), IsaName()); }));
  return exports;
}

}  // namespace

NODE_API_MODULE(kefer_dnnl, InitAll)
