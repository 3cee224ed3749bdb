#include "vit/vit_blocks.h"

#include "vit/init.h"

#include "layers.h"

#include <cmath>

namespace vit {

using detail::make_linear;

namespace {

Norm make_norm(const BlockOptions& o, int64_t dim) { return detail::make_norm(dim, o.norm_layer(), o.norm_eps()); }

LayerScale make_layer_scale(const BlockOptions& o) { return LayerScale(o.dim(), *o.init_values()); }

// ref: LayerScale(...) if init_values else nn.Identity()
bool has_layer_scale(const BlockOptions& o) { return o.init_values().value_or(0.) != 0.; }

void check_block(const BlockOptions& o, const char* what) {
  check_options(o, what);
  TORCH_CHECK(o.dim() % o.num_heads() == 0, what, " dim ", o.dim(), " is not divisible by num_heads ", o.num_heads());
}

BlockWeights::Norm norm_weights(const Norm& n) {
  if (!n) return {};
  return {n->weight, n->bias, n->options.eps()};
}

BlockWeights::Linear linear_weights(const torch::nn::Linear& l) { return {l->weight, l->bias}; }

}  // namespace

AttentionOptions BlockOptions::attention() const {
  auto out = AttentionOptions(dim())
      .num_heads(num_heads())
      .qkv_bias(qkv_bias())
      .attn_drop(attn_drop())
      .proj_drop(drop())
      .qk_norm(qk_norm())
      .norm_eps(norm_eps())
      .norm_layer(norm_layer())
      .scale_norm(scale_attn_norm())
      .proj_bias(proj_bias())
      .depth(depth());
  out.rel_pos = rel_pos;
  return out;
}

MlpOptions BlockOptions::mlp() const {
  const auto hidden = static_cast<int64_t>(static_cast<double>(dim()) * mlp_ratio());  // ref: int(dim * mlp_ratio)
  return MlpOptions(dim())
      .hidden_features(hidden)
      .drop(drop())
      .act_layer(act_layer())
      .bias(proj_bias())
      .scale_norm(scale_mlp_norm())
      .norm_layer(norm_layer())
      .norm_eps(norm_eps())
      .gate_last(mlp_layer() != "swiglu_packed");
}

std::shared_ptr<AttentionLayer> make_attention(const AttentionOptions& options, const std::string& attn_layer) {
  if (attn_layer == "diff") return std::make_shared<DiffAttentionImpl>(options);
  TORCH_CHECK(attn_layer == "attn", "[make_attention] unknown attn_layer '", attn_layer, "' (attn, diff)");
  return std::make_shared<AttentionImpl>(options);
}

std::shared_ptr<MlpLayer> make_mlp(const MlpOptions& options, const std::string& mlp_layer) {
  if (mlp_layer == "mlp") return std::make_shared<MlpImpl>(options);
  if (mlp_layer == "glu" || mlp_layer == "swiglu_packed") return std::make_shared<GluMlpImpl>(options);
  TORCH_CHECK(mlp_layer == "swiglu", "[make_mlp] unknown mlp_layer '", mlp_layer, "' (mlp, glu, swiglu, swiglu_packed)");
  return std::make_shared<SwiGLUImpl>(options);
}

std::shared_ptr<BlockLayer> make_block(const BlockOptions& options, const std::string& block_fn) {
  if (block_fn == "block") return std::make_shared<BlockImpl>(options);
  if (block_fn == "res_post") return std::make_shared<ResPostBlockImpl>(options);
  if (block_fn == "parallel_scaling") return std::make_shared<ParallelScalingBlockImpl>(options, false);
  if (block_fn == "diff_parallel_scaling") return std::make_shared<ParallelScalingBlockImpl>(options, true);
  TORCH_CHECK(block_fn == "parallel_things", "[make_block] unknown block_fn '", block_fn,
              "' (block, res_post, parallel_scaling, diff_parallel_scaling, parallel_things)");
  return std::make_shared<ParallelThingsBlockImpl>(options);
}

// ---------------------------------------------------------------------------------------------
// Block

BlockImpl::BlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void BlockImpl::reset() {
  const auto& o = options;
  check_block(o, "[Block]");
  norm1 = register_module("norm1", make_norm(o, o.dim()));
  attn = register_module("attn", make_attention(o.attention(), o.attn_layer()));
  ls1 = ls2 = nullptr;
  if (has_layer_scale(o)) ls1 = register_module("ls1", make_layer_scale(o));
  drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
  norm2 = register_module("norm2", make_norm(o, o.dim()));
  mlp = register_module("mlp", make_mlp(o.mlp(), o.mlp_layer()));
  if (has_layer_scale(o)) ls2 = register_module("ls2", make_layer_scale(o));
  drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
}

torch::Tensor BlockImpl::forward(torch::Tensor x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  auto y = attn->forward(norm1(x), probs, attn_bias);
  x = x + drop_path1(ls1 ? ls1(y) : y);
  y = mlp->forward(norm2(x));
  return x + drop_path2(ls2 ? ls2(y) : y);
}

std::string BlockImpl::engine_unsupported() const {
  // The engines run LayerNorms, Attention without an output norm, and Mlp without a hidden norm.
  const auto* a = attn->as<AttentionImpl>();
  const auto* m = mlp->as<MlpImpl>();
  if (!a) return "attn_layer '" + options.attn_layer() + "'";
  if (!m) return "mlp_layer '" + options.mlp_layer() + "'";
  if (norm1->rms() || (a->q_norm && a->q_norm->rms())) return "norm_layer 'rmsnorm'";
  if (a->norm || m->norm) return "scale_attn_norm / scale_mlp_norm";
  return "";
}

std::optional<BlockWeights> BlockImpl::weights() const {
  if (!engine_unsupported().empty()) return std::nullopt;
  const auto* a = attn->as<AttentionImpl>();
  const auto* m = mlp->as<MlpImpl>();
  BlockWeights w;
  w.heads = a->options.num_heads();
  w.head_dim = a->head_dim();
  w.scale = a->scale();
  w.norm1 = norm_weights(norm1);
  w.norm2 = norm_weights(norm2);
  w.q_norm = norm_weights(a->q_norm);
  w.k_norm = norm_weights(a->k_norm);
  w.qkv = linear_weights(a->qkv);
  w.proj = linear_weights(a->proj);
  w.fc1 = linear_weights(m->fc1);
  w.fc2 = linear_weights(m->fc2);
  w.act = activation_from_name(options.act_layer());
  if (ls1) {
    w.ls1 = ls1->gamma;
    w.ls2 = ls2->gamma;
  }
  if (a->rel_pos) {
    torch::NoGradGuard no_grad;
    w.attn_bias = a->rel_pos->get_bias();
  }
  return w;
}

void BlockImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Block", options); }

// ---------------------------------------------------------------------------------------------
// ResPostBlock

ResPostBlockImpl::ResPostBlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void ResPostBlockImpl::reset() {
  const auto& o = options;
  check_block(o, "[ResPostBlock]");
  attn = register_module("attn", make_attention(o.attention(), o.attn_layer()));
  norm1 = register_module("norm1", make_norm(o, o.dim()));
  drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
  mlp = register_module("mlp", make_mlp(o.mlp(), o.mlp_layer()));
  norm2 = register_module("norm2", make_norm(o, o.dim()));
  drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
  if (o.init_values() && !SkipInitGuard::active()) {  // ref: init_weights: norm weights = init_values
    torch::NoGradGuard no_grad;
    norm1->weight.fill_(*o.init_values());
    norm2->weight.fill_(*o.init_values());
  }
}

torch::Tensor ResPostBlockImpl::forward(torch::Tensor x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  x = x + drop_path1(norm1(attn->forward(x, probs, attn_bias)));
  return x + drop_path2(norm2(mlp->forward(x)));
}

void ResPostBlockImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::ResPostBlock", options); }

// ---------------------------------------------------------------------------------------------
// ParallelScalingBlock / DiffParallelScalingBlock

ParallelScalingBlockImpl::ParallelScalingBlockImpl(BlockOptions options_, bool differential_)
    : options(std::move(options_)), differential(differential_) {
  reset();
}

int64_t ParallelScalingBlockImpl::head_dim() const {
  return options.dim() / options.num_heads() / (differential ? 2 : 1);
}

int64_t ParallelScalingBlockImpl::mlp_hidden() const {
  return static_cast<int64_t>(options.mlp_ratio() * static_cast<double>(options.dim()));  // ref: int(mlp_ratio * dim)
}

void ParallelScalingBlockImpl::reset() {
  const auto& o = options;
  const char* what = differential ? "[DiffParallelScalingBlock]" : "[ParallelScalingBlock]";
  check_block(o, what);
  TORCH_CHECK(!o.scale_attn_norm() && !o.scale_mlp_norm(), what, " scale_attn_norm / scale_mlp_norm are not supported");
  TORCH_CHECK(!o.rel_pos, what, " a relative position bias is not supported");
  TORCH_CHECK(!differential || o.dim() % (2 * o.num_heads()) == 0, what, " dim ", o.dim(),
              " is not divisible by 2 * num_heads");
  const int64_t D = o.dim(), hidden = mlp_hidden();
  act = activation_from_name(o.act_layer());
  in_norm = register_module("in_norm", make_norm(o, D));
  in_proj = register_module("in_proj", make_linear(D, hidden + 3 * D, o.qkv_bias()));
  mlp_bias = torch::Tensor();
  if (!o.qkv_bias()) {
    mlp_bias = register_parameter("mlp_bias", SkipInitGuard::active() ? detail::uninitialised({hidden}) : torch::zeros({hidden}));
  }
  q_norm = k_norm = nullptr;
  if (o.qk_norm()) {
    q_norm = register_module("q_norm", make_norm(o, head_dim()));
    k_norm = register_module("k_norm", make_norm(o, head_dim()));
  }
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  sub_norm = nullptr;
  if (differential) {
    lambda_q1 = detail::register_lambda(*this, "lambda_q1", head_dim());
    lambda_k1 = detail::register_lambda(*this, "lambda_k1", head_dim());
    lambda_q2 = detail::register_lambda(*this, "lambda_q2", head_dim());
    lambda_k2 = detail::register_lambda(*this, "lambda_k2", head_dim());
    sub_norm = register_module("sub_norm", detail::make_norm(2 * head_dim(), "rmsnorm", 1e-5));
  }
  mlp_drop = register_module("mlp_drop", torch::nn::Dropout(o.drop()));
  attn_out_proj = mlp_out_proj = out_proj = nullptr;
  if (differential) {
    out_proj = register_module("out_proj", make_linear(D + hidden, D, o.proj_bias()));
  } else {
    attn_out_proj = register_module("attn_out_proj", make_linear(D, D, o.proj_bias()));
    mlp_out_proj = register_module("mlp_out_proj", make_linear(hidden, D, o.proj_bias()));
  }
  // ref: LayerScale(...) if init_values is not None else nn.Identity()
  ls = o.init_values() ? register_module("ls", make_layer_scale(o)) : nullptr;
  drop_path = register_module("drop_path", DropPath(o.drop_path()));
}

torch::Tensor ParallelScalingBlockImpl::forward(torch::Tensor x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  TORCH_CHECK(!attn_bias.defined(), "[ParallelScalingBlock] an attention bias (relative position) is not supported");
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.dim(), "[ParallelScalingBlock] expected tokens (B, N, ", options.dim(),
              "), got ", x.sizes());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = options.num_heads(), d = head_dim();
  const auto parts = in_proj(in_norm(x)).split_with_sizes({mlp_hidden(), C, C, C}, -1);
  auto x_mlp = mlp_bias.defined() ? parts[0] + mlp_bias : parts[0];
  torch::Tensor x_attn;
  if (differential) {
    auto q = parts[1].reshape({B, N, 2 * H, d}).transpose(1, 2);
    auto k = parts[2].reshape({B, N, 2 * H, d}).transpose(1, 2);
    const auto v = parts[3].reshape({B, N, H, 2 * d}).transpose(1, 2);
    if (q_norm) {
      q = q_norm(q);
      k = k_norm(k);
    }
    const double lambda_init = detail::differential_lambda_init(options.depth());
    const auto lambda_full = detail::differential_lambda(lambda_q1, lambda_k1, lambda_q2, lambda_k2, lambda_init);
    x_attn = detail::differential_attention(q, k, v, lambda_full, lambda_init, std::pow(static_cast<double>(d), -0.5),
                                            attn_drop, sub_norm, probs);
  } else {
    auto q = parts[1].reshape({B, N, H, d});
    auto k = parts[2].reshape({B, N, H, d});
    if (q_norm) {
      q = q_norm(q);
      k = k_norm(k);
    }
    const auto v = parts[3].reshape({B, N, H, d}).transpose(1, 2);
    x_attn = scaled_attention(q.transpose(1, 2), k.transpose(1, 2), v, std::pow(static_cast<double>(d), -0.5),
                              &attn_drop, probs);
  }
  x_attn = x_attn.transpose(1, 2).reshape({B, N, C});
  x_mlp = mlp_drop(activate(act, x_mlp));
  auto y = differential ? out_proj(torch::cat({x_attn, x_mlp}, -1)) : attn_out_proj(x_attn) + mlp_out_proj(x_mlp);
  return x + drop_path(ls ? ls(y) : y);
}

void ParallelScalingBlockImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, differential ? "vit::DiffParallelScalingBlock" : "vit::ParallelScalingBlock", options);
}

// ---------------------------------------------------------------------------------------------
// ParallelThingsBlock

ParallelThingsBlockImpl::ParallelThingsBlockImpl(BlockOptions options_, int64_t num_parallel_)
    : options(std::move(options_)), num_parallel(num_parallel_) {
  reset();
}

void ParallelThingsBlockImpl::reset() {
  const auto& o = options;
  check_block(o, "[ParallelThingsBlock]");
  TORCH_CHECK(num_parallel >= 1 && num_parallel <= 64, "[ParallelThingsBlock] num_parallel must be in [1, 64], got ",
              num_parallel);
  auto attn_list = register_module("attns", torch::nn::ModuleList());
  auto ffn_list = register_module("ffns", torch::nn::ModuleList());
  attns.clear();
  ffns.clear();
  for (int64_t i = 0; i < num_parallel; ++i) {
    for (const bool is_attn : {true, false}) {
      auto holder = std::make_shared<torch::nn::Module>("Sequential");
      Branch b;
      b.norm = holder->register_module("norm", make_norm(o, o.dim()));
      if (is_attn) b.attn = holder->register_module("attn", make_attention(o.attention(), o.attn_layer()));
      else b.mlp = holder->register_module("mlp", make_mlp(o.mlp(), o.mlp_layer()));
      if (has_layer_scale(o)) b.ls = holder->register_module("ls", make_layer_scale(o));
      b.drop_path = holder->register_module("drop_path", DropPath(o.drop_path()));
      (is_attn ? attn_list : ffn_list)->push_back(holder);
      (is_attn ? attns : ffns).push_back(std::move(b));
    }
  }
}

torch::Tensor ParallelThingsBlockImpl::forward(torch::Tensor x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  const auto branch = [](Branch& b, const torch::Tensor& y) { return b.drop_path(b.ls ? b.ls(y) : y); };
  std::vector<torch::Tensor> maps;
  torch::Tensor sum;
  for (auto& b : attns) {
    torch::Tensor p;
    auto y = branch(b, b.attn->forward(b.norm(x), probs ? &p : nullptr, attn_bias));
    if (probs) maps.push_back(p);
    sum = sum.defined() ? sum + y : y;
  }
  x = x + sum;
  sum = torch::Tensor();
  for (auto& b : ffns) {
    auto y = branch(b, b.mlp->forward(b.norm(x)));
    sum = sum.defined() ? sum + y : y;
  }
  if (probs) *probs = torch::cat(maps, 1);
  return x + sum;
}

void ParallelThingsBlockImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::ParallelThingsBlock", options);
}

}  // namespace vit
