#include "vit/eva.h"

#include "vit/init.h"
#include "vit/state_dict.h"
#include "vit/vision_transformer.h"

#include "families.h"
#include "layers.h"

#include <algorithm>
#include <cmath>

namespace vit {

using detail::ends_with;
using detail::has_key;
using detail::make_linear;
using detail::make_norm;
using detail::replace_all;

namespace {

std::array<int64_t, 2> pair(const Size2& s) { return {s->at(0), s->at(1)}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding

RotaryEmbeddingImpl::RotaryEmbeddingImpl(RotaryEmbeddingOptions options_) : options(std::move(options_)) { reset(); }

void RotaryEmbeddingImpl::reset() {
  const auto& o = options;
  check_options(o, "[RotaryEmbedding]");
  TORCH_CHECK(o.dim() % o.num_heads() == 0 && o.head_dim() % 4 == 0, "[RotaryEmbedding] head_dim ", o.dim(), " / ",
              o.num_heads(), " must be a multiple of 4");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_.clear();
  }
  freqs = torch::Tensor();
  if (o.rope_type() == "mixed") {
    freqs = register_parameter("freqs", detail::uninitialised({2, o.depth(), o.num_heads(), o.head_dim() / 2}));
    if (!SkipInitGuard::active()) reset_parameters();
  }
}

void RotaryEmbeddingImpl::reset_parameters() {
  if (!freqs.defined()) return;
  torch::NoGradGuard no_grad;
  // ref: init_random_2d_freqs(head_dim, depth, num_heads, temperature, rotate=True)
  const int64_t hd = options.head_dim();
  const auto mag = 1. / torch::pow(options.temperature(), torch::arange(0, hd, 4, torch::kFloat32) / static_cast<double>(hd));
  const auto angles = torch::rand({options.depth(), options.num_heads(), 1}) * 2 * M_PI;
  const auto fx = torch::cat({mag * torch::cos(angles), mag * torch::cos(angles + M_PI / 2)}, -1);
  const auto fy = torch::cat({mag * torch::sin(angles), mag * torch::sin(angles + M_PI / 2)}, -1);
  freqs.copy_(torch::stack({fx, fy}, 0));
}

void RotaryEmbeddingImpl::truncate(int64_t depth) {
  options.depth(depth);
  if (freqs.defined()) {
    torch::NoGradGuard no_grad;
    freqs.set_data(freqs.narrow(1, 0, depth).clone());
  }
}

torch::Tensor RotaryEmbeddingImpl::compute(std::array<int64_t, 2> grid, const torch::Device& device) const {
  const auto& o = options;
  const int64_t hd = o.head_dim();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const bool xy = o.grid_indexing() == "xy";
  if (o.rope_type() == "cat") {
    // ref: build_rotary_pos_embed(feat_shape, dim=head_dim, in_pixels=False, temperature, ref_feat_shape,
    // grid_offset, grid_indexing): bands 1 / temperature^(i / nb), i < nb = head_dim / 4
    const int64_t nb = hd / 4;
    const auto bands = 1. / torch::pow(o.temperature(), torch::arange(nb, f32) / static_cast<double>(nb));
    std::array<int64_t, 2> shape = grid;
    std::optional<std::array<int64_t, 2>> ref;
    if (o.ref_feat_shape()) ref = pair(*o.ref_feat_shape());
    if (xy) {  // ref: swap_shape_xy of both shapes
      std::swap(shape[0], shape[1]);
      if (ref) std::swap((*ref)[0], (*ref)[1]);
    }
    std::vector<torch::Tensor> t;
    for (int i = 0; i < 2; ++i) {
      auto ti = torch::arange(shape[i], f32) + o.grid_offset();
      if (ref) ti = ti / static_cast<double>(shape[i]) * static_cast<double>((*ref)[i]);  // ref: t / f * r
      t.push_back(ti);
    }
    const auto mesh = torch::meshgrid(t, xy ? "xy" : "ij");
    const auto pos = torch::stack(mesh, -1).unsqueeze(-1) * bands;  // (.., .., 2, nb)
    const int64_t n = grid[0] * grid[1];
    const auto sin = pos.sin().reshape({n, -1}).repeat_interleave(2, -1);
    const auto cos = pos.cos().reshape({n, -1}).repeat_interleave(2, -1);
    return torch::cat({sin, cos}, -1);
  }
  if (o.rope_type() == "dinov3") {
    // ref: RotaryEmbeddingDinoV3: periods temperature^(2i / (head_dim / 2)), i < head_dim / 4; coordinates
    // of the patch centres normalised by the grid's height and width to [-1, 1]; tiled (half) layout
    const int64_t d4 = hd / 4;
    const auto periods = torch::pow(o.temperature(), 2. * torch::arange(d4, f32) / static_cast<double>(hd / 2));
    const auto ch = (torch::arange(0.5, static_cast<double>(grid[0]), f32)) / static_cast<double>(grid[0]);
    const auto cw = (torch::arange(0.5, static_cast<double>(grid[1]), f32)) / static_cast<double>(grid[1]);
    auto coords = torch::stack(torch::meshgrid({ch, cw}, "ij"), -1).flatten(0, 1);
    coords = 2.0 * coords - 1.0;
    const auto angles = (2 * M_PI * coords.unsqueeze(-1) / periods).flatten(1).tile({2});
    return torch::cat({angles.sin(), angles.cos()}, -1);
  }
  // ref: RotaryEmbeddingMixed.get_embed: positions of the grid (meshgrid per grid_indexing) times the
  // learned frequencies of every block and head
  std::array<int64_t, 2> shape = grid;
  if (xy) std::swap(shape[0], shape[1]);
  const auto mesh = torch::meshgrid({torch::arange(shape[0], f32), torch::arange(shape[1], f32)}, xy ? "xy" : "ij");
  const auto tx = mesh[0].flatten(), ty = mesh[1].flatten();
  const auto f = freqs.to(torch::kFloat32);
  const auto combined = tx.unsqueeze(-1) * f[0].unsqueeze(-2) + ty.unsqueeze(-1) * f[1].unsqueeze(-2);
  return torch::cat({combined.sin().repeat_interleave(2, -1), combined.cos().repeat_interleave(2, -1)}, -1).to(freqs.scalar_type());
}

torch::Tensor RotaryEmbeddingImpl::get_embed(std::array<int64_t, 2> grid, const torch::Tensor& like) {
  const auto device = freqs.defined() ? freqs.device() : like.device();
  if (freqs.defined()) return compute(grid, device);  // learned: follows the parameter (and its gradient)
  const auto key = std::to_string(grid[0]) + "," + std::to_string(grid[1]) + "," + device.str();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    if (cache_.size() >= 64) cache_.clear();  // many input sizes: keep the memory bounded
    torch::NoGradGuard no_grad;
    it = cache_.emplace(key, compute(grid, device)).first;
  }
  return it->second;
}

void RotaryEmbeddingImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::RotaryEmbedding", options);
}

torch::Tensor apply_rotary_embedding(const torch::Tensor& x, const torch::Tensor& table, bool half) {
  const int64_t d = x.size(-1);
  TORCH_CHECK(table.size(-1) == 2 * d && table.size(-2) == x.size(-2), "[rotary embedding] a table ", table.sizes(),
              " does not fit tokens ", x.sizes());
  const auto sin = table.narrow(-1, 0, d), cos = table.narrow(-1, d, d);
  torch::Tensor rotated;
  if (half) {  // ref: rope_rotate_half: [-x2, x1]
    const auto halves = x.chunk(2, -1);
    rotated = torch::cat({-halves[1], halves[0]}, -1);
  } else {  // ref: rot: stack([-x[..., 1::2], x[..., ::2]], -1).reshape(x.shape)
    using torch::indexing::Slice;
    using torch::indexing::Ellipsis;
    rotated = torch::stack({-x.index({Ellipsis, Slice(1, torch::indexing::None, 2)}),
                            x.index({Ellipsis, Slice(0, torch::indexing::None, 2)})}, -1)
                  .reshape(x.sizes());
  }
  return (x * cos + rotated * sin).to(x.scalar_type());
}

// ---------------------------------------------------------------------------------------------
// EvaAttention

EvaAttentionImpl::EvaAttentionImpl(EvaAttentionOptions options_) : options(std::move(options_)) { reset(); }

void EvaAttentionImpl::reset() {
  const auto& o = options;
  check_options(o, "[EvaAttention]");
  TORCH_CHECK(o.dim() % o.num_heads() == 0, "[EvaAttention] dim ", o.dim(), " is not divisible by num_heads ", o.num_heads());
  const int64_t D = o.dim();
  const bool eva = o.attn_type() == "eva";
  q_bias = v_bias = torch::Tensor();
  qkv = q_proj = k_proj = v_proj = nullptr;
  // ref: EvaAttention / AttentionRope __init__, in their order
  if (o.qkv_fused()) {
    qkv = register_module("qkv", make_linear(D, 3 * D, o.qkv_bias() && !eva));
    if (eva && o.qkv_bias()) {  // k's bias is a constant zero (not a parameter)
      q_bias = register_parameter("q_bias", detail::tokens({D}));
      v_bias = register_parameter("v_bias", detail::tokens({D}));
    }
  } else {
    TORCH_CHECK(!o.rel_pos_window(), "[EvaAttention] a relative position bias needs qkv_fused");
    q_proj = register_module("q_proj", make_linear(D, D, o.qkv_bias()));
    k_proj = register_module("k_proj", make_linear(D, D, o.qkv_bias() && !eva));
    v_proj = register_module("v_proj", make_linear(D, D, o.qkv_bias()));
  }
  relative_position_bias_table = torch::Tensor();
  if (o.rel_pos_window()) {  // ref: BEiT's Attention: relative_position_bias_table (num_relative_distance, num_heads)
    TORCH_CHECK(o.num_prefix_tokens() == 1, "[EvaAttention] BEiT's relative position bias needs one prefix token "
                "(the class token), got num_prefix_tokens ", o.num_prefix_tokens());
    const std::array<int64_t, 2> window{(*o.rel_pos_window())->at(0), (*o.rel_pos_window())->at(1)};
    relative_position_bias_table = register_parameter(
        "relative_position_bias_table", detail::tokens({relative_position_table_size(window, true), o.num_heads()}));
  }
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  norm = o.scale_norm() ? register_module("norm", make_norm(D, o.norm_layer(), o.norm_eps())) : nullptr;
  proj = register_module("proj", make_linear(D, D));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(o.proj_drop()));
}

torch::Tensor EvaAttentionImpl::bias(const torch::Tensor& shared) const {
  if (!relative_position_bias_table.defined()) return shared;
  const auto& w = *options.rel_pos_window();
  auto own = relative_position_bias(relative_position_bias_table, {w->at(0), w->at(1)}, true);
  return shared.defined() ? own + shared : own;
}

torch::Tensor EvaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& rope, torch::Tensor* probs,
                                        const torch::Tensor& attn_bias) {
  const auto& o = options;
  TORCH_CHECK(x.dim() == 3 && x.size(2) == o.dim(), "[EvaAttention] expected tokens (B, N, ", o.dim(), "), got ", x.sizes());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = o.num_heads();
  torch::Tensor q, k, v;
  if (qkv) {
    torch::Tensor y;
    if (q_bias.defined()) {  // ref: F.linear(x, qkv.weight, cat(q_bias, k_bias = 0, v_bias))
      y = torch::nn::functional::linear(x, qkv->weight, torch::cat({q_bias, torch::zeros_like(q_bias), v_bias}));
    } else {
      y = qkv(x);
    }
    const auto parts = y.reshape({B, N, 3, H, -1}).permute({2, 0, 3, 1, 4}).unbind(0);
    q = parts[0], k = parts[1], v = parts[2];
  } else {
    q = q_proj(x).reshape({B, N, H, -1}).transpose(1, 2);
    k = k_proj(x).reshape({B, N, H, -1}).transpose(1, 2);
    v = v_proj(x).reshape({B, N, H, -1}).transpose(1, 2);
  }
  if (rope.defined()) {  // ref: the prefix tokens stay as they are; the patches rotate
    const int64_t npt = o.num_prefix_tokens();
    TORCH_CHECK(N >= npt, "[EvaAttention] ", N, " tokens, fewer than the ", npt, " prefix tokens");
    const auto rotate = [&](const torch::Tensor& t) {
      return torch::cat({t.narrow(2, 0, npt), apply_rotary_embedding(t.narrow(2, npt, N - npt), rope, o.rotate_half())}, 2)
          .to(v.scalar_type());
    };
    q = rotate(q);
    k = rotate(k);
  }
  const double scale = std::pow(static_cast<double>(o.head_dim()), -0.5);
  const auto b = bias(attn_bias);
  TORCH_CHECK(!b.defined() || b.size(-1) == N, "[EvaAttention] the relative position bias is for ", b.size(-1),
              " tokens, got ", N, " (the model's input size is fixed)");
  auto y = scaled_attention(q, k, v, scale, &attn_drop, probs, b).transpose(1, 2).reshape({B, N, C});
  if (norm) y = norm(y);
  return proj_drop(proj(y));
}

void EvaAttentionImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::EvaAttention", options); }

// ---------------------------------------------------------------------------------------------
// EvaBlock

EvaAttentionOptions EvaBlockOptions::attention() const {
  return EvaAttentionOptions(dim())
      .num_heads(num_heads())
      .qkv_bias(qkv_bias())
      .qkv_fused(qkv_fused())
      .attn_type(attn_type())
      .num_prefix_tokens(num_prefix_tokens())
      .attn_drop(attn_drop())
      .proj_drop(proj_drop())
      .scale_norm(scale_attn_inner())
      .norm_layer(norm_layer())
      .norm_eps(norm_eps())
      .rotate_half(rotate_half())
      .rel_pos_window(rel_pos_window());
}

int64_t EvaBlockOptions::mlp_hidden() const {
  auto hidden = static_cast<int64_t>(static_cast<double>(dim()) * mlp_ratio());
  if (mlp_kind() == "swiglu" && swiglu_align_to() > 0) {  // ref: hidden + (-hidden % align_to)
    const int64_t a = swiglu_align_to();
    hidden += (a - hidden % a) % a;
  }
  return hidden;
}

std::string EvaBlockOptions::mlp_kind() const {
  // ref: EvaBlock: SwiGLU (fc1_g, fc1_x) with a norm or alignment, else GluMlp with packed weights
  // (EvaBlockPostNorm: SwiGLU only with scale_mlp)
  if (!swiglu_mlp()) return "mlp";
  return scale_mlp() || (swiglu_align_to() > 0 && !use_post_norm()) ? "swiglu" : "swiglu_packed";
}

EvaBlockImpl::EvaBlockImpl(EvaBlockOptions options_) : options(std::move(options_)) { reset(); }

void EvaBlockImpl::reset() {
  const auto& o = options;
  check_options(o, "[EvaBlock]");
  TORCH_CHECK(o.dim() % o.num_heads() == 0, "[EvaBlock] dim ", o.dim(), " is not divisible by num_heads ", o.num_heads());
  const auto kind = o.mlp_kind();
  const int64_t hidden = o.mlp_hidden();
  auto mlp_options = MlpOptions(o.dim()).drop(o.proj_drop()).scale_norm(o.scale_mlp()).norm_layer(o.norm_layer()).norm_eps(o.norm_eps());
  if (kind == "mlp") mlp_options.hidden_features(hidden).act_layer("gelu");
  else if (kind == "swiglu") mlp_options.hidden_features(hidden).act_layer("silu");
  else mlp_options.hidden_features(2 * hidden).act_layer("silu").gate_last(false);
  const auto make_mlp = [&]() -> std::shared_ptr<MlpLayer> {
    if (kind == "mlp") return std::make_shared<MlpImpl>(mlp_options);
    if (kind == "swiglu") return std::make_shared<SwiGLUImpl>(mlp_options);
    return std::make_shared<GluMlpImpl>(mlp_options);
  };
  gamma_1 = gamma_2 = torch::Tensor();
  norm1 = norm2 = nullptr;
  if (o.use_post_norm()) {  // ref: EvaBlockPostNorm: attn, norm1, drop_path1, mlp, norm2, drop_path2
    attn = register_module("attn", EvaAttention(o.attention()));
    norm1 = register_module("norm1", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
    drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
    mlp = register_module("mlp", make_mlp());
    norm2 = register_module("norm2", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
    drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
    return;
  }
  norm1 = register_module("norm1", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
  attn = register_module("attn", EvaAttention(o.attention()));
  const auto gamma = [&](const char* name) {
    auto t = register_parameter(name, detail::uninitialised({o.dim()}));
    if (!SkipInitGuard::active()) {
      torch::NoGradGuard no_grad;
      t.fill_(*o.init_values());
    }
    return t;
  };
  if (o.init_values()) gamma_1 = gamma("gamma_1");
  drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
  norm2 = register_module("norm2", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
  mlp = register_module("mlp", make_mlp());
  if (o.init_values()) gamma_2 = gamma("gamma_2");
  drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
}

torch::Tensor EvaBlockImpl::forward(torch::Tensor x, const torch::Tensor& rope, torch::Tensor* probs,
                                    const torch::Tensor& attn_bias) {
  if (options.use_post_norm()) {
    x = x + drop_path1(norm1(attn(x, rope, probs, attn_bias)));
    return x + drop_path2(norm2(mlp->forward(x)));
  }
  auto y = attn(norm1(x), rope, probs, attn_bias);
  x = x + drop_path1(gamma_1.defined() ? gamma_1 * y : y);
  y = mlp->forward(norm2(x));
  return x + drop_path2(gamma_2.defined() ? gamma_2 * y : y);
}

std::string EvaBlockImpl::engine_unsupported() const {
  // The engines run LayerNorms, one qkv Linear, no attention or MLP norm, and a GELU Mlp.
  const auto& o = options;
  if (o.use_post_norm()) return "use_post_norm";
  if (!o.qkv_fused()) return "qkv_fused false";
  if (o.mlp_kind() != "mlp") return "swiglu_mlp";
  if (o.scale_attn_inner() || o.scale_mlp()) return "scale_attn_inner / scale_mlp";
  if (o.norm_layer() != "layernorm") return "norm_layer 'rmsnorm'";
  return "";
}

std::optional<BlockWeights> EvaBlockImpl::weights() const {
  if (!engine_unsupported().empty()) return std::nullopt;
  const auto norm = [](const Norm& n) { return BlockWeights::Norm{n->weight, n->bias, n->options.eps()}; };
  const auto* m = mlp->as<MlpImpl>();
  BlockWeights w;
  w.heads = options.num_heads();
  w.head_dim = options.dim() / options.num_heads();
  w.scale = std::pow(static_cast<double>(w.head_dim), -0.5);
  w.norm1 = norm(norm1);
  w.norm2 = norm(norm2);
  torch::NoGradGuard no_grad;
  const auto& a = *attn;
  // ref: qkv_bias = cat(q_bias, k_bias = 0, v_bias)
  w.qkv = {a.qkv->weight, a.q_bias.defined() ? torch::cat({a.q_bias, torch::zeros_like(a.q_bias), a.v_bias}) : a.qkv->bias};
  w.proj = {a.proj->weight, a.proj->bias};
  w.fc1 = {m->fc1->weight, m->fc1->bias};
  w.fc2 = {m->fc2->weight, m->fc2->bias};
  w.act = m->act;
  w.ls1 = gamma_1;
  w.ls2 = gamma_2;
  w.attn_bias = a.bias({});
  return w;
}

void EvaBlockImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::EvaBlock", options); }

// ---------------------------------------------------------------------------------------------
// Eva

EvaBlockOptions EvaOptions::block(double drop_path) const {
  auto block = EvaBlockOptions(embed_dim(), num_heads())
      .qkv_bias(qkv_bias())
      .qkv_fused(qkv_fused())
      .mlp_ratio(mlp_ratio())
      .swiglu_mlp(swiglu_mlp())
      .swiglu_align_to(swiglu_align_to())
      .scale_mlp(scale_mlp())
      .scale_attn_inner(scale_attn_inner())
      .num_prefix_tokens(num_prefix_tokens())
      .attn_type(attn_type())
      .rotate_half(rope_rotate_half())
      .proj_drop(proj_drop_rate())
      .attn_drop(attn_drop_rate())
      .drop_path(drop_path)
      .init_values(use_post_norm() ? std::nullopt : init_values())
      .norm_layer(norm_layer())
      .norm_eps(norm_eps())
      .use_post_norm(use_post_norm());
  if (use_rel_pos_bias()) block.rel_pos_window(rel_pos()->window_size());
  return block;
}

std::optional<RelPosOptions> EvaOptions::rel_pos() const {
  if (!use_rel_pos_bias() && !use_shared_rel_pos_bias()) return std::nullopt;
  // ref: Beit: window_size=patch_embed.grid_size, with the class token's three entries
  const auto& img = *img_size();
  const auto& patch = *patch_size();
  return RelPosOptions()
      .rel_pos_type("bias")
      .window_size({img[0] / patch[0], img[1] / patch[1]})
      .num_heads(num_heads())
      .prefix_tokens(1);
}

AttentionPoolLatentOptions EvaOptions::attn_pool() const {
  // ref: attn_pool_num_heads or num_heads, attn_pool_mlp_ratio or mlp_ratio; the Mlp's GELU
  return AttentionPoolLatentOptions(embed_dim())
      .num_heads(attn_pool_num_heads().value_or(0) > 0 ? *attn_pool_num_heads() : num_heads())
      .mlp_ratio(attn_pool_mlp_ratio().value_or(0.) > 0. ? *attn_pool_mlp_ratio() : mlp_ratio())
      .norm_layer(norm_layer())
      .norm_eps(norm_eps())
      .act_layer("gelu");
}

RotaryEmbeddingOptions EvaOptions::rope() const {
  // ref: Eva's rope_kwargs: grid_offset and ref_feat_shape reach only the 'cat' embedding
  const bool cat = rope_type() == "cat";
  return RotaryEmbeddingOptions()
      .rope_type(rope_type())
      .dim(embed_dim())
      .num_heads(num_heads())
      .depth(depth())
      .temperature(rope_temperature())
      .grid_offset(cat ? rope_grid_offset() : 0.)
      .grid_indexing(rope_grid_indexing())
      .ref_feat_shape(cat ? ref_feat_shape() : std::nullopt);
}

EvaImpl::EvaImpl(EvaOptions options_) : options(std::move(options_)) { reset(); }

void EvaImpl::reset() {
  const auto& o = options;
  const int64_t D = o.embed_dim();
  check_options(o, "[Eva]");
  TORCH_CHECK(D % o.num_heads() == 0, "[Eva] embed_dim ", D, " is not divisible by num_heads ", o.num_heads());
  TORCH_CHECK(!o.use_rot_pos_emb() || (D / o.num_heads()) % 4 == 0, "[Eva] rotary embeddings need a head_dim (",
              D / o.num_heads(), ") that is a multiple of 4");
  if (o.rel_pos()) {
    TORCH_CHECK(o.class_token() && o.num_reg_tokens() == 0, "[Eva] BEiT's relative position bias needs a class token and no register tokens");
    TORCH_CHECK(!o.dynamic_img_size() && !o.dynamic_img_pad() && o.patch_drop_rate() == 0.,
                "[Eva] a relative position bias needs a fixed input size: no dynamic_img_size, dynamic_img_pad or patch_drop_rate");
    TORCH_CHECK(!o.use_rel_pos_bias() || o.qkv_fused(), "[Eva] use_rel_pos_bias needs qkv_fused");
    TORCH_CHECK(!o.use_rot_pos_emb(), "[Eva] a relative position bias (BEiT) and rotary embeddings do not combine");
  }
  // Construction order follows timm's __init__.
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions()
                                                              .img_size(o.img_size())
                                                              .patch_size(o.patch_size())
                                                              .in_chans(o.in_chans())
                                                              .embed_dim(D)
                                                              .bias(!o.use_pre_transformer_norm())
                                                              .strict_img_size(!o.dynamic_img_size())
                                                              .dynamic_img_pad(o.dynamic_img_pad())));
  cls_token = o.class_token() ? register_parameter("cls_token", detail::tokens({1, 1, D})) : torch::Tensor();
  reg_token = o.num_reg_tokens() > 0 ? register_parameter("reg_token", detail::tokens({1, o.num_reg_tokens(), D})) : torch::Tensor();
  const int64_t pos_tokens = num_patches() + (o.no_embed_class() ? 0 : num_prefix_tokens());
  pos_embed = o.use_abs_pos_emb() ? register_parameter("pos_embed", detail::tokens({1, pos_tokens, D})) : torch::Tensor();
  pos_drop = register_module("pos_drop", torch::nn::Dropout(o.pos_drop_rate()));
  rope = o.use_rot_pos_emb() ? register_module("rope", RotaryEmbedding(o.rope())) : nullptr;
  norm_pre = o.use_pre_transformer_norm() ? register_module("norm_pre", make_norm(D, o.norm_layer(), o.norm_eps())) : nullptr;
  rel_pos_bias = o.use_shared_rel_pos_bias() ? register_module("rel_pos_bias", RelPosBias(*o.rel_pos())) : nullptr;
  const auto dpr = torch::linspace(0., o.drop_path_rate(), o.depth(), torch::kFloat32);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth(); ++i) blocks->push_back(EvaBlock(o.block(dpr[i].item<double>())));
  norm = o.post_norm_active() ? register_module("norm", make_norm(D, o.norm_layer(), o.norm_eps())) : nullptr;
  attn_pool = nullptr;
  if (o.global_pool() == "map") {
    const auto pool = o.attn_pool();
    TORCH_CHECK(D % pool.num_heads() == 0, "[Eva] embed_dim ", D, " is not divisible by attn_pool_num_heads ", pool.num_heads());
    attn_pool = register_module("attn_pool", AttentionPoolLatent(pool));
  }
  fc_norm = o.fc_norm_active() ? register_module("fc_norm", make_norm(D, o.norm_layer(), o.norm_eps())) : nullptr;
  head_drop = register_module("head_drop", torch::nn::Dropout(o.drop_rate()));
  head = o.num_classes() > 0 ? register_module("head", make_linear(D, o.num_classes())) : nullptr;
  if (!SkipInitGuard::active()) reset_parameters();
}

void EvaImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // ref: init_weights: Linear weights trunc_normal(.02), biases zero; pos_embed, cls_token, reg_token
  // trunc_normal(.02); fix_init_weight; the head scaled by head_init_scale 0.001
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0., .02);
      if (linear->bias.defined()) linear->bias.zero_();
    }
  }
  for (int64_t i = 0; i < num_blocks(); ++i) {
    auto& b = block(i);
    if (b.attn->q_bias.defined()) {
      b.attn->q_bias.zero_();
      b.attn->v_bias.zero_();
    }
  }
  if (pos_embed.defined()) trunc_normal_(pos_embed, 0., .02);
  if (cls_token.defined()) trunc_normal_(cls_token, 0., .02);
  if (reg_token.defined()) trunc_normal_(reg_token, 0., .02);
  for (int64_t i = 0; i < num_blocks(); ++i) {
    auto& b = block(i);
    const double scale = std::sqrt(2.0 * static_cast<double>(i + 1));
    b.attn->proj->weight.div_(scale);
    if (auto* m = b.mlp->as<MlpImpl>()) m->fc2->weight.div_(scale);
    if (auto* m = b.mlp->as<GluMlpImpl>()) m->fc2->weight.div_(scale);
    if (auto* m = b.mlp->as<SwiGLUImpl>()) m->fc2->weight.div_(scale);
  }
  if (head) {
    head->weight.mul_(0.001);
    head->bias.mul_(0.001);
  }
}

EvaBlockImpl& EvaImpl::block(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < num_blocks(), "[Eva] block ", index, " out of range [0, ", num_blocks(), ")");
  return *blocks->ptr(static_cast<size_t>(index))->as<EvaBlock>();
}

Embedded EvaImpl::forward_embed(const torch::Tensor& images) {
  auto x = patch_embed(images);
  const int64_t B = x.size(0);
  BlockContext context;
  const auto grid = context.grid = feat_size(images.size(2), images.size(3));
  auto pos = pos_embed;
  if (pos.defined() && options.dynamic_img_size())  // ref: _pos_embed: resample_abs_pos_embed to (H, W)
    pos = resample_abs_pos_embed(pos_embed, grid, patch_embed->grid_size(), options.no_embed_class() ? 0 : num_prefix_tokens());
  std::vector<torch::Tensor> tokens;
  if (cls_token.defined()) tokens.push_back(cls_token.expand({B, -1, -1}));
  if (reg_token.defined()) tokens.push_back(reg_token.expand({B, -1, -1}));
  if (options.no_embed_class()) {  // ref: x = x + pos_embed; cat(to_cat + [x])
    tokens.push_back(pos.defined() ? x + pos : x);
    x = torch::cat(tokens, 1);
  } else {  // ref: cat(to_cat + [x]); x = x + pos_embed
    tokens.push_back(x);
    x = torch::cat(tokens, 1);
    if (pos.defined()) x = x + pos;
  }
  x = pos_drop(x);
  if (rope) context.rope = rope->get_embed(grid, x);  // ref: rot_pos_embed = self.rope.get_embed(shape=(H, W))
  if (const auto rel = options.rel_pos()) {
    TORCH_CHECK(grid[0] == rel->window_size()->at(0) && grid[1] == rel->window_size()->at(1), "[Eva] the relative position bias is for a ",
                rel->window_size()->at(0), "x", rel->window_size()->at(1), " patch grid (the model's img_size), got ", grid[0], "x", grid[1]);
    if (rel_pos_bias) context.attn_bias = rel_pos_bias->get_bias();  // ref: rel_pos_bias = self.rel_pos_bias()
  }
  std::tie(x, context.keep) = patch_dropout(x, options.patch_drop_rate(), num_prefix_tokens(), is_training());
  if (context.keep.defined() && context.rope.defined()) {
    // ref: apply_keep_indices_nlc: each image's rows of the table, (B, ..., kept, C); then (depth, B, heads,
    // kept, C) for the per-block tables of 'mixed', else (B, 1, kept, C)
    const auto& keep = context.keep;
    const int64_t B = keep.size(0), kept = keep.size(1), dims = context.rope.dim();
    std::vector<int64_t> index_shape(static_cast<size_t>(dims + 1), 1), table_shape = {B};
    index_shape[0] = B;
    index_shape[static_cast<size_t>(dims - 1)] = kept;
    for (const auto size : context.rope.sizes()) table_shape.push_back(size);
    auto rows_shape = table_shape;
    rows_shape[static_cast<size_t>(dims - 1)] = kept;
    const auto rows = context.rope.unsqueeze(0).expand(table_shape).gather(-2, keep.view(index_shape).expand(rows_shape));
    context.rope = options.rope_type() == "mixed" ? rows.transpose(0, 1) : rows.unsqueeze(1);
  }
  return {norm_pre ? norm_pre(x) : x, context};
}

torch::Tensor EvaImpl::forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                                    torch::Tensor* probs) {
  auto& b = block(index);
  if (!rope) return b.forward(tokens, {}, probs, context.attn_bias);
  check_block_input(tokens, context);
  TORCH_CHECK(context.rope.defined(), "[Eva] forward_block needs the rotary table of the input's grid: the context "
              "forward_embed(images) gives");
  return b.forward(tokens, options.rope_type() == "mixed" ? context.rope[index] : context.rope, probs);
}

torch::Tensor EvaImpl::forward_head(const torch::Tensor& x, bool want_pre_logits) {
  const int64_t prefix = num_prefix_tokens(), needed = head_tokens() > 0 ? 1 : prefix + 1;
  TORCH_CHECK(x.dim() == 3 && x.size(1) >= needed && x.size(2) == options.embed_dim(), "[Eva] forward_head expects tokens (B, N, ",
              options.embed_dim(), ") with N >= ", needed, ", got ", x.sizes());
  // ref: pool(): attn_pool(x) over every token, else global_pool_nlc(x, pool_type, num_prefix_tokens)
  auto pooled = attn_pool ? attn_pool(x) : global_pool_nlc(x, options.global_pool(), prefix);
  if (fc_norm) pooled = fc_norm(pooled);
  pooled = head_drop(pooled);
  if (want_pre_logits || !head) return pooled;
  return head(pooled);
}

torch::Tensor EvaImpl::pool_attention(const torch::Tensor& tokens) {
  if (!attn_pool) return {};
  torch::Tensor probs;
  attn_pool->forward(tokens, &probs);
  return probs.select(2, 0);  // (B, heads, N)
}

std::vector<int64_t> EvaImpl::prune_intermediate_layers(const std::vector<int64_t>& indices, bool prune_norm, bool prune_head) {
  const auto take = take_indices(num_blocks(), indices);
  const int64_t keep = detail::prune_blocks(*this, blocks, take);
  options.depth(keep);
  if (rope) rope->truncate(keep);  // 'mixed': the frequencies of the kept blocks (timm keeps them all)
  if (prune_norm && norm) {
    unregister_module("norm");
    norm = nullptr;
  }
  if (prune_head) {  // ref: attn_pool = None; fc_norm = Identity(); reset_classifier(0, '')
    for (const char* name : {"attn_pool", "fc_norm", "head"})
      if (named_children().contains(name)) unregister_module(name);
    attn_pool = nullptr;
    fc_norm = nullptr;
    head = nullptr;
    options.num_classes(0).global_pool("");
  }
  // The options describe what remains.
  options.use_post_transformer_norm(static_cast<bool>(norm)).use_fc_norm(static_cast<bool>(fc_norm));
  return take;
}

std::array<int64_t, 3> EvaImpl::input_size() const {
  return {options.in_chans(), options.img_size()->at(0), options.img_size()->at(1)};
}

int64_t EvaImpl::count_macs(int64_t height, int64_t width) const {
  const auto& o = options;
  const int64_t P0 = o.patch_size()->at(0), P1 = o.patch_size()->at(1), D = o.embed_dim();
  const auto grid = feat_size(height, width);
  const int64_t N = grid[0] * grid[1], T = N + num_prefix_tokens();
  const auto b = o.block(0.);
  const int64_t H = b.mlp_hidden();
  const auto kind = b.mlp_kind();
  const int64_t mlp = kind == "mlp" ? 2 * T * D * H : 3 * T * D * H;  // SwiGLU: two fc1 (or one of 2H) and fc2
  const int64_t block = T * D * 3 * D + 2 * T * T * D + T * D * D + mlp;
  int64_t macs = N * D * o.in_chans() * P0 * P1 + o.depth() * block;
  if (attn_pool) macs += attn_pool->count_macs(T);
  return macs + D * o.num_classes();
}

std::string EvaImpl::engine_unsupported() const {
  if (rope) return "rotary embeddings (use_rot_pos_emb)";  // BlockWeights has no rotary tables
  return num_blocks() == 0 ? "" : block(0).engine_unsupported();  // every block is built alike
}

std::vector<BlockWeights> EvaImpl::block_weights() const {
  if (!engine_unsupported().empty()) return {};
  torch::NoGradGuard no_grad;
  return detail::collect_block_weights(num_blocks(), [&](int64_t i) -> EvaBlockImpl& { return block(i); },
                                       rel_pos_bias ? rel_pos_bias.ptr()->get_bias() : torch::Tensor());
}

std::set<std::string> EvaImpl::no_weight_decay() const {
  std::set<std::string> out = {"pos_embed", "cls_token", "reg_token"};
  if (rope && rope->freqs.defined()) out.insert("rope.freqs");
  for (const auto& p : named_parameters())  // ref: Beit.no_weight_decay: every relative_position_bias_table
    if (ends_with(p.key(), "relative_position_bias_table")) out.insert(p.key());
  return out;
}

int64_t EvaImpl::layer_id(const std::string& name) const {
  // ref: group_matcher: stem r'^cls_token|reg_token|pos_embed|patch_embed' (BEiT's adds rel_pos_bias), blocks (r'^blocks\.(\d+)', None),
  // (r'^norm', (99999,)); unmatched (rope, attn_pool, fc_norm, head): the last layer
  return detail::block_layer_id(name, {"cls_token", "reg_token", "pos_embed", "patch_embed", "rel_pos_bias"}, num_blocks());
}

void EvaImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Eva", options); }

// ---------------------------------------------------------------------------------------------
// Checkpoints

namespace {

// ref: _convert_pe: Meta's Perception Encoder keys: OpenAI CLIP's layout (detail::convert_openai_clip)
// with LayerScale gammas (ls_1 / ls_2) and an attention pool whose fused in_proj splits into q and kv.
StateDict convert_pe(const StateDict& state, const std::string& prefix) {
  StateDict out;
  for (auto [key, v] : detail::convert_openai_clip(state, prefix)) {
    replace_all(key, "ls_1.gamma", "gamma_1");
    replace_all(key, "ls_2.gamma", "gamma_2");
    if (key.rfind("attn_pool", 0) == 0) {
      replace_all(key, "attn_pool.attn", "attn_pool");
      replace_all(key, "attn_pool.layernorm", "attn_pool.norm");
      replace_all(key, "attn_pool.probe", "attn_pool.latent");
      if (key.rfind("attn_pool.qkv", 0) == 0) {  // the pool's fused in_proj -> q and kv
        const int64_t dim = v.size(0) / 3;
        const std::string kind = ends_with(key, "weight") ? "weight" : "bias";
        out.emplace_back("attn_pool.q." + kind, v.narrow(0, 0, dim));
        out.emplace_back("attn_pool.kv." + kind, v.narrow(0, dim, v.size(0) - dim));
        continue;
      }
    }
    out.emplace_back(key, v);
  }
  return out;
}

// ref: checkpoint_filter_fn's renames that need no model: EVA / EVA02 originals, open_clip towers,
// Meta's PE and DINOv3 to timm's keys (unchanged when already timm's).
void convert_layout(StateDict& state) {
  // ref: checkpoint_filter_fn, the renames that need no model
  if (has_key(state, "visual.conv1.weight")) {
    state = convert_pe(state, "visual.");
    return;
  }
  if (has_key(state, "conv1.weight")) {
    state = convert_pe(state, "");
    return;
  }
  std::string prefix;
  if (has_key(state, "visual.trunk.pos_embed")) prefix = "visual.trunk.";
  else if (has_key(state, "visual.pos_embed")) prefix = "visual.";
  const bool dinov3 = has_key(state, "storage_tokens");
  const bool mim = !dinov3 && has_key(state, prefix + "mask_token");
  const bool no_qkv = has_key(state, prefix + "blocks.0.attn.q_proj.weight");
  StateDict out;
  for (const auto& [name, tensor] : state) {
    if (name.rfind(prefix, 0) != 0) continue;
    auto key = name.substr(prefix.size());
    if (key.find("rope") != std::string::npos && key != "rope.freqs") continue;  // fixed tables, computed here
    if (dinov3) {
      if (ends_with(key, ".periods") || ends_with(key, ".bias_mask") || ends_with(key, "mask_token") ||
          key.rfind("projectors.", 0) == 0 || key.rfind("local_cls_norm", 0) == 0)
        continue;
      if (ends_with(key, "qkv.bias")) {  // -> q_bias, v_bias (k's is zero); dropped by models without them
        const auto parts = tensor.chunk(3, -1);
        const auto stem = key.substr(0, key.size() - std::string("qkv.bias").size());
        out.emplace_back(stem + "q_bias", parts[0]);
        out.emplace_back(stem + "v_bias", parts[2]);
        continue;
      }
      replace_all(key, "ls1.gamma", "gamma_1");
      replace_all(key, "ls2.gamma", "gamma_2");
      replace_all(key, "storage_tokens", "reg_token");
    } else if (mim && (key == "mask_token" || key == "lm_head.weight" || key == "lm_head.bias")) {
      continue;  // pretraining only
    } else if (mim && (key == "norm.weight" || key == "norm.bias")) {
      key = "fc_" + key;  // ref: a fine-tune starts its fc_norm from the pretrained norm
    }
    replace_all(key, "mlp.ffn_ln", "mlp.norm");
    replace_all(key, "attn.inner_attn_ln", "attn.norm");
    replace_all(key, "mlp.w12", "mlp.fc1");
    replace_all(key, "mlp.w1", "mlp.fc1_g");
    replace_all(key, "mlp.w2", "mlp.fc1_x");
    replace_all(key, "mlp.w3", "mlp.fc2");
    if (no_qkv) {
      replace_all(key, "q_bias", "q_proj.bias");
      replace_all(key, "v_bias", "v_proj.bias");
    }
    out.emplace_back(key, tensor);
  }
  state = std::move(out);
}

}  // namespace

void EvaImpl::checkpoint_filter_fn(StateDict& state) const {
  convert_layout(state);
  const bool has_qv_bias = num_blocks() > 0 && block(0).attn->q_bias.defined();
  StateDict out;
  for (auto [name, tensor] : state) {
    if (name.find("relative_position_index") != std::string::npos) continue;  // ref: BEiT's buffers, in old checkpoints
    if (ends_with(name, "relative_position_bias_table")) {
      const auto expected = named_parameters(/*recurse=*/true).find(name);
      TORCH_CHECK(!expected || tensor.sizes() == expected->sizes(), "[Eva] ", name, " ", tensor.sizes(),
                  " is for another window than the model's ", expected ? expected->sizes() : at::IntArrayRef{},
                  " (resizing relative position tables is not implemented: load at the checkpoint's img_size)");
    }
    if (!has_qv_bias && (ends_with(name, ".attn.q_bias") || ends_with(name, ".attn.v_bias")) &&
        name.find("_proj") == std::string::npos)
      continue;  // ref: DINOv3's all-zero qkv biases, for a model built without them
    if (name == "patch_embed.proj.weight" && tensor.dim() == 4 && tensor.sizes() != patch_embed->proj->weight.sizes()) {
      const auto& w = patch_embed->proj->weight;
      if (tensor.size(0) == w.size(0) && tensor.size(1) == w.size(1)) tensor = resample_patch_embed(tensor, {w.size(2), w.size(3)});
    } else if (name == "pos_embed" && pos_embed.defined() && tensor.dim() == 3 && tensor.sizes() != pos_embed.sizes()) {
      tensor = resample_abs_pos_embed(tensor, patch_embed->grid_size(), std::nullopt, options.no_embed_class() ? 0 : num_prefix_tokens());
    }
    out.emplace_back(std::move(name), std::move(tensor));
  }
  state = std::move(out);
}

void detail::eva_args_from_weights(const StateDict& weights, Json& args) {
  const WeightsArgs read(weights, args, convert_layout);
  const auto find = [&](const std::string& name) { return read.find(name); };
  const auto set = [&](const char* key, Json value) { read.set(key, std::move(value)); };
  const bool has_blocks = read.has_blocks();
  if (const auto* w = find("head.weight"); w && w->dim() == 2) set("num_classes", w->size(0));
  if (!find("head.weight") && has_blocks) set("num_classes", 0);
  if (const auto* r = find("reg_token"); r && r->dim() == 3) set("num_reg_tokens", r->size(1));
  if (has_blocks && !find("cls_token")) set("class_token", false);
  if (has_blocks && !find("pos_embed")) set("use_abs_pos_emb", false);
  if (find("blocks.0.gamma_1")) set("init_values", 1.0);  // any value: the gammas come from the weights
  if (find("blocks.0.attn.q_proj.weight")) set("qkv_fused", false);
  if (find("attn_pool.latent")) set("global_pool", "map");
  if (find("blocks.0.attn.relative_position_bias_table")) set("use_rel_pos_bias", true);
  if (find("rel_pos_bias.relative_position_bias_table")) set("use_shared_rel_pos_bias", true);
}

int64_t count_parameters(const EvaOptions& o) {
  check_options(o, "[Eva]");
  // In double: a hostile config must not overflow the count that is meant to reject it.
  const double D = static_cast<double>(o.embed_dim()), P = static_cast<double>(o.patch_size()->at(0) * o.patch_size()->at(1));
  const auto cells = [&](int i) { return static_cast<double>(o.img_size()->at(i) / o.patch_size()->at(i)); };
  const double grid = cells(0) * cells(1), prefix = static_cast<double>(o.num_prefix_tokens());
  const double norm = o.norm_layer() == "rmsnorm" ? 1. : 2.;  // parameters per width of one norm
  double n = D * static_cast<double>(o.in_chans()) * P + (o.use_pre_transformer_norm() ? 0. : D);
  n += prefix * D + (o.use_abs_pos_emb() ? (grid + (o.no_embed_class() ? 0. : prefix)) * D : 0.);
  if (o.use_rot_pos_emb() && o.rope_type() == "mixed")
    n += 2. * static_cast<double>(o.depth()) * D / 2.;  // (2, depth, heads, head_dim / 2)
  if (o.use_pre_transformer_norm()) n += norm * D;
  if (const auto rel = o.rel_pos()) {
    n += static_cast<double>(count_parameters(*rel)) *
         ((o.use_rel_pos_bias() ? static_cast<double>(o.depth()) : 0.) + (o.use_shared_rel_pos_bias() ? 1. : 0.));
  }
  const auto b = o.block(0.);
  const double H = static_cast<double>(b.mlp_hidden());
  const bool eva = o.attn_type() == "eva";
  double attn = 3 * D * D + D * D + D;  // q, k, v, proj
  if (o.qkv_bias()) attn += eva ? 2 * D : 3 * D;
  if (o.scale_attn_inner()) attn += norm * D;
  const auto kind = b.mlp_kind();
  double mlp = kind == "mlp" ? 2 * D * H + H + D : 3 * D * H + 2 * H + D;
  if (o.scale_mlp()) mlp += norm * H;
  const double gammas = !o.use_post_norm() && o.init_values() ? 2 * D : 0.;
  n += static_cast<double>(o.depth()) * (2 * norm * D + attn + mlp + gammas);
  if (o.post_norm_active()) n += norm * D;
  if (o.global_pool() == "map") n += static_cast<double>(count_parameters(o.attn_pool()));
  if (o.fc_norm_active()) n += norm * D;
  if (o.num_classes() > 0) n += D * static_cast<double>(o.num_classes()) + static_cast<double>(o.num_classes());
  return n >= 9e18 ? INT64_MAX : static_cast<int64_t>(n);
}

}  // namespace vit
