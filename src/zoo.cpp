// The zoo: architecture names -> (family, keyword arguments, pretrained_cfg), and the families that
// build them. A new timm name is one line of kZoo; a new model class is one Family in families().
#include "vit/zoo.h"

#include "vit/vision_transformer.h"
#include "vit/vit_pytorch.h"

#include "families.h"

#include <algorithm>
#include <map>

namespace vit {

namespace detail {

namespace {

// Builds an Options model from keyword arguments, after its options and parameter count pass.
template <typename Options, typename Holder>
ModelPtr build(const Json& args, const std::string& what, int64_t max_parameters, const std::vector<std::string>& ignored) {
  const auto options = options_from_json(args.dump(), Options(), what, ignored);
  const int64_t n = count_parameters(options);
  TORCH_CHECK(n <= max_parameters, what, " the model would have ", n, " parameters, more than the limit of ",
              max_parameters, " (raise max_parameters, `vit --max-parameters`, to build it)");
  return Holder(options).ptr();
}

// timm keyword arguments that only matter for training or init: accepted and ignored.
const std::vector<std::string> kTimmIgnored = {"pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "weight_init", "fix_init",
                                               "pretrained_cfg", "pretrained_cfg_overlay", "drop_block_rate"};

const std::vector<Family>& families() {
  static const std::vector<Family> all = {
      {"vision_transformer",
       [](const Json& args, const std::string& what, int64_t max) {
         return build<VisionTransformerOptions, VisionTransformer>(args, what, max, kTimmIgnored);
       },
       Json::parse(options_to_json(VisionTransformerOptions())), vision_transformer_args_from_weights,
       {"num_classes", "global_pool"},
       [](const Model& m) { return m.distilled() ? "deit_base_distilled_patch16_224" : "vit_base_patch16_224"; }},
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

// Default pretrained_cfgs (timm's _cfg of each module, at the name's first tag).
constexpr const char* kInception224 = R"({"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 0.9})";
constexpr const char* kInception384 =
    R"({"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 1.0, "input_size": [3, 384, 384]})";
constexpr const char* kImagenet224 = R"({"crop_pct": 0.9})";
constexpr const char* kImagenet384 = R"({"crop_pct": 1.0, "input_size": [3, 384, 384]})";

struct Entry {
  const char* name;
  const char* family;
  const char* args;
  const char* cfg;
};

// ref: timm/models/vision_transformer.py and deit.py registrations (timm 1.0.x)
constexpr Entry kZoo[] = {
    {"vit_tiny_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3})", kInception224},
    {"vit_tiny_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3})", kInception384},
    {"vit_small_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6})", kInception224},
    {"vit_small_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6})", kInception384},
    {"vit_small_patch32_224", "vision_transformer", R"({"patch_size": 32, "embed_dim": 384, "depth": 12, "num_heads": 6})", kInception224},
    {"vit_small_patch32_384", "vision_transformer", R"({"img_size": 384, "patch_size": 32, "embed_dim": 384, "depth": 12, "num_heads": 6})", kInception384},
    {"vit_base_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12})", kInception224},
    {"vit_base_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12})", kInception384},
    {"vit_base_patch32_224", "vision_transformer", R"({"patch_size": 32, "embed_dim": 768, "depth": 12, "num_heads": 12})", kInception224},
    {"vit_base_patch32_384", "vision_transformer", R"({"img_size": 384, "patch_size": 32, "embed_dim": 768, "depth": 12, "num_heads": 12})", kInception384},
    {"vit_base_patch8_224", "vision_transformer", R"({"patch_size": 8, "embed_dim": 768, "depth": 12, "num_heads": 12})", kInception224},
    {"vit_large_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 1024, "depth": 24, "num_heads": 16})", kInception224},
    {"vit_large_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 1024, "depth": 24, "num_heads": 16})", kInception384},
    {"vit_large_patch32_384", "vision_transformer", R"({"img_size": 384, "patch_size": 32, "embed_dim": 1024, "depth": 24, "num_heads": 16})", kInception384},
    {"vit_huge_patch14_224", "vision_transformer", R"({"patch_size": 14, "embed_dim": 1280, "depth": 32, "num_heads": 16})",
     R"({"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 0.9, "num_classes": 0})"},
    {"deit_tiny_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3})", kImagenet224},
    {"deit_small_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6})", kImagenet224},
    {"deit_base_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12})", kImagenet224},
    {"deit_base_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12})", kImagenet384},
    {"deit_tiny_distilled_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3, "distilled": true})", kImagenet224},
    {"deit_small_distilled_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6, "distilled": true})", kImagenet224},
    {"deit_base_distilled_patch16_224", "vision_transformer", R"({"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12, "distilled": true})", kImagenet224},
    {"deit_base_distilled_patch16_384", "vision_transformer", R"({"img_size": 384, "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12, "distilled": true})", kImagenet384},
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
