// The zoo: architecture names -> (family, keyword arguments, pretrained_cfg), and the families that
// build them. A new timm name is one line of kZoo; a new model class is one Family in families().
#include "vit/zoo.h"

#include "vit/eva.h"
#include "vit/vision_transformer.h"
#include "vit/vit_pytorch.h"

#include "families.h"

#include <algorithm>
#include <map>

namespace vit {

namespace detail {

namespace {

// Builds an Options model from keyword arguments, after its options and parameter count pass. The
// `ignored` keys are accepted; each given is reported (TORCH_WARN), except timm's pretrained_cfg keys.
template <typename Options, typename Holder>
ModelPtr build(const Json& args, const std::string& what, int64_t max_parameters, const std::vector<std::string>& ignored) {
  const auto options = options_from_json(args.dump(), Options(), what, ignored);
  for (const auto& key : ignored) {
    if (!args.contains(key) || key.rfind("pretrained_cfg", 0) == 0) continue;
    TORCH_WARN(what, " '", key, "' has no effect here (",
               key == "drop_block_rate" ? "no ViT block has DropBlock"
                                        : "vitcpp initialises as timm does by default; a loaded checkpoint replaces the init",
               ")");
  }
  const int64_t n = count_parameters(options);
  TORCH_CHECK(n <= max_parameters, what, " the model would have ", n, " parameters, more than the limit of ",
              max_parameters, " (raise max_parameters, `vit --max-parameters`, to build it)");
  return Holder(options).ptr();
}

// timm keyword arguments that choose another random init (vitcpp's is timm's default) or name a
// pretrained config (given separately here), and DropBlock, which no ViT uses: accepted, and reported
// when given (build).
const std::vector<std::string> kTimmIgnored = {"weight_init", "fix_init", "pretrained_cfg", "pretrained_cfg_overlay",
                                               "drop_block_rate"};

// The same for timm's Eva.
const std::vector<std::string> kEvaIgnored = {"head_init_scale", "pretrained_cfg", "pretrained_cfg_overlay"};

const std::vector<Family>& families() {
  static const std::vector<Family> all = {
      {"vision_transformer",
       [](const Json& args, const std::string& what, int64_t max) {
         return build<VisionTransformerOptions, VisionTransformer>(args, what, max, kTimmIgnored);
       },
       Json::parse(options_to_json(VisionTransformerOptions())), vision_transformer_args_from_weights,
       {"num_classes", "global_pool"},
       [](const Model& m) { return m.distilled() ? "deit_base_distilled_patch16_224" : "vit_base_patch16_224"; }},
      {"eva",
       [](const Json& args, const std::string& what, int64_t max) {
         return build<EvaOptions, Eva>(args, what, max, kEvaIgnored);
       },
       Json::parse(options_to_json(EvaOptions())), eva_args_from_weights, {"num_classes", "global_pool"},
       [](const Model&) { return "eva02_base_patch14_224"; }},
      {"vit_pytorch",
       [](const Json& args, const std::string& what, int64_t max) {
         return build<ViTOptions, ViT>(args, what, max, {});
       },
       Json::parse(options_to_json(ViTOptions())), vit_pytorch_args_from_weights, {},
       [](const Model&) { return "vit_pytorch"; }},
  };
  return all;
}

}  // namespace

const Family& family(const std::string& name) {
  for (const auto& f : families())
    if (f.name == name) return f;
  TORCH_CHECK(false, "[create_model] unknown model family '", name, "'");
}

}  // namespace detail

namespace {

using detail::Json;

struct Entry {
  const char* name;
  const char* family;
  const char* args;
  const char* cfg;
};

// Every name timm 1.0.x registers in timm/models/vision_transformer.py, deit.py and eva.py: the
// keyword arguments its entrypoint passes (timm's layer classes named as the options structs name
// them) and the fields of its default pretrained_cfg that differ from PretrainedCfg's defaults.
// img_size comes from the pretrained_cfg's input_size unless the arguments give it, as in timm.
// Generated from timm's registry (commit aa4b5850); docs/zoo.md groups them by family.
constexpr Entry kZoo[] = {
    {"aimv2_1b_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":2048,"depth":24,"num_heads":16,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_1b_patch14_336", "vision_transformer", R"({"patch_size":14,"embed_dim":2048,"depth":24,"num_heads":16,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_1b_patch14_448", "vision_transformer", R"({"patch_size":14,"embed_dim":2048,"depth":24,"num_heads":16,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_3b_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":3072,"depth":24,"num_heads":24,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_3b_patch14_336", "vision_transformer", R"({"patch_size":14,"embed_dim":3072,"depth":24,"num_heads":24,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_3b_patch14_448", "vision_transformer", R"({"patch_size":14,"embed_dim":3072,"depth":24,"num_heads":24,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_huge_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":24,"num_heads":12,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_huge_patch14_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":24,"num_heads":12,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_huge_patch14_448", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":24,"num_heads":12,"class_token":false,"fc_norm":false,"mlp_ratio":2.6667,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_large_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":8,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_large_patch14_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":8,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"aimv2_large_patch14_448", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":8,"class_token":false,"fc_norm":false,"mlp_ratio":2.75,"global_pool":"avg","qkv_bias":false,"proj_bias":false,"act_layer":"silu","norm_layer":"rmsnorm","norm_eps":1e-05,"embed_norm_layer":"rmsnorm","embed_norm_eps":1e-05,"mlp_layer":"swiglu"})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"beit3_base_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4,"scale_attn_norm":true,"scale_mlp_norm":true,"class_token":true,"global_pool":"avg","norm_eps":1e-05})", R"({"crop_pct":1.0})"},
    {"beit3_giant_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.3637,"scale_attn_norm":true,"scale_mlp_norm":true,"class_token":true,"global_pool":"avg","norm_eps":1e-05})", R"({"crop_pct":1.0})"},
    {"beit3_giant_patch14_336", "vision_transformer", R"({"img_size":336,"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.3637,"scale_attn_norm":true,"scale_mlp_norm":true,"class_token":true,"global_pool":"avg","norm_eps":1e-05})", R"({"input_size":[3,336,336],"crop_pct":1.0})"},
    {"beit3_large_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4,"scale_attn_norm":true,"scale_mlp_norm":true,"class_token":true,"global_pool":"avg","norm_eps":1e-05})", R"({"crop_pct":1.0})"},
    {"deit3_base_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"no_embed_class":true,"init_values":1e-06})", R"({"crop_pct":0.9})"},
    {"deit3_base_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"no_embed_class":true,"init_values":1e-06})", R"({"input_size":[3,384,384],"crop_pct":1.0})"},
    {"deit3_huge_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"no_embed_class":true,"init_values":1e-06})", R"({"crop_pct":0.9})"},
    {"deit3_large_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"no_embed_class":true,"init_values":1e-06})", R"({"crop_pct":0.9})"},
    {"deit3_large_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"no_embed_class":true,"init_values":1e-06})", R"({"input_size":[3,384,384],"crop_pct":1.0})"},
    {"deit3_medium_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"no_embed_class":true,"init_values":1e-06})", R"({"crop_pct":0.9})"},
    {"deit3_small_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"no_embed_class":true,"init_values":1e-06})", R"({"crop_pct":0.9})"},
    {"deit3_small_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"no_embed_class":true,"init_values":1e-06})", R"({"input_size":[3,384,384],"crop_pct":1.0})"},
    {"deit_base_distilled_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"distilled":true})", R"({"crop_pct":0.9})"},
    {"deit_base_distilled_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"distilled":true})", R"({"input_size":[3,384,384],"crop_pct":1.0})"},
    {"deit_base_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12})", R"({"crop_pct":0.9})"},
    {"deit_base_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12})", R"({"input_size":[3,384,384],"crop_pct":1.0})"},
    {"deit_small_distilled_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"distilled":true})", R"({"crop_pct":0.9})"},
    {"deit_small_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6})", R"({"crop_pct":0.9})"},
    {"deit_tiny_distilled_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3,"distilled":true})", R"({"crop_pct":0.9})"},
    {"deit_tiny_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3})", R"({"crop_pct":0.9})"},
    {"eva02_base_patch14_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":768,"depth":12,"num_heads":12,"qkv_fused":false,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"scale_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"eva02_base_patch14_448", "eva", R"({"img_size":448,"patch_size":14,"embed_dim":768,"depth":12,"num_heads":12,"qkv_fused":false,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"scale_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"input_size":[3,448,448],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva02_base_patch16_clip_224", "eva", R"({"img_size":224,"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"qkv_fused":false,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"scale_mlp":true,"scale_attn_inner":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16],"global_pool":"token"})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"eva02_enormous_patch14_clip_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":1792,"depth":64,"num_heads":16,"mlp_ratio":8.571428571428571,"use_post_norm":true,"global_pool":"token"})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"eva02_large_patch14_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":2.6666666666666665,"qkv_fused":false,"swiglu_mlp":true,"scale_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"eva02_large_patch14_448", "eva", R"({"img_size":448,"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":2.6666666666666665,"qkv_fused":false,"swiglu_mlp":true,"scale_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"input_size":[3,448,448],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva02_large_patch14_clip_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":2.6666666666666665,"qkv_fused":false,"swiglu_mlp":true,"scale_mlp":true,"scale_attn_inner":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16],"global_pool":"token"})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":768})"},
    {"eva02_large_patch14_clip_336", "eva", R"({"img_size":336,"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":2.6666666666666665,"qkv_fused":false,"swiglu_mlp":true,"scale_mlp":true,"scale_attn_inner":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16],"global_pool":"token"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":768})"},
    {"eva02_small_patch14_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"eva02_small_patch14_336", "eva", R"({"img_size":336,"patch_size":14,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva02_tiny_patch14_224", "eva", R"({"img_size":224,"patch_size":14,"embed_dim":192,"depth":12,"num_heads":3,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":0})"},
    {"eva02_tiny_patch14_336", "eva", R"({"img_size":336,"patch_size":14,"embed_dim":192,"depth":12,"num_heads":3,"mlp_ratio":2.6666666666666665,"swiglu_mlp":true,"use_rot_pos_emb":true,"ref_feat_shape":[16,16]})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva_giant_patch14_224", "eva", R"({"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.363636363636363})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva_giant_patch14_336", "eva", R"({"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.363636363636363})", R"({"input_size":[3,336,336],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva_giant_patch14_560", "eva", R"({"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.363636363636363})", R"({"input_size":[3,560,560],"crop_pct":1.0,"crop_mode":"squash"})"},
    {"eva_giant_patch14_clip_224", "eva", R"({"patch_size":14,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.363636363636363,"global_pool":"token"})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"eva_large_patch14_196", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"global_pool":"avg"})", R"({"input_size":[3,196,196],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"eva_large_patch14_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"global_pool":"avg"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"flexivit_base", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"no_embed_class":true})", R"({"input_size":[3,240,240],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"flexivit_large", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"no_embed_class":true})", R"({"input_size":[3,240,240],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"flexivit_small", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"no_embed_class":true})", R"({"input_size":[3,240,240],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"test_vit", "vision_transformer", R"({"patch_size":16,"embed_dim":64,"depth":6,"num_heads":2,"mlp_ratio":3,"dynamic_img_size":true})", R"({"input_size":[3,160,160],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"test_vit2", "vision_transformer", R"({"patch_size":16,"embed_dim":64,"depth":8,"num_heads":2,"mlp_ratio":3,"class_token":false,"reg_tokens":1,"global_pool":"avg","init_values":1e-05,"dynamic_img_size":true})", R"({"input_size":[3,160,160],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"test_vit3", "vision_transformer", R"({"patch_size":16,"embed_dim":96,"depth":9,"num_heads":3,"mlp_ratio":2,"class_token":false,"reg_tokens":1,"global_pool":"map","pool_include_prefix":true,"init_values":1e-05})", R"({"input_size":[3,160,160],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"test_vit4", "vision_transformer", R"({"patch_size":16,"embed_dim":96,"depth":9,"num_heads":3,"mlp_ratio":3,"class_token":false,"reg_tokens":1,"global_pool":"avg","init_values":1e-05,"dynamic_img_size":true,"norm_layer":"rmsnorm"})", R"({"input_size":[3,160,160],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_7b_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":4096,"depth":40,"num_heads":32,"qkv_bias":false,"mlp_ratio":2,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"rope_rotate_half":true,"swiglu_mlp":true,"swiglu_align_to":64,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_base_patch14_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":768,"depth":12,"num_heads":12,"init_values":1e-05})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_base_patch14_reg1_tipsv2", "vision_transformer", R"({"patch_size":14,"embed_dim":768,"depth":12,"num_heads":12,"init_values":1.0,"reg_tokens":1,"no_embed_class":true})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0],"num_classes":0})"},
    {"vit_base_patch14_reg4_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":768,"depth":12,"num_heads":12,"init_values":1e-05,"reg_tokens":4,"no_embed_class":true})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_base_patch16_18x2_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":18,"num_heads":12,"init_values":1e-05,"block_fn":"parallel_things"})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_224_miil", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"qkv_bias":false})", R"({"interpolation":"bilinear","mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0],"num_classes":11221})"},
    {"vit_base_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_clip_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.95,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_base_patch16_clip_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,384,384],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_base_patch16_clip_quickgelu_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_base_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":768,"depth":12,"num_heads":12,"qkv_bias":false,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_base_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":768,"depth":12,"num_heads":12,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_base_patch16_gap_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_plus_240", "vision_transformer", R"({"patch_size":16,"embed_dim":896,"depth":12,"num_heads":14,"init_values":1e-05})", R"({"input_size":[3,240,240],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_plus_clip_240", "vision_transformer", R"({"patch_size":16,"embed_dim":896,"depth":12,"num_heads":14,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,240,240],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":640})"},
    {"vit_base_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"no_embed_class":true,"global_pool":"avg","reg_tokens":4})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_rope_224", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4,"attn_type":"rope","use_fc_norm":false,"qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_base_patch16_rope_ape_224", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_base_patch16_rope_mixed_224", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4,"qkv_bias":true,"attn_type":"rope","init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_base_patch16_rope_mixed_ape_224", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_base_patch16_rope_reg1_gap_256", "eva", R"({"img_size":256,"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"qkv_fused":true,"qkv_bias":true,"init_values":1e-05,"class_token":false,"num_reg_tokens":1,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"ref_feat_shape":[16,16]})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_rpn_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"qkv_bias":false,"init_values":1e-05,"class_token":false,"block_fn":"res_post","global_pool":"avg"})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch16_siglip_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"map"})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_256", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_512", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_gap_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_siglip_gap_512", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch16_xp_224", "vision_transformer", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"no_embed_class":true,"norm_layer":"rmsnorm","block_fn":"parallel_scaling","qkv_bias":false,"qk_norm":true})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch32_224", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch32_384", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch32_clip_224", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_base_patch32_clip_256", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_base_patch32_clip_384", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_base_patch32_clip_448", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_base_patch32_clip_quickgelu_224", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_base_patch32_plus_256", "vision_transformer", R"({"patch_size":32,"embed_dim":896,"depth":12,"num_heads":14,"init_values":1e-05})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_base_patch32_siglip_256", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch32_siglip_gap_256", "vision_transformer", R"({"patch_size":32,"embed_dim":768,"depth":12,"num_heads":12,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_base_patch8_224", "vision_transformer", R"({"patch_size":8,"embed_dim":768,"depth":12,"num_heads":12})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_betwixt_patch16_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":640,"depth":12,"num_heads":10,"class_token":false,"global_pool":"avg","qkv_bias":false,"init_values":1e-06,"fc_norm":false})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_betwixt_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":640,"depth":12,"num_heads":10,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_betwixt_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":640,"depth":12,"num_heads":10,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_betwixt_patch16_reg4_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":640,"depth":12,"num_heads":10,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_betwixt_patch16_rope_reg4_gap_256", "eva", R"({"img_size":256,"patch_size":16,"embed_dim":640,"depth":12,"num_heads":10,"qkv_fused":true,"qkv_bias":true,"init_values":1e-05,"class_token":false,"num_reg_tokens":4,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"ref_feat_shape":[16,16]})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_betwixt_patch32_clip_224", "vision_transformer", R"({"patch_size":32,"embed_dim":640,"depth":12,"num_heads":10,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_dlittle_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":320,"depth":14,"num_heads":5,"init_values":1e-05,"mlp_ratio":5.6,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg","attn_layer":"diff"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_dpwee_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":256,"depth":16,"num_heads":4,"init_values":1e-05,"mlp_ratio":5,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg","block_fn":"diff_parallel_scaling"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_dwee_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":256,"depth":14,"num_heads":4,"init_values":1e-05,"mlp_ratio":5,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg","attn_layer":"diff"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_giant_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1408,"mlp_ratio":4.363636363636363,"depth":40,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_giant_patch14_clip_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1408,"mlp_ratio":4.363636363636363,"depth":40,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"vit_giant_patch14_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":40,"num_heads":24,"init_values":1e-05,"mlp_ratio":5.33334,"mlp_layer":"swiglu_packed","act_layer":"silu"})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_giant_patch14_reg1_tipsv2", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":40,"num_heads":24,"init_values":1.0,"mlp_ratio":5.33334,"mlp_layer":"swiglu_packed","act_layer":"silu","reg_tokens":1,"no_embed_class":true})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0],"num_classes":0})"},
    {"vit_giant_patch14_reg4_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":1536,"depth":40,"num_heads":24,"init_values":1e-05,"mlp_ratio":5.33334,"mlp_layer":"swiglu_packed","act_layer":"silu","reg_tokens":4,"no_embed_class":true})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_giant_patch16_gap_224", "vision_transformer", R"({"patch_size":16,"embed_dim":1408,"depth":40,"num_heads":16,"mlp_ratio":4.363636363636363,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"crop_pct":0.9,"num_classes":0})"},
    {"vit_giantopt_patch16_siglip_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1536,"depth":40,"num_heads":16,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_giantopt_patch16_siglip_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1536,"depth":40,"num_heads":16,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_giantopt_patch16_siglip_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1536,"depth":40,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_giantopt_patch16_siglip_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1536,"depth":40,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_gigantic_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1664,"mlp_ratio":4.923076923076923,"depth":48,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_gigantic_patch14_clip_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1664,"mlp_ratio":4.923076923076923,"depth":48,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1280})"},
    {"vit_gigantic_patch14_clip_378", "vision_transformer", R"({"patch_size":14,"embed_dim":1664,"mlp_ratio":4.923076923076923,"depth":48,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,378,378],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1280})"},
    {"vit_gigantic_patch14_clip_quickgelu_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1664,"mlp_ratio":4.923076923076923,"depth":48,"num_heads":16,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1280})"},
    {"vit_huge_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_huge_patch14_clip_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_huge_patch14_clip_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,336,336],"crop_pct":1.0,"crop_mode":"squash","mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711]})"},
    {"vit_huge_patch14_clip_378", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,378,378],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"vit_huge_patch14_clip_quickgelu_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"vit_huge_patch14_clip_quickgelu_378", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"input_size":[3,378,378],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":1024})"},
    {"vit_huge_patch14_gap_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"crop_pct":0.9,"num_classes":0})"},
    {"vit_huge_patch14_xp_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1280,"depth":32,"num_heads":16,"pre_norm":true,"no_embed_class":true,"norm_layer":"rmsnorm","block_fn":"parallel_scaling","qkv_bias":false,"qk_norm":true})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_huge_patch16_gap_448", "vision_transformer", R"({"patch_size":16,"embed_dim":1280,"depth":32,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,448,448],"crop_pct":1.0,"num_classes":0})"},
    {"vit_huge_plus_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":1280,"depth":32,"num_heads":20,"qkv_bias":false,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"rope_rotate_half":true,"swiglu_mlp":true,"swiglu_align_to":8,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_huge_plus_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":1280,"depth":32,"num_heads":20,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"rope_rotate_half":true,"swiglu_mlp":true,"swiglu_align_to":8,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_intern300m_patch14_448", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"init_values":0.1,"final_norm":false,"dynamic_img_size":true})", R"({"input_size":[3,448,448],"crop_pct":1.0,"num_classes":0})"},
    {"vit_large_patch14_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch14_clip_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch14_clip_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"pre_norm":true,"norm_eps":1e-05})", R"({"input_size":[3,336,336],"crop_pct":1.0,"crop_mode":"squash","mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch14_clip_quickgelu_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":768})"},
    {"vit_large_patch14_clip_quickgelu_336", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"pre_norm":true,"norm_eps":1e-05,"act_layer":"quick_gelu"})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":768})"},
    {"vit_large_patch14_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"init_values":1e-05})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_large_patch14_reg1_tipsv2", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"init_values":1.0,"reg_tokens":1,"no_embed_class":true})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0],"num_classes":0})"},
    {"vit_large_patch14_reg4_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"init_values":1e-05,"reg_tokens":4,"no_embed_class":true})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_large_patch14_xp_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"pre_norm":true,"no_embed_class":true,"norm_layer":"rmsnorm","block_fn":"parallel_scaling","qkv_bias":false,"qk_norm":true})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_large_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":1024,"depth":24,"num_heads":16,"qkv_bias":false,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"rope_rotate_half":true,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_large_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":1024,"depth":24,"num_heads":16,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"rope_rotate_half":true,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_large_patch16_rope_224", "eva", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_large_patch16_rope_ape_224", "eva", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_large_patch16_rope_mixed_224", "eva", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_large_patch16_rope_mixed_ape_224", "eva", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_large_patch16_siglip_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch16_siglip_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch16_siglip_512", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch16_siglip_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch16_siglip_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch16_siglip_gap_512", "vision_transformer", R"({"patch_size":16,"embed_dim":1024,"depth":24,"num_heads":16,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch32_224", "vision_transformer", R"({"patch_size":32,"embed_dim":1024,"depth":24,"num_heads":16})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_large_patch32_384", "vision_transformer", R"({"patch_size":32,"embed_dim":1024,"depth":24,"num_heads":16})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_little_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":320,"depth":14,"num_heads":5,"init_values":1e-05,"mlp_ratio":5.6,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_little_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":320,"depth":14,"num_heads":5,"init_values":1e-05,"mlp_ratio":5.6,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch16_clip_224", "vision_transformer", R"({"embed_dim":512,"depth":12,"num_heads":8,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_medium_patch16_gap_240", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"class_token":false,"global_pool":"avg","qkv_bias":false,"init_values":1e-06,"fc_norm":false})", R"({"input_size":[3,240,240],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":11821})"},
    {"vit_medium_patch16_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"class_token":false,"global_pool":"avg","qkv_bias":false,"init_values":1e-06,"fc_norm":false})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch16_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"class_token":false,"global_pool":"avg","qkv_bias":false,"init_values":1e-06,"fc_norm":false})", R"({"input_size":[3,384,384],"crop_pct":0.95,"crop_mode":"squash","mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch16_rope_reg1_gap_256", "eva", R"({"img_size":256,"patch_size":16,"embed_dim":512,"depth":12,"num_heads":8,"qkv_fused":true,"qkv_bias":true,"init_values":1e-05,"class_token":false,"num_reg_tokens":1,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"ref_feat_shape":[16,16]})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_medium_patch32_clip_224", "vision_transformer", R"({"patch_size":32,"embed_dim":512,"depth":12,"num_heads":8,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    {"vit_mediumd_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":20,"num_heads":8,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_mediumd_patch16_reg4_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":512,"depth":20,"num_heads":8,"init_values":1e-05,"class_token":false,"no_embed_class":true,"reg_tokens":4,"global_pool":"avg"})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_mediumd_patch16_rope_reg1_gap_256", "eva", R"({"img_size":256,"patch_size":16,"embed_dim":512,"depth":20,"num_heads":8,"qkv_fused":true,"qkv_bias":false,"init_values":1e-05,"class_token":false,"num_reg_tokens":1,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"ref_feat_shape":[16,16]})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_pe_core_base_patch16_224", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4.0,"global_pool":"map","attn_type":"rope","use_pre_transformer_norm":true,"use_rot_pos_emb":true,"ref_feat_shape":[14,14],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","attn_pool_num_heads":8,"attn_pool_mlp_ratio":4.0,"norm_eps":1e-05})", R"({"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":1024})"},
    {"vit_pe_core_gigantic_patch14_448", "eva", R"({"patch_size":14,"embed_dim":1536,"depth":50,"num_heads":16,"mlp_ratio":5.833333333333333,"global_pool":"map","attn_type":"rope","class_token":false,"use_pre_transformer_norm":true,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_indexing":"xy","attn_pool_num_heads":8,"attn_pool_mlp_ratio":4.0,"norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":1280})"},
    {"vit_pe_core_large_patch14_336", "eva", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4.0,"global_pool":"map","attn_type":"rope","use_pre_transformer_norm":true,"use_rot_pos_emb":true,"ref_feat_shape":[24,24],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","attn_pool_num_heads":8,"attn_pool_mlp_ratio":4.0,"norm_eps":1e-05})", R"({"input_size":[3,336,336],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":1024})"},
    {"vit_pe_core_small_patch16_384", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4.0,"global_pool":"map","attn_type":"rope","use_pre_transformer_norm":true,"use_rot_pos_emb":true,"ref_feat_shape":[24,24],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","attn_pool_num_heads":8,"attn_pool_mlp_ratio":4.0,"norm_eps":1e-05})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":512})"},
    {"vit_pe_core_tiny_patch16_384", "eva", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3,"mlp_ratio":4.0,"global_pool":"map","attn_type":"rope","use_pre_transformer_norm":true,"use_rot_pos_emb":true,"ref_feat_shape":[24,24],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","attn_pool_num_heads":8,"attn_pool_mlp_ratio":4.0,"norm_eps":1e-05})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":512})"},
    {"vit_pe_lang_gigantic_patch14_448", "eva", R"({"patch_size":14,"embed_dim":1536,"depth":47,"num_heads":16,"mlp_ratio":5.833333333333333,"attn_type":"rope","class_token":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_indexing":"xy","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"init_values":0.1,"norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_lang_large_patch14_448", "eva", R"({"patch_size":14,"embed_dim":1024,"depth":23,"num_heads":16,"mlp_ratio":4.0,"attn_type":"rope","class_token":true,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"init_values":0.1,"norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_spatial_base_patch16_512", "eva", R"({"patch_size":16,"embed_dim":768,"depth":12,"num_heads":12,"mlp_ratio":4.0,"attn_type":"rope","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","norm_eps":1e-05})", R"({"input_size":[3,512,512],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_spatial_gigantic_patch14_448", "eva", R"({"patch_size":14,"embed_dim":1536,"depth":50,"num_heads":16,"mlp_ratio":5.833333333333333,"attn_type":"rope","class_token":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_indexing":"xy","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"init_values":0.1,"norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_spatial_large_patch14_448", "eva", R"({"patch_size":14,"embed_dim":1024,"depth":24,"num_heads":16,"mlp_ratio":4.0,"attn_type":"rope","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","norm_eps":1e-05})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_spatial_small_patch16_512", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4.0,"attn_type":"rope","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","norm_eps":1e-05})", R"({"input_size":[3,512,512],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pe_spatial_tiny_patch16_512", "eva", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3,"mlp_ratio":4.0,"attn_type":"rope","use_pre_transformer_norm":true,"use_post_transformer_norm":false,"use_fc_norm":false,"use_rot_pos_emb":true,"ref_feat_shape":[32,32],"rope_grid_offset":1.0,"rope_grid_indexing":"xy","norm_eps":1e-05})", R"({"input_size":[3,512,512],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_pwee_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":256,"depth":16,"num_heads":4,"init_values":1e-05,"mlp_ratio":5,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg","block_fn":"parallel_scaling"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch14_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":384,"depth":12,"num_heads":6,"init_values":1e-05})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_small_patch14_reg4_dinov2", "vision_transformer", R"({"patch_size":14,"embed_dim":384,"depth":12,"num_heads":6,"init_values":1e-05,"reg_tokens":4,"no_embed_class":true})", R"({"input_size":[3,518,518],"crop_pct":1.0,"num_classes":0})"},
    {"vit_small_patch16_18x2_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":18,"num_heads":6,"init_values":1e-05,"block_fn":"parallel_things"})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch16_36x1_224", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":36,"num_heads":6,"init_values":1e-05})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":384,"depth":12,"num_heads":6,"qkv_bias":false,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_small_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":384,"depth":12,"num_heads":6,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_small_patch16_rope_224", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_small_patch16_rope_ape_224", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":100.0})", R"({"crop_pct":0.9})"},
    {"vit_small_patch16_rope_mixed_224", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","use_abs_pos_emb":false,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_small_patch16_rope_mixed_ape_224", "eva", R"({"patch_size":16,"embed_dim":384,"depth":12,"num_heads":6,"mlp_ratio":4,"attn_type":"rope","qkv_bias":true,"init_values":1e-05,"class_token":true,"global_pool":"token","no_embed_class":true,"use_abs_pos_emb":true,"use_rot_pos_emb":true,"rope_grid_indexing":"xy","rope_temperature":10.0,"rope_type":"mixed"})", R"({"crop_pct":0.9})"},
    {"vit_small_patch32_224", "vision_transformer", R"({"patch_size":32,"embed_dim":384,"depth":12,"num_heads":6})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch32_384", "vision_transformer", R"({"patch_size":32,"embed_dim":384,"depth":12,"num_heads":6})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_small_patch8_224", "vision_transformer", R"({"patch_size":8,"embed_dim":384,"depth":12,"num_heads":6})", R"({"crop_pct":0.9,"num_classes":0})"},
    {"vit_small_plus_patch16_dinov3", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":384,"depth":12,"num_heads":6,"qkv_bias":false,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"swiglu_mlp":true,"swiglu_align_to":8,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_small_plus_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":384,"depth":12,"num_heads":6,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"swiglu_mlp":true,"swiglu_align_to":8,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_so150m2_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":832,"depth":21,"num_heads":13,"mlp_ratio":2.6153846153846154,"init_values":1e-05,"qkv_bias":false,"class_token":false,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so150m2_patch16_reg1_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":832,"depth":21,"num_heads":13,"mlp_ratio":2.6153846153846154,"init_values":1e-05,"qkv_bias":false,"class_token":false,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so150m2_patch16_reg1_gap_448", "vision_transformer", R"({"patch_size":16,"embed_dim":832,"depth":21,"num_heads":13,"mlp_ratio":2.6153846153846154,"init_values":1e-05,"qkv_bias":false,"class_token":false,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,448,448],"crop_pct":1.0,"crop_mode":"squash","mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so150m_patch16_reg4_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":896,"depth":18,"num_heads":14,"mlp_ratio":2.572,"class_token":false,"reg_tokens":4,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so150m_patch16_reg4_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":896,"depth":18,"num_heads":14,"mlp_ratio":2.572,"class_token":false,"reg_tokens":4,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so150m_patch16_reg4_map_256", "vision_transformer", R"({"patch_size":16,"embed_dim":896,"depth":18,"num_heads":14,"mlp_ratio":2.572,"class_token":false,"reg_tokens":4,"global_pool":"map"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_so400m_patch14_reg1_tipsv2", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"init_values":1.0,"mlp_ratio":3.736111111111111,"reg_tokens":1,"no_embed_class":true})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map"})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_378", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,378,378],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_384", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_gap_224", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_gap_378", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,378,378],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_gap_384", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_gap_448", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,448,448],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch14_siglip_gap_896", "vision_transformer", R"({"patch_size":14,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false})", R"({"input_size":[3,896,896],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_512", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"map","act_layer":"gelu_tanh"})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,256,256],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_gap_384", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,384,384],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_so400m_patch16_siglip_gap_512", "vision_transformer", R"({"patch_size":16,"embed_dim":1152,"depth":27,"num_heads":16,"mlp_ratio":3.7362,"class_token":false,"global_pool":"avg","fc_norm":false,"act_layer":"gelu_tanh"})", R"({"input_size":[3,512,512],"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"num_classes":0})"},
    {"vit_tiny_patch16_224", "vision_transformer", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3})", R"({"crop_pct":0.9,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_tiny_patch16_384", "vision_transformer", R"({"patch_size":16,"embed_dim":192,"depth":12,"num_heads":3})", R"({"input_size":[3,384,384],"crop_pct":1.0,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_tiny_patch16_dinov3_qkvb", "eva", R"({"patch_size":16,"dynamic_img_size":true,"embed_dim":192,"depth":12,"num_heads":3,"qkv_bias":true,"init_values":1e-05,"rope_type":"dinov3","rope_temperature":100,"rope_rotate_half":true,"use_rot_pos_emb":true,"use_abs_pos_emb":false,"num_reg_tokens":4,"use_fc_norm":false,"norm_eps":1e-05})", R"({"input_size":[3,256,256],"crop_pct":1.0,"num_classes":0})"},
    {"vit_wee_patch16_reg1_gap_256", "vision_transformer", R"({"patch_size":16,"embed_dim":256,"depth":14,"num_heads":4,"init_values":1e-05,"mlp_ratio":5,"class_token":false,"no_embed_class":true,"reg_tokens":1,"global_pool":"avg"})", R"({"input_size":[3,256,256],"crop_pct":0.95,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]})"},
    {"vit_xsmall_patch16_clip_224", "vision_transformer", R"({"embed_dim":256,"depth":10,"num_heads":4,"pre_norm":true,"norm_eps":1e-05})", R"({"crop_pct":0.9,"mean":[0.48145466,0.4578275,0.40821073],"std":[0.26862954,0.26130258,0.27577711],"num_classes":512})"},
    // lucidrains' ViT: every size comes from model_args (image_size, patch_size, num_classes, dim, depth, heads, mlp_dim)
    {"vit_pytorch", "vit_pytorch", "{}", "{}"},
};

const std::map<std::string, Architecture>& zoo() {
  static const auto table = [] {
    std::map<std::string, Architecture> out;
    for (const auto& e : kZoo) {
      const std::string what = std::string("[zoo] '") + e.name + "':";
      out[e.name] = {e.name, e.family, e.args, pretrained_cfg_from_json(e.cfg, PretrainedCfg(), what)};
    }
    return out;
  }();
  return table;
}

std::string strip_tag(const std::string& name) { return name.substr(0, name.find('.')); }

}  // namespace

std::vector<std::string> list_models() {
  std::vector<std::string> names;
  for (const auto& kv : zoo()) names.push_back(kv.first);
  return names;
}

const Architecture& architecture(const std::string& name) {
  const auto it = zoo().find(strip_tag(name));
  if (it == zoo().end()) {
    std::string known;
    for (const auto& kv : zoo()) known += (known.empty() ? "" : ", ") + kv.first;
    TORCH_CHECK(false, "[create_model] unknown architecture '", name.substr(0, 200), "' (known: ", known, ")");
  }
  return it->second;
}

std::string resolve_model_args(const std::string& name, const std::string& model_args) {
  const auto& a = architecture(name);
  const std::string what = "[create_model] '" + a.name + "':";
  auto args = detail::parse_json(a.model_args, what);
  const auto& hub_keys = detail::family(a.family).hub_keys;
  if (std::find(hub_keys.begin(), hub_keys.end(), "num_classes") != hub_keys.end())
    args["num_classes"] = a.pretrained_cfg.num_classes();  // ref: timm's _update_default_model_kwargs
  if (detail::family(a.family).defaults.contains("img_size") && !args.contains("img_size")) {
    const auto& size = a.pretrained_cfg.input_size();  // ref: _update_default_model_kwargs: img_size from input_size
    args["img_size"] = size[1] == size[2] ? Json(size[1]) : Json::array({size[1], size[2]});
  }
  const auto overrides = detail::parse_json(model_args, what + " model_args");
  TORCH_CHECK(overrides.is_object(), what, " model_args: expected a JSON object of keyword arguments, got ", overrides.type_name());
  for (const auto& [key, value] : overrides.items()) args[key] = value;
  return args.dump();
}

ModelPtr create_model(const std::string& name, const std::string& model_args, int64_t max_parameters) {
  const auto& a = architecture(name);
  const auto args = detail::parse_json(resolve_model_args(name, model_args), "[create_model]");
  return detail::family(a.family).build(args, "[create_model] '" + a.name + "':", max_parameters);
}

std::string model_args_diff(const Model& model, const std::string& name) {
  const auto& a = architecture(name);
  const auto& f = detail::family(a.family);
  TORCH_CHECK(f.name == model.family(), "[model_args_diff] a ", model.family(), " model cannot be saved as '", name,
              "', a ", f.name);
  auto base = f.defaults;
  const auto defaults = detail::parse_json(resolve_model_args(name), "[model_args_diff]");
  for (const auto& [key, value] : defaults.items()) base[key] = value;
  const auto args = detail::parse_json(model.model_args(), "[model_args_diff]");
  Json diff = Json::object();
  for (const auto& [key, value] : args.items())
    if (!base.contains(key) || base[key] != value) diff[key] = value;
  return diff.dump();
}

std::string base_architecture(const Model& model) { return detail::family(model.family()).base_architecture(model); }

}  // namespace vit
