// The oneDNN engine of InferenceModel (CPU, float32 or bfloat16). Per block:
//   LayerNorm (ours, float32 stream -> compute dtype)
//   qkv  = matmul(+bias)                                 -> compute dtype (M, 3 * inner)
//   S    = scale * Q.K^T read in place from qkv (strided) -> compute dtype (B, H, N, N)
//   [S  += the block's attention bias (relative positions), (H, N, N)]
//   softmax(S) in place; O = S.V written in token layout  -> compute dtype (M, inner)
//     (bfloat16 on AVX512-BF16 CPUs: these three in one kernel, src/engine/attention_bf16.cpp,
//      for blocks without an attention bias)
//   x   += ls1 * matmul(O) + bias                          (bias, LayerScale, residual fused)
//   LayerNorm; h = gelu(matmul + bias) (fused); x += ls2 * matmul(h) + bias (fused)
// The residual stream x stays float32 in both dtypes. Primitives are built once per row count.
//
// int8 (dynamic quantisation): each Linear weight is quantised once, symmetric per output channel
// (w ~ sw[c] * qw[c, :], sw = max |w[c, :]| / 127); each GEMM input is quantised per token
// (x ~ sa[r] * qx[r, :]), the s8 x s8 product accumulates in int32 (oneDNN: VNNI), and our epilogue
// dequantises (acc * sa[r] * sw[c] + bias), applies the activation or adds to the float32 residual
// stream. LayerNorm, q/k-norm, softmax and attention stay in floating point (bfloat16 through the
// fused kernel where the CPU has it, else float32).
#include "engine.h"

#ifdef VITCPP_HAVE_ONEDNN

#include <ATen/Parallel.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

namespace vit::detail {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dt dnnl_type(torch::ScalarType t) {
  if (t == torch::kFloat32) return dt::f32;
  if (t == torch::kBFloat16) return dt::bf16;
  if (t == torch::kInt8) return dt::s8;
  TORCH_CHECK(false, "[InferenceModel] the oneDNN backend runs float32 or bfloat16, not ", t);
}

memory wrap(const memory::desc& desc, const void* data) {
  return memory(desc, cpu_engine(), const_cast<void*>(data));
}

// Every primitive takes its scratchpad from the calling thread (scratchpad_mode::user): with the
// library's own scratchpad, one primitive executed by two threads at once races. CPU execution is
// synchronous, so one growing buffer per thread serves every primitive in turn.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory scratchpad(const memory::desc& desc) {
  thread_local torch::Tensor buffer;
  const auto bytes = static_cast<int64_t>(desc.get_size());
  if (!buffer.defined() || buffer.numel() < bytes) buffer = torch::empty({std::max<int64_t>(bytes, 1)}, torch::kUInt8);
  return wrap(desc, buffer.data_ptr());
}

// ---- the few calls oneDNN 3.0 changed (DNNL_VERSION_MAJOR 2 or 3) ------------------------------

dnnl::matmul::primitive_desc matmul_desc(const memory::desc& src, const memory::desc& weights, const memory::desc* bias,
                                         const memory::desc& dst, const dnnl::primitive_attr& attr) {
#if DNNL_VERSION_MAJOR >= 3
  if (bias) return {cpu_engine(), src, weights, *bias, dst, attr};
  return {cpu_engine(), src, weights, dst, attr};
#else
  if (bias) return {dnnl::matmul::desc(src, weights, *bias, dst), attr, cpu_engine()};
  return {dnnl::matmul::desc(src, weights, dst), attr, cpu_engine()};
#endif
}

void append_eltwise(dnnl::post_ops& ops, dnnl::algorithm algorithm, float alpha, float beta) {
#if DNNL_VERSION_MAJOR >= 3
  ops.append_eltwise(algorithm, alpha, beta);
#else
  ops.append_eltwise(1.f, algorithm, alpha, beta);
#endif
}

dnnl::softmax_forward::primitive_desc softmax_desc(const memory::desc& data, int axis, const dnnl::primitive_attr& attr) {
#if DNNL_VERSION_MAJOR >= 3
  return {cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, data, data, axis, attr};
#else
  return {dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, data, axis), attr, cpu_engine()};
#endif
}

void reorder(dnnl::stream& stream, const memory& from, const memory& to) {
  const dnnl::reorder::primitive_desc pd(from, to, user_scratchpad());
  dnnl::reorder(pd).execute(stream, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}});
}

// ---- elementwise kernels (ours; vectorised by the compiler) -----------------------------------

inline float to_float(float v) { return v; }
inline float to_float(c10::BFloat16 v) { return static_cast<float>(v); }
template <typename T>
inline T from_float(float v) {
  return static_cast<T>(v);  // BFloat16: round to nearest even
}

/// y[r] = (x[r] - mean) / sqrt(var + eps) * w + b for each row of `cols` values; x and y may alias.
template <typename In, typename Out>
void layer_norm_rows(const In* x, int64_t x_stride, Out* y, int64_t y_stride, int64_t rows, int64_t cols,
                     const float* w, const float* b, float eps) {
  at::parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const In* xr = x + r * x_stride;
      constexpr int kLanes = 16;
      float part[kLanes] = {};
      int64_t c = 0;
      for (; c + kLanes <= cols; c += kLanes)
        for (int l = 0; l < kLanes; ++l) part[l] += to_float(xr[c + l]);
      float sum = 0.f;
      for (; c < cols; ++c) sum += to_float(xr[c]);
      for (float p : part) sum += p;
      const float mean = sum / static_cast<float>(cols);
      float sq[kLanes] = {};
      c = 0;
      for (; c + kLanes <= cols; c += kLanes)
        for (int l = 0; l < kLanes; ++l) {
          const float d = to_float(xr[c + l]) - mean;
          sq[l] += d * d;
        }
      float var = 0.f;
      for (; c < cols; ++c) var += (to_float(xr[c]) - mean) * (to_float(xr[c]) - mean);
      for (float p : sq) var += p;
      const float rstd = 1.f / std::sqrt(var / static_cast<float>(cols) + eps);
      Out* yr = y + r * y_stride;
      for (c = 0; c < cols; ++c) yr[c] = from_float<Out>((to_float(xr[c]) - mean) * rstd * w[c] + b[c]);
    }
  });
}

/// x (float32, rows x cols) += y (rows x cols).
template <typename T>
void add_rows(float* x, const T* y, int64_t n) {
  at::parallel_for(0, n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] += to_float(y[i]);
  });
}

struct Norm {
  torch::Tensor weight, bias;  // float32, contiguous
  float eps = 1e-5f;
  explicit Norm(const BlockWeights::Norm& n = {}) {
    if (!n.defined()) return;
    weight = n.weight.to(torch::kFloat32).contiguous();
    bias = n.bias.to(torch::kFloat32).contiguous();
    eps = static_cast<float>(n.eps);
  }
};

// ---- GEMMs ---------------------------------------------------------------------------------------

enum class Epilogue { kNone, kAct, kResidual };

/// A block's activation as a oneDNN eltwise post-op: gelu (erf), gelu_tanh, and silu / quick_gelu as
/// swish x * sigmoid(alpha x) with alpha 1 / 1.702.
struct EltwiseAct {
  dnnl::algorithm algorithm = dnnl::algorithm::eltwise_gelu_erf;
  float alpha = 0.f;
};

EltwiseAct eltwise_act(Activation act) {
  switch (act) {
    case Activation::kGelu: return {dnnl::algorithm::eltwise_gelu_erf, 0.f};
    case Activation::kGeluTanh: return {dnnl::algorithm::eltwise_gelu_tanh, 0.f};
    case Activation::kSilu: return {dnnl::algorithm::eltwise_swish, 1.f};
    case Activation::kQuickGelu: return {dnnl::algorithm::eltwise_swish, 1.702f};
    case Activation::kSigmoid: return {dnnl::algorithm::eltwise_logistic, 0.f};
  }
  TORCH_CHECK(false, "[InferenceModel] unknown activation");
}

/// One Linear shape shared by every block (qkv, proj, fc1 or fc2): src (M, k) in the compute dtype,
/// weights (k, n), float32 bias, dst (M, n) in the compute dtype, or for kResidual float32 with
/// dst += [gamma *] (src . W + bias). In int8 (s8 src and weights) dst is the int32 accumulator, with
/// no bias or epilogue: the int8 kernels below dequantise it.
class Gemm {
 public:
  Gemm(int64_t k, int64_t n, dt compute, Epilogue epilogue, bool bias, bool gamma, bool prepack, int64_t rows_hint,
       EltwiseAct act = {})
      : k_(k), n_(n), compute_(compute), epilogue_(epilogue), bias_(bias), gamma_(gamma), prepack_(prepack), act_(act) {
    const memory::desc plain({k, n}, compute, tag::ba);  // torch's (out, in) row-major weight
    weights_desc_ = prepack ? descriptor(rows_hint, memory::desc({k, n}, compute, tag::any)).weights_desc() : plain;
    // oneDNN 3.7's float32 brgemm computes wrong products from its own packed layout when n is not a
    // multiple of 64 (seen on AVX-512: n = 48, 144): a packed layout is used only once it agrees with
    // the plain one on test data
    if (prepack_ && !packed_layout_agrees(rows_hint)) {
      prepack_ = false;
      weights_desc_ = plain;
    }
  }

  /// Whether weights() returns an engine-owned packed copy (prepack, and the packed layout checked out).
  bool packed() const { return prepack_; }

  /// The block's weight (out, in) in the layout the primitives read: an engine-owned reordered copy
  /// when prepacking, else a view of the tensor (kept alive by `keep`).
  memory weights(const torch::Tensor& w, torch::Tensor& keep) const {
    TORCH_CHECK(w.size(0) == n_ && w.size(1) == k_, "[InferenceModel] blocks differ in shape");
    keep = w.contiguous();
    const memory plain = wrap(memory::desc({k_, n_}, compute_, tag::ba), keep.data_ptr());
    if (!prepack_) return plain;
    memory packed(weights_desc_, cpu_engine());
    dnnl::stream stream(cpu_engine());
    reorder(stream, plain, packed);
    stream.wait();
    keep = torch::Tensor();
    return packed;
  }

  void run(dnnl::stream& stream, int64_t m, const void* src, const memory& weights, const float* bias,
           const float* gamma, void* dst) const {
    const auto& p = primitive(m);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(p.src, src)},
                                         {DNNL_ARG_WEIGHTS, weights},
                                         {DNNL_ARG_DST, wrap(p.dst, dst)},
                                         {DNNL_ARG_SCRATCHPAD, scratchpad(p.pd.scratchpad_desc())}};
    if (bias_) args.emplace(DNNL_ARG_BIAS, wrap(memory::desc({1, n_}, dt::f32, tag::ab), bias));
    if (gamma_) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, wrap(memory::desc({1, n_}, dt::f32, tag::ab), gamma));
    }
    if (p.reorder_weights) {  // a row count whose primitive wants another weight layout
      memory w(p.pd.weights_desc(), cpu_engine());
      reorder(stream, weights, w);
      args[DNNL_ARG_WEIGHTS] = w;
      p.matmul.execute(stream, args);
      stream.wait();
      return;
    }
    p.matmul.execute(stream, args);
  }

 private:
  struct Primitive {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul matmul;
    memory::desc src, dst;
    bool reorder_weights = false;
  };

  dnnl::matmul::primitive_desc descriptor(int64_t m, const memory::desc& weights) const {
    const memory::desc src({m, k_}, compute_, tag::ab);
    const dt out = compute_ == dt::s8 ? dt::s32 : epilogue_ == Epilogue::kResidual ? dt::f32 : compute_;
    const memory::desc dst({m, n_}, out, tag::ab);
    dnnl::post_ops ops;
    if (epilogue_ == Epilogue::kAct) append_eltwise(ops, act_.algorithm, act_.alpha, 0.f);
    if (gamma_) ops.append_binary(dnnl::algorithm::binary_mul, memory::desc({1, n_}, dt::f32, tag::ab));
    if (epilogue_ == Epilogue::kResidual) ops.append_sum(1.f);
    auto attr = user_scratchpad();
    attr.set_post_ops(ops);
    const memory::desc bias({1, n_}, dt::f32, tag::ab);
    return matmul_desc(src, weights, bias_ ? &bias : nullptr, dst, attr);
  }

  /// The product of pseudo-random (m x k) and (k x n) matrices through the packed weights equals the
  /// one through the plain weights (float: within 1e-3 of the largest value; int8: exactly).
  bool packed_layout_agrees(int64_t rows) const {
    const int64_t m = std::clamp<int64_t>(rows, 1, 64);
    const auto type = compute_ == dt::f32 ? torch::kFloat32 : compute_ == dt::bf16 ? torch::kBFloat16 : torch::kInt8;
    const auto data = [&](int64_t r, int64_t c, double step) {  // deterministic, without the global RNG
      const auto i = torch::arange(r * c, torch::kFloat64).view({r, c});
      return type == torch::kInt8 ? (i * 37 + step).fmod(255).sub(127).to(type) : (i * step).sin().to(type);
    };
    const auto w = data(n_, k_, 0.37).contiguous(), src = data(m, k_, 0.11).contiguous();
    const dt out = compute_ == dt::s8 ? dt::s32 : dt::f32;
    const memory::desc src_desc({m, k_}, compute_, tag::ab), dst_desc({m, n_}, out, tag::ab);
    const memory plain = wrap(memory::desc({k_, n_}, compute_, tag::ba), w.data_ptr());
    dnnl::stream stream(cpu_engine());
    torch::Tensor results[2];
    for (int packed = 0; packed < 2; ++packed) {
      const auto pd = matmul_desc(src_desc, packed ? weights_desc_ : plain.get_desc(), nullptr, dst_desc, user_scratchpad());
      memory weights = plain;
      if (packed) {
        weights = memory(weights_desc_, cpu_engine());
        reorder(stream, plain, weights);
      }
      results[packed] = torch::zeros({m, n_}, out == dt::s32 ? torch::kInt32 : torch::kFloat32);
      dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, wrap(src_desc, src.data_ptr())},
                                        {DNNL_ARG_WEIGHTS, weights},
                                        {DNNL_ARG_DST, wrap(dst_desc, results[packed].data_ptr())},
                                        {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}});
      stream.wait();
    }
    if (out == dt::s32) return torch::equal(results[0], results[1]);
    const double largest = results[0].abs().max().item<double>();
    return (results[0] - results[1]).abs().max().item<double>() <= 1e-3 * std::max(largest, 1.);
  }

  const Primitive& primitive(int64_t m) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(m);
    if (it != cache_.end()) return it->second;
    Primitive p;
    try {
      p.pd = descriptor(m, weights_desc_);
    } catch (const dnnl::error&) {  // the stored layout does not suit this row count
      p.pd = descriptor(m, memory::desc({k_, n_}, compute_, tag::any));
      p.reorder_weights = true;
    }
    p.matmul = dnnl::matmul(p.pd);
    p.src = p.pd.src_desc();
    p.dst = p.pd.dst_desc();
    return cache_.emplace(m, std::move(p)).first->second;
  }

  int64_t k_, n_;
  dt compute_;
  Epilogue epilogue_;
  bool bias_, gamma_, prepack_;
  EltwiseAct act_;
  memory::desc weights_desc_;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, Primitive> cache_;
};

// ---- int8 -------------------------------------------------------------------------------------

/// A Linear weight (out, in) quantised per output channel: int8 values and float32 scales (out).
std::pair<torch::Tensor, torch::Tensor> quantize_weight(const torch::Tensor& weight) {
  const auto w = weight.to(torch::kFloat32);
  const auto amax = w.abs().amax(1, /*keepdim=*/true);
  const auto scale = torch::where(amax > 0, amax / 127., torch::ones_like(amax));
  return {torch::round(w / scale).to(torch::kInt8).contiguous(), scale.view({-1}).contiguous()};
}

// ---- attention core ----------------------------------------------------------------------------

/// softmax(scale * Q.K^T) . V for the first Nq of each image's N tokens, reading Q, K, V in place from
/// the qkv buffer (B, N, 3, H, hd) and writing the output in token layout (B, Nq, H * hd): in bfloat16
/// with the fused kernel of src/engine/attention_bf16.cpp where the CPU has it, else with oneDNN primitives.
class AttentionCore {
 public:
  AttentionCore(int64_t heads, int64_t head_dim, float scale, dt compute, bool fused)
      : H_(heads), hd_(head_dim), scale_(scale), compute_(compute),
        fused_(fused && compute == dt::bf16 && scale > 0.f && fused_attention_bf16_supported(head_dim)) {}

  /// Whether run() needs the (B, H, N, N) scores buffer (the unfused primitives).
  bool needs_scores() const { return !fused_; }

  /// `scores` holds at least (B, H, Nq, N) values when needs_scores(). `bias` (H, N, N) in the
  /// compute dtype, or undefined: added to the scaled logits (the fused kernel adds none).
  void run(dnnl::stream& stream, int64_t B, int64_t N, int64_t Nq, const void* qkv, void* scores, void* out,
           const torch::Tensor& bias = {}) const {
    TORCH_CHECK(!bias.defined() || (!fused_ && bias.size(-1) == N), "[InferenceModel] the attention bias is for ",
                bias.defined() ? bias.size(-1) : 0, " tokens, got ", N, " (the model's input size is fixed)");
    if (fused_) {
      fused_attention_bf16(static_cast<const c10::BFloat16*>(qkv), static_cast<c10::BFloat16*>(out), B, N, Nq, H_, hd_,
                           scale_);
      return;
    }
    const auto& p = primitive(B, N, Nq);
    const int64_t inner = H_ * hd_, esize = compute_ == dt::f32 ? 4 : 2;
    const auto* base = static_cast<const char*>(qkv);
    const memory S = wrap(p.scores, scores);
    p.qk.execute(stream, {{DNNL_ARG_SRC, wrap(p.q, base)},
                          {DNNL_ARG_WEIGHTS, wrap(p.kt, base + inner * esize)},
                          {DNNL_ARG_DST, S},
                          {DNNL_ARG_SCRATCHPAD, scratchpad(p.qk_scratch)}});
    if (bias.defined()) {  // the relative-position bias of the queries' rows, on LibTorch's threads
      stream.wait();
      torch::from_blob(scores, {B, H_, Nq, N}, bias.options()).add_(bias.narrow(1, 0, Nq));
    }
    p.softmax.execute(stream, {{DNNL_ARG_SRC, S}, {DNNL_ARG_DST, S}, {DNNL_ARG_SCRATCHPAD, scratchpad(p.softmax_scratch)}});
    p.pv.execute(stream, {{DNNL_ARG_SRC, S},
                          {DNNL_ARG_WEIGHTS, wrap(p.v, base + 2 * inner * esize)},
                          {DNNL_ARG_DST, wrap(p.out, out)},
                          {DNNL_ARG_SCRATCHPAD, scratchpad(p.pv_scratch)}});
  }

 private:
  struct Primitive {
    memory::desc q, kt, v, scores, out, qk_scratch, pv_scratch, softmax_scratch;
    dnnl::matmul qk, pv;
    dnnl::softmax_forward softmax;
  };

  const Primitive& primitive(int64_t B, int64_t N, int64_t Nq) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(B, N, Nq);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    const int64_t I = H_ * hd_, row = 3 * I;
    Primitive p;
    p.q = memory::desc({B, H_, Nq, hd_}, compute_, memory::dims{N * row, hd_, row, 1});
    p.kt = memory::desc({B, H_, hd_, N}, compute_, memory::dims{N * row, hd_, 1, row});
    p.v = memory::desc({B, H_, N, hd_}, compute_, memory::dims{N * row, hd_, row, 1});
    p.scores = memory::desc({B, H_, Nq, N}, compute_, tag::abcd);
    p.out = memory::desc({B, H_, Nq, hd_}, compute_, memory::dims{Nq * I, hd_, I, 1});
    // scale * Q.K^T: a linear post-op on the float32 accumulator (oneDNN 2's output scale, gone in 3)
    dnnl::post_ops ops;
    append_eltwise(ops, dnnl::algorithm::eltwise_linear, scale_, 0.f);
    auto scaled = user_scratchpad();
    scaled.set_post_ops(ops);
    const auto qk = matmul_desc(p.q, p.kt, nullptr, p.scores, scaled);
    const auto pv = matmul_desc(p.scores, p.v, nullptr, p.out, user_scratchpad());
    const auto softmax = softmax_desc(p.scores, 3, user_scratchpad());
    p.qk = dnnl::matmul(qk);
    p.pv = dnnl::matmul(pv);
    p.softmax = dnnl::softmax_forward(softmax);
    p.qk_scratch = qk.scratchpad_desc();
    p.pv_scratch = pv.scratchpad_desc();
    p.softmax_scratch = softmax.scratchpad_desc();
    return cache_.emplace(key, std::move(p)).first->second;
  }

  int64_t H_, hd_;
  float scale_;
  dt compute_;
  bool fused_;
  mutable std::mutex mutex_;
  mutable std::map<std::tuple<int64_t, int64_t, int64_t>, Primitive> cache_;
};

// ---- the block stack ----------------------------------------------------------------------------

class OneDnnBlocks final : public Blocks {
 public:
  OneDnnBlocks(std::vector<BlockWeights> blocks, bool prepack, int64_t rows_hint, bool release, bool fused_attention,
               bool int8)
      : int8_(int8) {
    TORCH_CHECK(!blocks.empty(), "[InferenceModel] no blocks");
    const auto& b0 = blocks.front();
    dtype_ = int8 ? torch::kFloat32 : b0.qkv.weight.scalar_type();
    compute_ = int8 ? dt::s8 : dnnl_type(dtype_);
    // attention biases (relative positions) need the unfused attention
    has_bias_ = b0.attn_bias.defined();
    fused_attention = fused_attention && !has_bias_;
    // int8: attention in bfloat16 through the fused kernel where the CPU has it, else float32
    attention_dtype_ = int8 && !(fused_attention && b0.scale > 0. && fused_attention_bf16_supported(b0.head_dim))
                           ? torch::kFloat32
                           : int8 ? torch::kBFloat16 : dtype_;
    D_ = b0.dim();
    I_ = b0.inner();
    hidden_ = b0.fc1.weight.size(0);
    has_proj_ = b0.proj.defined();
    qk_norm_ = b0.q_norm.defined();
    const bool ls = b0.ls1.defined(), qkv_bias = b0.qkv.bias.defined();
    proj_bias_ = b0.proj.defined() && b0.proj.bias.defined();
    fc_bias_ = b0.fc1.bias.defined() && b0.fc2.bias.defined();
    TORCH_CHECK(b0.fc1.bias.defined() == b0.fc2.bias.defined(), "[InferenceModel] the oneDNN backend needs fc1 and fc2 both with or without bias");
    const auto rows = std::max<int64_t>(rows_hint, 1);
    // int8 GEMMs only accumulate: the int8 kernels apply bias, activation, LayerScale and residual
    const auto fused = [&](Epilogue e) { return int8 ? Epilogue::kNone : e; };
    qkv_ = std::make_unique<Gemm>(D_, 3 * I_, compute_, Epilogue::kNone, qkv_bias && !int8, false, prepack, rows);
    if (has_proj_) {
      proj_ = std::make_unique<Gemm>(I_, D_, compute_, fused(Epilogue::kResidual), proj_bias_ && !int8, ls && !int8,
                                     prepack, rows);
    }
    fc1_ = std::make_unique<Gemm>(D_, hidden_, compute_, fused(Epilogue::kAct), fc_bias_ && !int8, false, prepack, rows,
                                  eltwise_act(b0.act));
    fc2_ = std::make_unique<Gemm>(hidden_, D_, compute_, fused(Epilogue::kResidual), fc_bias_ && !int8, ls && !int8,
                                  prepack, rows);
    act_ = b0.act;
    attention_ = std::make_unique<AttentionCore>(b0.heads, b0.head_dim, static_cast<float>(b0.scale),
                                                 dnnl_type(attention_dtype_), fused_attention);
    head_dim_ = b0.head_dim;
    for (auto& b : blocks) {
      TORCH_CHECK(b.dim() == D_ && b.inner() == I_ && b.fc1.weight.size(0) == hidden_ && b.proj.defined() == has_proj_ &&
                      b.q_norm.defined() == qk_norm_ && b.ls1.defined() == ls && b.qkv.bias.defined() == qkv_bias &&
                      b.heads == b0.heads && b.scale == b0.scale && b.act == b0.act &&
                      (b.proj.defined() && b.proj.bias.defined()) == proj_bias_ && b.fc1.bias.defined() == fc_bias_ &&
                      b.fc2.bias.defined() == fc_bias_ && b.attn_bias.defined() == has_bias_,
                  "[InferenceModel] the oneDNN backend needs blocks of one shape");
      Block out;
      out.norm1 = Norm(b.norm1);
      out.norm2 = Norm(b.norm2);
      out.q_norm = Norm(b.q_norm);
      out.k_norm = Norm(b.k_norm);
      out.qkv = weights(*qkv_, b.qkv.weight, out.keep[0], out.qkv_scale);
      if (qkv_bias) out.qkv_bias = b.qkv.bias.to(torch::kFloat32).contiguous();
      if (has_proj_) {
        out.proj = weights(*proj_, b.proj.weight, out.keep[1], out.proj_scale);
        if (proj_bias_) out.proj_bias = b.proj.bias.to(torch::kFloat32).contiguous();
      }
      out.fc1 = weights(*fc1_, b.fc1.weight, out.keep[2], out.fc1_scale);
      if (fc_bias_) out.fc1_bias = b.fc1.bias.to(torch::kFloat32).contiguous();
      out.fc2 = weights(*fc2_, b.fc2.weight, out.keep[3], out.fc2_scale);
      if (fc_bias_) out.fc2_bias = b.fc2.bias.to(torch::kFloat32).contiguous();
      if (ls) {
        out.ls1 = b.ls1.to(torch::kFloat32).contiguous();
        out.ls2 = b.ls2.to(torch::kFloat32).contiguous();
      }
      if (has_bias_) out.attn_bias = b.attn_bias.to(attention_dtype_).contiguous();
      blocks_.push_back(std::move(out));
      if (release) {  // only weights the engine holds its own copy of (packed, or quantised)
        const std::pair<BlockWeights::Linear*, const Gemm*> layers[] = {
            {&b.qkv, qkv_.get()}, {&b.proj, proj_.get()}, {&b.fc1, fc1_.get()}, {&b.fc2, fc2_.get()}};
        for (const auto& [l, gemm] : layers)
          if (l->defined() && gemm && (int8 || gemm->packed())) l->weight.set_(torch::empty({0}, l->weight.options()));
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& tokens, int64_t last_rows) const override {
    TORCH_CHECK(tokens.device().is_cpu() && tokens.dim() == 3 && tokens.size(2) == D_,
                "[InferenceModel] expected CPU tokens (B, N, ", D_, "), got ", tokens.sizes(), " on ", tokens.device());
    const int64_t B = tokens.size(0), N = tokens.size(1), M = B * N;
    TORCH_CHECK(last_rows >= 1 && last_rows <= N, "[InferenceModel] last_rows ", last_rows, " not in [1, ", N, "]");
    if (int8_) return forward_int8(tokens, last_rows);
    auto x = tokens.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true).contiguous();
    const auto c = torch::TensorOptions().dtype(dtype_);
    auto xn = torch::empty({M, D_}, c);
    auto qkv = torch::empty({M, 3 * I_}, c);
    auto scores = attention_->needs_scores() ? torch::empty({B, head_count(), N, N}, c) : torch::Tensor();
    auto attn = torch::empty({M, I_}, c);
    auto hidden = torch::empty({M, hidden_}, c);
    dnnl::stream stream(cpu_engine());
    float* xs = x.data_ptr<float>();
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto& b = blocks_[i];
      // Every token is a key and value, but after the last block only `last_rows` per image are read:
      // their queries alone go through attention, and the residual stream shrinks to their rows.
      const int64_t Nq = i + 1 == blocks_.size() ? last_rows : N, Mq = B * Nq;
      norm(xs, xn, b.norm1, M);
      qkv_->run(stream, M, xn.data_ptr(), b.qkv, b.qkv_bias.defined() ? b.qkv_bias.data_ptr<float>() : nullptr, nullptr,
                qkv.data_ptr());
      stream.wait();
      if (qk_norm_) norm_qk(qkv, b, M);
      attention_->run(stream, B, N, Nq, qkv.data_ptr(), scores.defined() ? scores.data_ptr() : nullptr, attn.data_ptr(),
                      b.attn_bias);
      if (Nq < N) {
        x = x.view({B, N, D_}).narrow(1, 0, Nq).contiguous().view({Mq, D_});
        xs = x.data_ptr<float>();
      }
      if (has_proj_) {
        proj_->run(stream, Mq, attn.data_ptr(), b.proj, gamma(b.proj_bias), gamma(b.ls1), xs);
        stream.wait();
      } else {
        stream.wait();
        if (dtype_ == torch::kFloat32) add_rows(xs, attn.data_ptr<float>(), Mq * D_);
        else add_rows(xs, attn.data_ptr<c10::BFloat16>(), Mq * D_);
      }
      norm(xs, xn, b.norm2, Mq);
      fc1_->run(stream, Mq, xn.data_ptr(), b.fc1, gamma(b.fc1_bias), nullptr, hidden.data_ptr());
      fc2_->run(stream, Mq, hidden.data_ptr(), b.fc2, gamma(b.fc2_bias), gamma(b.ls2), xs);
      stream.wait();
    }
    return x.view({B, last_rows, D_}).to(tokens.scalar_type());
  }

  /// The int8 forward (see the top of this file): the same steps, with each GEMM's input quantised per
  /// token and its int32 output dequantised by the int8 kernels.
  torch::Tensor forward_int8(const torch::Tensor& tokens, int64_t last_rows) const {
    const int64_t B = tokens.size(0), N = tokens.size(1), M = B * N;
    auto x = tokens.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true).contiguous();
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32), a = torch::TensorOptions().dtype(attention_dtype_);
    auto xn = torch::empty({M, D_}, f32);
    auto q = torch::empty({M, std::max({D_, I_, hidden_})}, torch::kInt8);
    auto q_scales = torch::empty({M}, f32);
    auto acc = torch::empty({M, std::max({3 * I_, D_, hidden_})}, torch::kInt32);
    auto qkv = torch::empty({M, 3 * I_}, a);
    auto scores = attention_->needs_scores() ? torch::empty({B, head_count(), N, N}, a) : torch::Tensor();
    auto attn = torch::empty({M, I_}, a);
    auto hidden = torch::empty({M, hidden_}, f32);
    int8_t* qs = q.data_ptr<int8_t>();
    float* sa = q_scales.data_ptr<float>();
    int32_t* accs = acc.data_ptr<int32_t>();
    dnnl::stream stream(cpu_engine());
    float* xs = x.data_ptr<float>();
    const bool bf16 = attention_dtype_ == torch::kBFloat16;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto& b = blocks_[i];
      const int64_t Nq = i + 1 == blocks_.size() ? last_rows : N, Mq = B * Nq;
      layer_norm_rows(xs, D_, xn.data_ptr<float>(), D_, M, D_, b.norm1.weight.data_ptr<float>(),
                      b.norm1.bias.data_ptr<float>(), b.norm1.eps);
      quantize_rows(xn.data_ptr<float>(), M, D_, qs, sa);
      qkv_->run(stream, M, qs, b.qkv, nullptr, nullptr, accs);
      stream.wait();
      if (bf16) dequantize_rows(accs, M, 3 * I_, sa, b.qkv_scale.data_ptr<float>(), gamma(b.qkv_bias), qkv.data_ptr<c10::BFloat16>());
      else dequantize_rows(accs, M, 3 * I_, sa, b.qkv_scale.data_ptr<float>(), gamma(b.qkv_bias), qkv.data_ptr<float>());
      if (qk_norm_) norm_qk(qkv, b, M);
      attention_->run(stream, B, N, Nq, qkv.data_ptr(), scores.defined() ? scores.data_ptr() : nullptr, attn.data_ptr(),
                      b.attn_bias);
      stream.wait();
      if (Nq < N) {
        x = x.view({B, N, D_}).narrow(1, 0, Nq).contiguous().view({Mq, D_});
        xs = x.data_ptr<float>();
      }
      if (has_proj_) {
        if (bf16) quantize_rows(attn.data_ptr<c10::BFloat16>(), Mq, I_, qs, sa);
        else quantize_rows(attn.data_ptr<float>(), Mq, I_, qs, sa);
        proj_->run(stream, Mq, qs, b.proj, nullptr, nullptr, accs);
        stream.wait();
        dequantize_add_rows(accs, Mq, D_, sa, b.proj_scale.data_ptr<float>(), gamma(b.proj_bias), gamma(b.ls1), xs);
      } else if (bf16) {
        add_rows(xs, attn.data_ptr<c10::BFloat16>(), Mq * D_);
      } else {
        add_rows(xs, attn.data_ptr<float>(), Mq * D_);
      }
      layer_norm_rows(xs, D_, xn.data_ptr<float>(), D_, Mq, D_, b.norm2.weight.data_ptr<float>(),
                      b.norm2.bias.data_ptr<float>(), b.norm2.eps);
      quantize_rows(xn.data_ptr<float>(), Mq, D_, qs, sa);
      fc1_->run(stream, Mq, qs, b.fc1, nullptr, nullptr, accs);
      stream.wait();
      dequantize_activate_quantize_rows(accs, Mq, hidden_, sa, b.fc1_scale.data_ptr<float>(), gamma(b.fc1_bias), act_,
                                        hidden.data_ptr<float>(), qs, sa);
      fc2_->run(stream, Mq, qs, b.fc2, nullptr, nullptr, accs);
      stream.wait();
      dequantize_add_rows(accs, Mq, D_, sa, b.fc2_scale.data_ptr<float>(), gamma(b.fc2_bias), gamma(b.ls2), xs);
    }
    return x.view({B, last_rows, D_}).to(tokens.scalar_type());
  }

 private:
  struct Block {
    Norm norm1, norm2, q_norm, k_norm;
    memory qkv, proj, fc1, fc2;
    torch::Tensor keep[4];  // module tensors the unpacked weight memories point into
    torch::Tensor qkv_bias, proj_bias, fc1_bias, fc2_bias, ls1, ls2;
    torch::Tensor qkv_scale, proj_scale, fc1_scale, fc2_scale;  // int8: per-output-channel weight scales
    torch::Tensor attn_bias;  // (H, N, N) in the attention's dtype, or undefined
  };

  /// A Linear weight as `gemm` reads it; int8 quantises it and sets `scale`.
  memory weights(const Gemm& gemm, const torch::Tensor& w, torch::Tensor& keep, torch::Tensor& scale) const {
    if (!int8_) return gemm.weights(w.to(dtype_), keep);
    auto quantized = quantize_weight(w);
    scale = std::move(quantized.second);
    return gemm.weights(quantized.first, keep);
  }

  int64_t head_count() const { return I_ / head_dim_; }
  /// A float32 vector's data (a LayerScale gamma or a bias), or nullptr when absent.
  static const float* gamma(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

  void norm(const float* x, torch::Tensor& out, const Norm& n, int64_t M) const {
    const float* w = n.weight.data_ptr<float>();
    const float* b = n.bias.data_ptr<float>();
    if (dtype_ == torch::kFloat32) layer_norm_rows(x, D_, out.data_ptr<float>(), D_, M, D_, w, b, n.eps);
    else layer_norm_rows(x, D_, out.data_ptr<c10::BFloat16>(), D_, M, D_, w, b, n.eps);
  }

  // q_norm / k_norm over each head's head_dim values, in place in the qkv buffer: token t's heads are
  // H contiguous rows at t * 3I (q) and t * 3I + I (k). The inner parallel_for runs inline.
  void norm_qk(torch::Tensor& qkv, const Block& b, int64_t M) const {
    const int64_t H = head_count();
    at::parallel_for(0, M, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        for (int part = 0; part < 2; ++part) {
          const Norm& n = part == 0 ? b.q_norm : b.k_norm;
          const float* w = n.weight.data_ptr<float>();
          const float* bias = n.bias.data_ptr<float>();
          const int64_t offset = t * 3 * I_ + part * I_;
          if (attention_dtype_ == torch::kFloat32) {
            float* p = qkv.data_ptr<float>() + offset;
            layer_norm_rows(p, head_dim_, p, head_dim_, H, head_dim_, w, bias, n.eps);
          } else {
            auto* p = qkv.data_ptr<c10::BFloat16>() + offset;
            layer_norm_rows(p, head_dim_, p, head_dim_, H, head_dim_, w, bias, n.eps);
          }
        }
      }
    });
  }

  bool int8_ = false;
  bool has_bias_ = false;  // the blocks add attention biases (relative positions)
  torch::ScalarType dtype_, attention_dtype_;
  dt compute_;
  Activation act_ = Activation::kGelu;
  int64_t D_ = 0, I_ = 0, hidden_ = 0, head_dim_ = 1;
  bool has_proj_ = true, qk_norm_ = false, proj_bias_ = true, fc_bias_ = true;
  std::unique_ptr<Gemm> qkv_, proj_, fc1_, fc2_;
  std::unique_ptr<AttentionCore> attention_;
  std::vector<Block> blocks_;
};

}  // namespace

bool onednn_built() { return true; }

std::unique_ptr<Blocks> make_onednn_blocks(std::vector<BlockWeights> blocks, bool prepack, int64_t rows_hint,
                                           bool release, bool fused_attention, bool int8) {
  return std::make_unique<OneDnnBlocks>(std::move(blocks), prepack, rows_hint, release, fused_attention, int8);
}

double onednn_gemm_gflops(torch::ScalarType dtype, int64_t m, int64_t k, int64_t n, double seconds) {
  const dt type = dnnl_type(dtype);
  const bool int8 = type == dt::s8;  // s8 x s8 -> s32, no bias (as the int8 engine runs it)
  const Gemm gemm(k, n, type, Epilogue::kNone, !int8, false, /*prepack=*/true, m);
  torch::Tensor keep;
  const auto random = [&](int64_t rows, int64_t cols) {
    return int8 ? torch::randint(-127, 128, {rows, cols}).to(dtype) : torch::randn({rows, cols}).to(dtype);
  };
  const memory w = gemm.weights(random(n, k), keep);
  const auto bias = torch::zeros({n});
  const auto src = random(m, k);
  auto dst = torch::empty({m, n}, int8 ? torch::kInt32 : dtype);
  dnnl::stream stream(cpu_engine());
  return gemm_gflops(m, k, n, seconds, [&] {
    gemm.run(stream, m, src.data_ptr(), w, bias.data_ptr<float>(), nullptr, dst.data_ptr());
    stream.wait();
  });
}

}  // namespace vit::detail

#else  // without oneDNN

namespace vit::detail {

bool onednn_built() { return false; }

std::unique_ptr<Blocks> make_onednn_blocks(std::vector<BlockWeights>, bool, int64_t, bool, bool, bool) {
  TORCH_CHECK(false, "[InferenceModel] backend 'onednn' is not available: vitcpp was built without oneDNN "
                     "(install libdnnl-dev and reconfigure)");
}

double onednn_gemm_gflops(torch::ScalarType, int64_t, int64_t, int64_t, double) { return 0.; }

}  // namespace vit::detail

#endif
