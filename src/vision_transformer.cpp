#include "vit/vision_transformer.h"

#include "vit/init.h"
#include "vit/state_dict.h"

#include "families.h"
#include "layers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace vit {

using detail::convert_openai_clip;
using detail::ends_with;
using detail::has_key;
using detail::make_linear;
using detail::replace_all;
using detail::strip_prefix;


// ---------------------------------------------------------------------------------------------
// VisionTransformer

VisionTransformerImpl::VisionTransformerImpl(VisionTransformerOptions options_) : options(std::move(options_)) {
  reset();
}

bool VisionTransformerImpl::has_pre_logits() const {
  return options.representation_size().value_or(0) > 0 && !options.distilled();
}

int64_t VisionTransformerImpl::num_features() const {
  return has_pre_logits() ? *options.representation_size() : options.embed_dim();
}

BlockOptions VisionTransformerOptions::block(int64_t index, double drop_path) const {
  auto block = BlockOptions(embed_dim(), num_heads())
      .mlp_ratio(mlp_ratio())
      .qkv_bias(qkv_bias())
      .drop(proj_drop_rate().value_or(drop_rate()))
      .attn_drop(attn_drop_rate())
      .drop_path(drop_path)
      .norm_eps(norm_eps())
      .qk_norm(qk_norm())
      .init_values(init_values())
      .norm_layer(norm_layer())
      .act_layer(act_layer())
      .mlp_layer(mlp_layer())
      .attn_layer(attn_layer())
      .proj_bias(proj_bias())
      .scale_attn_norm(scale_attn_norm())
      .scale_mlp_norm(scale_mlp_norm())
      .depth(index);
  if (!shared_rel_pos()) block.rel_pos = rel_pos();
  return block;
}

std::optional<RelPosOptions> VisionTransformerOptions::rel_pos() const {
  if (rel_pos_type().empty()) return std::nullopt;
  // ref: VisionTransformerRelPos: rel_pos_args = dict(window_size=patch_embed.grid_size, prefix_tokens=num_prefix_tokens)
  const auto& img = *img_size();
  const auto& patch = *patch_size();
  return RelPosOptions()
      .rel_pos_type(rel_pos_type())
      .window_size({img[0] / patch[0], img[1] / patch[1]})
      .num_heads(num_heads())
      .prefix_tokens(num_prefix_tokens())
      .hidden_dim(rel_pos_dim().value_or(0) > 0 ? *rel_pos_dim() : 128);  // ref: if rel_pos_dim: hidden_dim=rel_pos_dim
}

AttentionPoolLatentOptions VisionTransformerOptions::attn_pool() const {
  // ref: AttentionPoolLatent(embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, norm_layer=norm_layer, act_layer=act_layer)
  return AttentionPoolLatentOptions(embed_dim())
      .num_heads(num_heads())
      .mlp_ratio(mlp_ratio())
      .norm_layer(norm_layer())
      .norm_eps(norm_eps())
      .act_layer(act_layer());
}

void VisionTransformerImpl::reset() {
  const auto& o = options;
  const int64_t D = o.embed_dim();
  check_options(o, "[VisionTransformer]");
  TORCH_CHECK(D % o.num_heads() == 0, "[VisionTransformer] embed_dim ", D, " is not divisible by num_heads ", o.num_heads());
  const auto& pool = o.global_pool();
  TORCH_CHECK(o.class_token() || pool != "token", "[VisionTransformer] global_pool 'token' needs class_token");
  TORCH_CHECK(!o.distilled() || (o.class_token() && pool == "token" && o.reg_tokens() == 0 && !o.no_embed_class() &&
                                  !use_fc_norm()),
              "[VisionTransformer] distilled models need class_token, global_pool 'token', no reg_tokens, "
              "no no_embed_class and no fc_norm (as timm's VisionTransformerDistilled)");
  if (!o.rel_pos_type().empty()) {
    TORCH_CHECK(o.num_prefix_tokens() <= 1, "[VisionTransformer] rel_pos_type needs at most one prefix token (a class token), got ",
                o.num_prefix_tokens());
    TORCH_CHECK(!o.dynamic_img_size() && !o.dynamic_img_pad() && o.patch_drop_rate() == 0.,
                "[VisionTransformer] rel_pos_type needs a fixed input size: no dynamic_img_size, dynamic_img_pad or patch_drop_rate");
    TORCH_CHECK(o.block_fn() == "block" || o.block_fn() == "res_post",
                "[VisionTransformer] rel_pos_type needs block_fn 'block' or 'res_post', got '", o.block_fn(), "'");
  }
  const auto norm_of = [&](int64_t dim) { return detail::make_norm(dim, o.norm_layer(), o.norm_eps()); };

  // Construction order follows timm's __init__, so that a seeded build draws the same numbers.
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions()
                                                              .img_size(o.img_size())
                                                              .patch_size(o.patch_size())
                                                              .in_chans(o.in_chans())
                                                              .embed_dim(D)
                                                              .norm_layer(o.embed_norm_layer())
                                                              .norm_eps(o.embed_norm_eps())
                                                              .bias(!o.pre_norm())
                                                              .strict_img_size(!o.dynamic_img_size())
                                                              .dynamic_img_pad(o.dynamic_img_pad())));
  cls_token = o.class_token() ? register_parameter("cls_token", detail::tokens({1, 1, D})) : torch::Tensor();
  dist_token = o.distilled() ? register_parameter("dist_token", detail::tokens({1, 1, D})) : torch::Tensor();
  reg_token = o.reg_tokens() > 0 ? register_parameter("reg_token", detail::tokens({1, o.reg_tokens(), D})) : torch::Tensor();
  const int64_t embed_len = num_patches() + (o.no_embed_class() ? 0 : num_prefix_tokens());
  pos_embed = o.has_pos_embed() ? register_parameter("pos_embed", detail::tokens({1, embed_len, D})) : torch::Tensor();
  pos_drop = register_module("pos_drop", torch::nn::Dropout(o.pos_drop_rate().value_or(o.drop_rate())));
  norm_pre = o.pre_norm() ? register_module("norm_pre", norm_of(D)) : nullptr;
  shared_rel_pos = o.shared_rel_pos() && o.rel_pos() ? register_module("shared_rel_pos", make_rel_pos(*o.rel_pos())) : nullptr;

  // ref: dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)] (float32, as in Python)
  const auto dpr = torch::linspace(0., o.drop_path_rate(), o.depth(), torch::kFloat32);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth(); ++i) blocks->push_back(make_block(o.block(i, dpr[i].item<double>()), o.block_fn()));
  norm = o.final_norm() && !use_fc_norm() ? register_module("norm", norm_of(D)) : nullptr;
  attn_pool = nullptr;
  if (pool == "map") {
    attn_pool = register_module("attn_pool", AttentionPoolLatent(o.attn_pool()));
  }
  fc_norm = o.final_norm() && use_fc_norm() ? register_module("fc_norm", norm_of(D)) : nullptr;
  pre_logits = nullptr;
  if (has_pre_logits()) {
    pre_logits = register_module("pre_logits",
                                 torch::nn::Sequential({{"fc", make_linear(D, num_features())}, {"act", torch::nn::Tanh()}}));
  }
  head = nullptr;
  head_dist = nullptr;
  if (o.num_classes() > 0) {
    head = register_module("head", make_linear(num_features(), o.num_classes()));
    if (o.distilled()) head_dist = register_module("head_dist", make_linear(D, o.num_classes()));
  }
  if (!SkipInitGuard::active()) reset_parameters();
}

void VisionTransformerImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // ref: init_weights(mode=''): pos_embed, dist_token, cls_token, then self.apply(_init_vit_weights)
  if (pos_embed.defined()) trunc_normal_(pos_embed, 0., .02);
  if (dist_token.defined()) trunc_normal_(dist_token, 0., .02);
  if (cls_token.defined()) trunc_normal_(cls_token, 0., .02);
  if (reg_token.defined()) reg_token.normal_(0., 1e-6);  // current timm
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0., .02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* rel = module->as<RelPosBiasImpl>()) {  // ref: RelPosBias.reset_parameters
      trunc_normal_(rel->relative_position_bias_table, 0., .02);
    }
  }
}

BlockLayer& VisionTransformerImpl::block(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < num_blocks(), "[VisionTransformer] block ", index, " out of range [0, ", num_blocks(), ")");
  return *blocks->ptr(static_cast<size_t>(index))->as<BlockLayer>();
}

Embedded VisionTransformerImpl::forward_embed(const torch::Tensor& images) {
  auto x = patch_embed(images);
  const int64_t B = x.size(0);
  BlockContext context;
  context.grid = feat_size(images.size(2), images.size(3));
  auto pos = pos_embed;
  if (pos.defined() && options.dynamic_img_size()) {
    pos = resample_abs_pos_embed(pos_embed, context.grid, patch_embed->grid_size(),
                                 options.no_embed_class() ? 0 : num_prefix_tokens());
  }
  std::vector<torch::Tensor> tokens;
  if (cls_token.defined()) tokens.push_back(cls_token.expand({B, -1, -1}));
  if (dist_token.defined()) tokens.push_back(dist_token.expand({B, -1, -1}));
  if (reg_token.defined()) tokens.push_back(reg_token.expand({B, -1, -1}));
  if (!pos.defined()) {  // ref: pos_embed None: torch.cat(to_cat + [x], dim=1)
    tokens.push_back(x);
    x = torch::cat(tokens, 1);
  } else if (options.no_embed_class()) {  // ref: x = x + pos_embed; x = torch.cat(to_cat + [x], dim=1)
    tokens.push_back(x + pos);
    x = torch::cat(tokens, 1);
  } else {  // ref: x = torch.cat(to_cat + [x], dim=1); x = x + pos_embed
    tokens.push_back(x);
    x = torch::cat(tokens, 1) + pos;
  }
  if (pos.defined()) x = pos_drop(x);
  std::tie(x, context.keep) = patch_dropout(x, options.patch_drop_rate(), num_prefix_tokens(), is_training());
  if (const auto rel = options.rel_pos()) {
    TORCH_CHECK(context.grid[0] == rel->window_size()->at(0) && context.grid[1] == rel->window_size()->at(1),
                "[VisionTransformer] the relative position bias is for a ", rel->window_size()->at(0), "x",
                rel->window_size()->at(1), " patch grid (the model's img_size), got ", context.grid[0], "x", context.grid[1]);
    if (shared_rel_pos) context.attn_bias = shared_rel_pos->get_bias();
  }
  return {norm_pre ? norm_pre(x) : x, context};
}

torch::Tensor VisionTransformerImpl::forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                                                   torch::Tensor* probs) {
  return block(index).forward(tokens, probs, context.attn_bias);
}

torch::Tensor VisionTransformerImpl::forward_norm(const torch::Tensor& tokens) { return norm ? norm(tokens) : tokens; }

torch::Tensor VisionTransformerImpl::forward_head(const torch::Tensor& x, bool want_pre_logits) {
  const int64_t needed = head_tokens() > 0 ? head_tokens() : num_prefix_tokens() + 1;
  TORCH_CHECK(x.dim() == 3 && x.size(1) >= needed && x.size(2) == options.embed_dim(),
              "[VisionTransformer] forward_head expects tokens (B, N, ", options.embed_dim(), ") with N >= ", needed,
              ", got ", x.sizes());
  if (options.distilled()) {
    if (want_pre_logits || !head) return (x.select(1, 0) + x.select(1, 1)) / 2;
    return (head(x.select(1, 0)) + head_dist(x.select(1, 1))) / 2;
  }
  const int64_t skip = options.pool_include_prefix() ? 0 : num_prefix_tokens();
  // ref: pool(): attn_pool(x[:, num_prefix_tokens:]) (all tokens with pool_include_prefix), else global_pool_nlc
  auto pooled = attn_pool ? attn_pool(x.narrow(1, skip, x.size(1) - skip)) : global_pool_nlc(x, options.global_pool(), skip);
  if (fc_norm) pooled = fc_norm(pooled);
  if (pre_logits) pooled = pre_logits->forward(pooled);
  if (want_pre_logits || !head) return pooled;
  return head(pooled);
}

torch::Tensor VisionTransformerImpl::pool_attention(const torch::Tensor& tokens) {
  if (!attn_pool) return {};
  const int64_t skip = options.pool_include_prefix() ? 0 : num_prefix_tokens();
  torch::Tensor probs;
  attn_pool->forward(tokens.narrow(1, skip, tokens.size(1) - skip), &probs);
  probs = probs.select(2, 0);  // (B, heads, N - skip)
  if (skip > 0) probs = torch::cat({torch::zeros({probs.size(0), probs.size(1), skip}, probs.options()), probs}, 2);
  return probs;
}

int64_t VisionTransformerImpl::head_tokens() const {
  if (options.distilled()) return 2;
  return options.global_pool() == "token" ? 1 : 0;
}

DistilledLogits VisionTransformerImpl::forward_distilled(const torch::Tensor& images) {
  TORCH_CHECK(options.distilled(), "[VisionTransformer] forward_distilled needs a distilled model");
  const auto x = forward_features(images);
  DistilledLogits out{x.select(1, 0), x.select(1, 1)};
  if (head) {
    out.cls = head(out.cls);
    out.dist = head_dist(out.dist);
  }
  return out;
}

std::array<int64_t, 3> VisionTransformerImpl::input_size() const {
  return {options.in_chans(), options.img_size()->at(0), options.img_size()->at(1)};
}

int64_t VisionTransformerImpl::count_macs(int64_t height, int64_t width) const {
  const auto& o = options;
  const int64_t P0 = o.patch_size()->at(0), P1 = o.patch_size()->at(1), D = o.embed_dim();
  const auto grid = feat_size(height, width);
  const int64_t N = grid[0] * grid[1], T = N + num_prefix_tokens();
  const auto H = static_cast<int64_t>(static_cast<double>(D) * o.mlp_ratio());
  const int64_t mlp_in = o.mlp_layer() == "swiglu" ? 2 * H : H;  // SwiGLU: two fc1 Linears
  const int64_t mlp_out = o.mlp_layer() == "glu" || o.mlp_layer() == "swiglu_packed" ? H / 2 : H;
  int64_t block = T * D * 3 * D + 2 * T * T * D + T * D * D + T * D * mlp_in + T * mlp_out * D;
  if (o.block_fn() == "parallel_things") block *= 2;
  int64_t macs = N * D * o.in_chans() * P0 * P1 + o.depth() * block;
  if (attn_pool) macs += attn_pool->count_macs(T);
  if (has_pre_logits()) macs += D * num_features();
  return macs + num_features() * o.num_classes() * (o.distilled() ? 2 : 1);
}

std::vector<BlockWeights> VisionTransformerImpl::block_weights() const {
  torch::NoGradGuard no_grad;
  return detail::collect_block_weights(num_blocks(), [&](int64_t i) -> BlockLayer& { return block(i); },
                                       shared_rel_pos ? shared_rel_pos->get_bias() : torch::Tensor());
}

std::string VisionTransformerImpl::engine_unsupported() const {
  return num_blocks() == 0 ? "" : block(0).engine_unsupported();  // every block is built alike
}

std::vector<int64_t> VisionTransformerImpl::prune_intermediate_layers(const std::vector<int64_t>& indices, bool prune_norm,
                                                                      bool prune_head) {
  const auto take = take_indices(num_blocks(), indices);
  options.depth(detail::prune_blocks(*this, blocks, take));
  if (prune_norm && norm) {
    unregister_module("norm");
    norm = nullptr;
  }
  if (prune_head) {  // ref: fc_norm = Identity(); reset_classifier(0, '')
    for (const char* name : {"fc_norm", "attn_pool", "pre_logits", "head", "head_dist"})
      if (named_children().contains(name)) unregister_module(name);
    fc_norm = nullptr;
    attn_pool = nullptr;
    pre_logits = nullptr;
    head = head_dist = nullptr;
    options.num_classes(0).representation_size(std::nullopt);
    if (!options.distilled()) options.global_pool("");
  }
  // The options describe what remains: a final norm only where one is left.
  if (!norm && !fc_norm) options.final_norm(false);
  if (norm) options.fc_norm(false);
  return take;
}

std::set<std::string> VisionTransformerImpl::no_weight_decay() const {
  return {"pos_embed", "cls_token", "dist_token", "reg_token"};
}

std::vector<std::string> VisionTransformerImpl::classifier() const {
  if (options.distilled()) return {"head", "head_dist"};
  return {"head"};
}

int64_t VisionTransformerImpl::layer_id(const std::string& name) const {
  // ref: group_matcher: stem r'^cls_token|reg_token|pos_embed|patch_embed' (deit's adds dist_token),
  // blocks (r'^blocks\.(\d+)', None), (r'^norm', MATCH_PREV_GROUP); unmatched: the last layer
  // (the final norm and norm_pre, as the regex has it, join the last block)
  return detail::block_layer_id(name, {"cls_token", "reg_token", "pos_embed", "patch_embed", "dist_token"}, num_blocks());
}

namespace {

// ref: _convert_dinov2: Meta's DINOv2 keys (w12 / w3 SwiGLU, register_tokens, mask_token).
StateDict convert_dinov2(const StateDict& state) {
  StateDict out;
  const bool registers = has_key(state, "register_tokens");
  torch::Tensor pos;
  for (const auto& [key, v] : state)
    if (key == "pos_embed") pos = v;
  for (auto [key, v] : state) {
    if (key == "mask_token") continue;
    if (registers) {  // to a no_embed_class model: the class token absorbs its position
      if (key == "register_tokens") key = "reg_token";
      else if (key == "cls_token" && pos.defined()) v = v + pos.narrow(1, 0, 1);
      else if (key == "pos_embed") v = v.narrow(1, 1, v.size(1) - 1);
    }
    if (key.rfind("blocks.", 0) == 0) {
      replace_all(key, ".mlp.w12.", ".mlp.fc1.");
      replace_all(key, ".mlp.w3.", ".mlp.fc2.");
    }
    out.emplace_back(key, v);
  }
  return out;
}

// ref: _convert_aimv2
StateDict convert_aimv2(const StateDict& state) {
  static const std::pair<const char*, const char*> swaps[] = {
      {"norm_1", "norm1"}, {"norm_2", "norm2"}, {"preprocessor.patchifier.", "patch_embed."},
      {"preprocessor.pos_embed", "pos_embed"}, {"trunk.", ""}, {"post_trunk_norm.", "norm."},
      {"mlp.fc1", "mlp.fc1_g"}, {"mlp.fc3", "mlp.fc1_x"}};
  StateDict out;
  for (auto [key, v] : state) {
    for (const auto& [from, to] : swaps) replace_all(key, from, to);
    out.emplace_back(key, v);
  }
  return out;
}

// ref: _convert_beit3: the vision branch (A) of a BEiT-3 checkpoint, q/k/v fused.
StateDict convert_beit3(const StateDict& state) {
  static const std::pair<const char*, const char*> swaps[] = {
      {"beit3.", ""}, {"vision_embed.cls_token", "cls_token"}, {"vision_embed.", "patch_embed."},
      {"embed_positions.", "pos_embed."}, {"encoder.", ""}, {"layers.", "blocks."}, {"ffn_layernorm.", "norm."},
      {"ffn.", "mlp."}, {"self_attn_layer_norm.", "norm1."}, {"self_attn.", "attn."}, {"final_layer_norm.", "norm2."},
      {"inner_attn_ln", "norm"}, {"out_proj", "proj"}, {".A.", "."}};
  StateDict out;
  std::map<std::string, std::map<char, torch::Tensor>> qkv;  // "blocks.i.attn.qkv.weight" -> q, k, v
  for (auto [key, v] : state) {
    if (key == "beit3.text_embed.weight" || key == "beit3.vision_embed.mask_token" || key.find(".B.") != std::string::npos)
      continue;
    for (const auto& [from, to] : swaps) replace_all(key, from, to);
    if (key == "pos_embed.weight") {  // the first two positions are BEiT-3's, not the image's
      out.emplace_back("pos_embed", v.narrow(0, 2, v.size(0) - 2).unsqueeze(0));
      continue;
    }
    const auto at = key.find(".attn.");
    if (at != std::string::npos && key.size() > at + 8 && key.compare(at + 7, 6, "_proj.") == 0 &&
        std::string("qkv").find(key[at + 6]) != std::string::npos) {
      const std::string fused = key.substr(0, at) + ".attn.qkv." + key.substr(at + 13);
      auto& parts = qkv[fused];
      parts[key[at + 6]] = v;
      if (parts.size() == 3) out.emplace_back(fused, torch::cat({parts['q'], parts['k'], parts['v']}, 0));
      continue;
    }
    out.emplace_back(key, v);
  }
  return out;
}

}  // namespace

// ref: _convert_openai_clip: OpenAI CLIP / open_clip's visual tower to timm's keys.
StateDict detail::convert_openai_clip(const StateDict& state, const std::string& prefix) {
  static const std::pair<const char*, const char*> swaps[] = {
      {"conv1", "patch_embed.proj"}, {"positional_embedding", "pos_embed"}, {"transformer.resblocks.", "blocks."},
      {"ln_pre", "norm_pre"}, {"ln_post", "norm"}, {"ln_", "norm"}, {"in_proj_", "qkv."}, {"out_proj", "proj"},
      {"mlp.c_fc", "mlp.fc1"}, {"mlp.c_proj", "mlp.fc2"}};
  StateDict out;
  for (auto [key, v] : strip_prefix(state, prefix)) {
    for (const auto& [from, to] : swaps) replace_all(key, from, to);
    if (key == "proj") {  // (width, embed) projection -> the head, without bias
      v = v.t().contiguous();
      out.emplace_back("head.bias", torch::zeros({v.size(0)}, v.options()));
      key = "head.weight";
    } else if (key == "class_embedding") {
      key = "cls_token";
      v = v.reshape({1, 1, -1});
    } else if (key == "pos_embed") {
      v = v.unsqueeze(0);
    }
    out.emplace_back(key, v);
  }
  return out;
}

namespace {

// ref: checkpoint_filter_fn's renames that need no model: other layouts to timm's keys (unchanged when
// already timm's): OpenAI CLIP / open_clip, DINOv2 (Meta), TIPSv2, BEiT-3, AIMv2.
void convert_layout(StateDict& state) {
  // ref: checkpoint_filter_fn's conversions
  const bool any_beit3 = std::any_of(state.begin(), state.end(), [](const auto& kv) { return kv.first.find("beit3.") != std::string::npos; });
  if (has_key(state, "visual.class_embedding")) {
    state = convert_openai_clip(state, "visual.");
  } else if (has_key(state, "module.visual.class_embedding")) {
    state = convert_openai_clip(state, "module.visual.");
  } else if (has_key(state, "mask_token")) {
    state = convert_dinov2(state);
  } else if (has_key(state, "vision_encoder.mask_token")) {  // TIPSv2
    state = convert_dinov2(strip_prefix(state, "vision_encoder."));
  } else if (any_beit3) {
    state = convert_beit3(state);
  } else if (has_key(state, "visual.trunk.pos_embed") || has_key(state, "visual.trunk.blocks.0.norm1.weight")) {
    torch::Tensor proj;  // open_clip with a timm trunk: its head.proj is the model's head
    for (const auto& [key, v] : state)
      if (key == "visual.head.proj.weight") proj = v;
    state = strip_prefix(state, "visual.trunk.");
    if (proj.defined()) {
      state.emplace_back("head.weight", proj);
      state.emplace_back("head.bias", torch::zeros({proj.size(0)}, proj.options()));
    }
  } else if (has_key(state, "module.visual.trunk.pos_embed")) {
    state = strip_prefix(state, "module.visual.trunk.");
  } else if (has_key(state, "preprocessor.patchifier.proj.weight")) {
    state = convert_aimv2(state);
  }
}

}  // namespace

void VisionTransformerImpl::checkpoint_filter_fn(StateDict& state) const {
  convert_layout(state);  // ref: checkpoint_filter_fn: other layouts first ...
  // ... then each tensor to this model's shapes.
  StateDict out;
  for (auto [name, tensor] : state) {
    if (name == "patch_embed.proj.weight" && tensor.sizes() != patch_embed->proj->weight.sizes()) {
      const auto& w = patch_embed->proj->weight;
      if (auto converted = convert_patch_weight(tensor, w); converted.defined()) {
        tensor = converted;
      } else if (tensor.dim() == 4 && tensor.size(0) == w.size(0) && tensor.size(1) == w.size(1)) {
        tensor = resample_patch_embed(tensor, {w.size(2), w.size(3)});  // FlexiViT
      }
    } else if (name == "pos_embed" && pos_embed.defined() && tensor.dim() == 3 && tensor.sizes() != pos_embed.sizes()) {
      tensor = resample_abs_pos_embed(tensor, patch_embed->grid_size(), std::nullopt,
                                      options.no_embed_class() ? 0 : num_prefix_tokens());
    } else if (name.find(".gamma_") != std::string::npos && name.size() > 2 && std::isdigit(name.back())) {
      name = name.substr(0, name.rfind(".gamma_")) + ".ls" + name.back() + ".gamma";  // DeiT-3's gamma_1 -> ls1.gamma
    } else if (name.rfind("pre_logits.", 0) == 0 && !pre_logits) {
      continue;  // current timm: the representation layer is not used
    }
    out.emplace_back(std::move(name), std::move(tensor));
  }
  state = std::move(out);
}

void VisionTransformerImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::VisionTransformer", options);
}

int64_t count_parameters(const VisionTransformerOptions& o) {
  check_options(o, "[VisionTransformer]");
  // In double: a hostile config must not overflow the count that is meant to reject it.
  const double D = static_cast<double>(o.embed_dim()), P = static_cast<double>(o.patch_size()->at(0) * o.patch_size()->at(1));
  const auto cells = [&](int i) { return static_cast<double>(o.img_size()->at(i) / o.patch_size()->at(i)); };
  const double grid = cells(0) * cells(1);
  const double prefix = (o.class_token() ? 1 : 0) + (o.distilled() ? 1 : 0) + static_cast<double>(o.reg_tokens());
  const double H = std::floor(D * o.mlp_ratio()), heads = static_cast<double>(o.num_heads());
  const bool pre_logits = o.representation_size().value_or(0) > 0 && !o.distilled();
  const double features = pre_logits ? static_cast<double>(*o.representation_size()) : D;
  const double K = static_cast<double>(o.num_classes());
  const double norm = o.norm_layer() == "rmsnorm" ? 1. : 2.;  // parameters per width of one norm
  const auto norm_params = [](const std::string& kind, double width) { return (kind == "rmsnorm" ? 1. : 2.) * width; };
  const double bias = o.proj_bias() ? 1. : 0.;
  double n = D * static_cast<double>(o.in_chans()) * P + (o.pre_norm() ? 0. : D);  // patch projection
  if (!o.embed_norm_layer().empty()) n += norm_params(o.embed_norm_layer(), D);
  n += prefix * D + (o.has_pos_embed() ? (grid + (o.no_embed_class() ? 0. : prefix)) * D : 0.);  // tokens, pos_embed
  n += o.pre_norm() ? norm * D : 0.;
  // One attention layer and one MLP of a block.
  const bool diff = o.attn_layer() == "diff";
  const double head_dim = std::floor(D / heads) / (diff ? 2. : 1.);
  double attn = 3 * D * D + (o.qkv_bias() ? 3 * D : 0.) + D * D + bias * D;
  if (o.qk_norm()) attn += 2 * norm * std::floor(head_dim);
  if (o.scale_attn_norm()) attn += norm * D;
  if (diff) attn += 4 * std::floor(head_dim) + 2 * std::floor(head_dim);  // lambdas, sub_norm (RmsNorm(2 head_dim))
  double mlp = 0.;
  const auto& m = o.mlp_layer();
  if (m == "mlp") mlp = D * H + bias * H + H * D + bias * D + (o.scale_mlp_norm() ? norm * H : 0.);
  else if (m == "swiglu") mlp = 2 * (D * H + bias * H) + H * D + bias * D + (o.scale_mlp_norm() ? norm * H : 0.);
  else mlp = D * H + bias * H + std::floor(H / 2) * D + bias * D + (o.scale_mlp_norm() ? norm * std::floor(H / 2) : 0.);
  const bool layer_scale = o.init_values().value_or(0.) != 0.;
  double block = 0.;
  const auto& fn = o.block_fn();
  if (fn == "block" || fn == "res_post") {
    block = 2 * norm * D + attn + mlp + (layer_scale && fn == "block" ? 2 * D : 0.);
  } else if (fn == "parallel_things") {
    block = 2 * (2 * norm * D + attn + mlp + (layer_scale ? 2 * D : 0.));
  } else {  // parallel_scaling, diff_parallel_scaling
    const bool dps = fn == "diff_parallel_scaling";
    const double hd = std::floor(D / heads) / (dps ? 2. : 1.);
    block = norm * D + D * (H + 3 * D) + (o.qkv_bias() ? H + 3 * D : H);  // in_norm, in_proj, its bias or mlp_bias
    if (o.qk_norm()) block += 2 * norm * std::floor(hd);
    if (dps) block += 4 * std::floor(hd) + 2 * std::floor(hd) + (D + H) * D + bias * D;
    else block += D * D + bias * D + H * D + bias * D;
    if (o.init_values()) block += D;
  }
  n += static_cast<double>(o.depth()) * block;
  if (const auto rel = o.rel_pos()) {
    n += static_cast<double>(count_parameters(*rel)) * (o.shared_rel_pos() ? 1. : static_cast<double>(o.depth()));
  }
  n += o.final_norm() ? norm * D : 0.;  // norm or fc_norm
  if (o.global_pool() == "map") n += static_cast<double>(count_parameters(o.attn_pool()));
  if (pre_logits) n += D * features + features;
  if (K > 0) n += (features * K + K) * (o.distilled() ? 2 : 1);
  return n >= 9e18 ? INT64_MAX : static_cast<int64_t>(n);
}

void detail::vision_transformer_args_from_weights(const StateDict& weights, Json& args) {
  const WeightsArgs read(weights, args, convert_layout);
  const auto find = [&](const std::string& name) { return read.find(name); };
  const auto set = [&](const char* key, Json value) { read.set(key, std::move(value)); };
  const bool has_blocks = read.has_blocks();
  if (const auto* w = find("pre_logits.fc.weight"); w && w->dim() == 2) set("representation_size", w->size(0));
  if ((find("blocks.0.attn.qkv.weight") && !find("blocks.0.attn.qkv.bias")) ||
      (find("blocks.0.in_proj.weight") && !find("blocks.0.in_proj.bias")))
    set("qkv_bias", false);
  if (!find("cls_token")) set("class_token", false);
  if (find("dist_token")) set("distilled", true);
  if (const auto* r = find("reg_token"); r && r->dim() == 3) set("reg_tokens", r->size(1));
  if (find("blocks.0.ls1.gamma") || find("blocks.0.ls.gamma") || find("blocks.0.attns.0.ls.gamma")) set("init_values", 1.0);  // any value: gamma comes from the weights
  if (find("blocks.0.attn.q_norm.weight")) set("qk_norm", true);
  if (find("norm_pre.weight")) set("pre_norm", true);
  for (const std::string rel : {"blocks.0.attn.rel_pos.", "shared_rel_pos."}) {  // timm's relpos ViTs
    if (find(rel + "relative_position_bias_table")) {
      set("rel_pos_type", "bias");
    } else if (const auto* fc1 = find(rel + "mlp.fc1.weight"); fc1 && fc1->dim() == 2) {
      set("rel_pos_type", find(rel + "mlp.fc2.bias") ? "mlp" : "mlp_swin");
      set("rel_pos_dim", fc1->size(0));
    } else {
      continue;
    }
    set("shared_rel_pos", rel[0] == 's');
  }
  if (find("fc_norm.weight") && !find("attn_pool.latent")) set("global_pool", "avg");
  if (!find("norm.weight") && !find("fc_norm.weight") && has_blocks) set("final_norm", false);
  if (find("attn_pool.latent")) set("global_pool", "map");
  if (!find("pos_embed") && has_blocks) set("pos_embed", "none");
  if (find("blocks.0.in_proj.weight")) set("block_fn", find("blocks.0.out_proj.weight") ? "diff_parallel_scaling" : "parallel_scaling");
  if (find("blocks.0.attns.0.norm.weight")) set("block_fn", "parallel_things");
  if (find("blocks.0.attn.lambda_q1")) set("attn_layer", "diff");
  if (find("blocks.0.mlp.fc1_g.weight")) set("mlp_layer", "swiglu");
  if (find("blocks.0.attn.norm.weight")) set("scale_attn_norm", true);
  if (find("blocks.0.mlp.norm.weight")) set("scale_mlp_norm", true);
  if (find("patch_embed.norm.weight")) set("embed_norm_layer", find("patch_embed.norm.bias") ? "layernorm" : "rmsnorm");
  const bool rms = (find("norm.weight") && !find("norm.bias")) || (find("blocks.0.norm1.weight") && !find("blocks.0.norm1.bias")) ||
                   (find("blocks.0.in_norm.weight") && !find("blocks.0.in_norm.bias"));
  if (rms) set("norm_layer", "rmsnorm");
  if ((find("blocks.0.attn.proj.weight") && !find("blocks.0.attn.proj.bias")) ||
      (find("blocks.0.mlp.fc2.weight") && !find("blocks.0.mlp.fc2.bias")))
    set("proj_bias", false);
  if (const auto* w = find("head.weight"); w && w->dim() == 2) set("num_classes", w->size(0));
  if (!find("head.weight") && has_blocks) set("num_classes", 0);
}

torch::Tensor resample_abs_pos_embed(const torch::Tensor& pos_embed, std::array<int64_t, 2> new_size,
                                     std::optional<std::array<int64_t, 2>> old_size, int64_t num_prefix_tokens) {
  TORCH_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "[resample_abs_pos_embed] expected pos_embed (1, N, D), got ",
              pos_embed.sizes());
  const int64_t grid_tokens = pos_embed.size(1) - num_prefix_tokens;
  TORCH_CHECK(num_prefix_tokens >= 0 && grid_tokens > 0, "[resample_abs_pos_embed] pos_embed ", pos_embed.sizes(),
              " has no grid after ", num_prefix_tokens, " prefix tokens");
  if (!old_size) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(grid_tokens))));
    TORCH_CHECK(side * side == grid_tokens, "[resample_abs_pos_embed] ", grid_tokens,
                " grid tokens are not a square; pass old_size");
    old_size = std::array<int64_t, 2>{side, side};
  }
  const auto [oh, ow] = *old_size;
  TORCH_CHECK(oh * ow == grid_tokens, "[resample_abs_pos_embed] old_size ", oh, "x", ow, " does not match ",
              grid_tokens, " grid tokens");
  TORCH_CHECK(new_size[0] > 0 && new_size[1] > 0, "[resample_abs_pos_embed] new_size must be positive");
  if (new_size == *old_size) return pos_embed;
  const int64_t D = pos_embed.size(2);
  const auto prefix = pos_embed.narrow(1, 0, num_prefix_tokens);
  auto grid = pos_embed.narrow(1, num_prefix_tokens, grid_tokens).reshape({1, oh, ow, D}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  grid = F::interpolate(grid.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{new_size[0], new_size[1]})
                                                     .mode(torch::kBicubic)
                                                     .align_corners(false)
                                                     .antialias(true));
  grid = grid.permute({0, 2, 3, 1}).reshape({1, -1, D}).to(pos_embed.scalar_type());
  return torch::cat({prefix, grid}, 1);
}

}  // namespace vit

namespace vit {

torch::Tensor resample_patch_embed(const torch::Tensor& weight, std::array<int64_t, 2> new_size) {
  TORCH_CHECK(weight.dim() == 4, "[resample_patch_embed] expected a weight (out, in, h, w), got ", weight.sizes());
  TORCH_CHECK(new_size[0] > 0 && new_size[1] > 0 && new_size[0] <= 1024 && new_size[1] <= 1024,
              "[resample_patch_embed] new_size must be in [1, 1024], got ", new_size[0], "x", new_size[1]);
  const int64_t oh = weight.size(2), ow = weight.size(3);
  if (oh == new_size[0] && ow == new_size[1]) return weight;
  TORCH_CHECK(oh * ow <= 4096, "[resample_patch_embed] kernels of ", oh, "x", ow, " are too large to resample");
  namespace F = torch::nn::functional;
  // ref: _compute_resize_matrix: every basis kernel resized, (new_total, old_total)
  const auto basis = torch::eye(oh * ow, torch::kFloat32).reshape({oh * ow, 1, oh, ow});
  const auto resized = F::interpolate(basis, F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{new_size[0], new_size[1]})
                                                 .mode(torch::kBicubic)
                                                 .align_corners(false)
                                                 .antialias(true));
  const auto resize = resized.squeeze(1).permute({1, 2, 0}).reshape({new_size[0] * new_size[1], oh * ow});
  const auto pinv = torch::linalg_pinv(resize);  // (old_total, new_total)
  const auto w = weight.reshape({weight.size(0), weight.size(1), -1}).to(torch::kFloat32);
  return torch::matmul(w, pinv.to(w.device())).reshape({weight.size(0), weight.size(1), new_size[0], new_size[1]}).to(weight.scalar_type());
}

}  // namespace vit
