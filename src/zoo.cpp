#include "vit/zoo.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>

namespace vit {

namespace {

using json = nlohmann::json;

struct ZooEntry {
  int64_t img, patch, dim, depth, heads;
  bool distilled;
};

// ref: timm/models/vision_transformer.py and deit.py model registrations
const std::map<std::string, ZooEntry>& zoo() {
  static const std::map<std::string, ZooEntry> table = {
      {"vit_tiny_patch16_224", {224, 16, 192, 12, 3, false}},   {"vit_tiny_patch16_384", {384, 16, 192, 12, 3, false}},
      {"vit_small_patch16_224", {224, 16, 384, 12, 6, false}},  {"vit_small_patch16_384", {384, 16, 384, 12, 6, false}},
      {"vit_small_patch32_224", {224, 32, 384, 12, 6, false}},  {"vit_small_patch32_384", {384, 32, 384, 12, 6, false}},
      {"vit_base_patch16_224", {224, 16, 768, 12, 12, false}},  {"vit_base_patch16_384", {384, 16, 768, 12, 12, false}},
      {"vit_base_patch32_224", {224, 32, 768, 12, 12, false}},  {"vit_base_patch32_384", {384, 32, 768, 12, 12, false}},
      {"vit_base_patch8_224", {224, 8, 768, 12, 12, false}},    {"vit_large_patch16_224", {224, 16, 1024, 24, 16, false}},
      {"vit_large_patch16_384", {384, 16, 1024, 24, 16, false}}, {"vit_large_patch32_384", {384, 32, 1024, 24, 16, false}},
      {"vit_huge_patch14_224", {224, 14, 1280, 32, 16, false}}, {"deit_tiny_patch16_224", {224, 16, 192, 12, 3, false}},
      {"deit_small_patch16_224", {224, 16, 384, 12, 6, false}}, {"deit_base_patch16_224", {224, 16, 768, 12, 12, false}},
      {"deit_base_patch16_384", {384, 16, 768, 12, 12, false}},
      {"deit_tiny_distilled_patch16_224", {224, 16, 192, 12, 3, true}},
      {"deit_small_distilled_patch16_224", {224, 16, 384, 12, 6, true}},
      {"deit_base_distilled_patch16_224", {224, 16, 768, 12, 12, true}},
      {"deit_base_distilled_patch16_384", {384, 16, 768, 12, 12, true}},
  };
  return table;
}

std::string strip_tag(const std::string& name) { return name.substr(0, name.find('.')); }

json parse_object(const std::string& text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    TORCH_CHECK(false, what, " not valid JSON (", e.what(), ")");
  }
  TORCH_CHECK(j.is_object(), what, " expected a JSON object, got ", j.type_name());
  return j;
}

// Typed reads with messages that name the key.
template <typename T>
T read(const json& value, const std::string& key, const std::string& what) {
  const bool ok = std::is_same_v<T, bool>          ? value.is_boolean()
                  : std::is_same_v<T, std::string> ? value.is_string()
                  : std::is_integral_v<T>          ? value.is_number_integer()
                                                   : value.is_number();
  TORCH_CHECK(ok, what, " '", key, "' has the wrong type: ", value.dump());
  return value.get<T>();
}

torch::ExpandingArray<2> read_pair(const json& value, const std::string& key, const std::string& what) {
  if (value.is_array()) {
    TORCH_CHECK(value.size() == 2 && value[0].is_number_integer() && value[1].is_number_integer(), what, " '", key,
                "' must be an int or [h, w], got ", value.dump());
    return torch::ExpandingArray<2>({value[0].get<int64_t>(), value[1].get<int64_t>()});
  }
  return torch::ExpandingArray<2>(read<int64_t>(value, key, what));
}

json pair_json(const torch::ExpandingArray<2>& a) {
  return a->at(0) == a->at(1) ? json(a->at(0)) : json::array({a->at(0), a->at(1)});
}

using Setter = std::function<void(VisionTransformerOptions&, const json&, const std::string&, const std::string&)>;

#define VIT_INT(name) {#name, [](auto& o, const json& v, const auto& k, const auto& w) { o.name(read<int64_t>(v, k, w)); }}
#define VIT_DOUBLE(name) {#name, [](auto& o, const json& v, const auto& k, const auto& w) { o.name(read<double>(v, k, w)); }}
#define VIT_BOOL(name) {#name, [](auto& o, const json& v, const auto& k, const auto& w) { o.name(read<bool>(v, k, w)); }}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"img_size", [](auto& o, const json& v, const auto& k, const auto& w) { o.img_size(read_pair(v, k, w)); }},
      {"patch_size", [](auto& o, const json& v, const auto& k, const auto& w) { o.patch_size(read_pair(v, k, w)); }},
      VIT_INT(in_chans), VIT_INT(num_classes), VIT_INT(embed_dim), VIT_INT(depth), VIT_INT(num_heads),
      VIT_DOUBLE(mlp_ratio), VIT_BOOL(qkv_bias), VIT_BOOL(distilled), VIT_DOUBLE(drop_rate), VIT_DOUBLE(attn_drop_rate),
      VIT_DOUBLE(drop_path_rate), VIT_BOOL(class_token), VIT_INT(reg_tokens), VIT_BOOL(no_embed_class),
      VIT_BOOL(pre_norm), VIT_BOOL(qk_norm), VIT_BOOL(final_norm), VIT_BOOL(dynamic_img_size),
      {"global_pool", [](auto& o, const json& v, const auto& k, const auto& w) { o.global_pool(read<std::string>(v, k, w)); }},
      {"representation_size",
       [](auto& o, const json& v, const auto& k, const auto& w) {
         if (v.is_null()) o.representation_size(std::nullopt); else o.representation_size(read<int64_t>(v, k, w));
       }},
      {"init_values",
       [](auto& o, const json& v, const auto& k, const auto& w) {
         if (v.is_null()) o.init_values(std::nullopt); else o.init_values(read<double>(v, k, w));
       }},
      {"fc_norm",
       [](auto& o, const json& v, const auto& k, const auto& w) {
         if (v.is_null()) o.fc_norm(std::nullopt); else o.fc_norm(read<bool>(v, k, w));
       }},
  };
  return table;
}

// timm keyword arguments that only matter for training or init; accepted and ignored for inference.
bool ignorable(const std::string& key) {
  static const char* keys[] = {"pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "weight_init", "fix_init",
                               "pretrained_cfg", "pretrained_cfg_overlay", "drop_block_rate"};
  return std::any_of(std::begin(keys), std::end(keys), [&](const char* k) { return key == k; });
}

}  // namespace

std::vector<std::string> list_models() {
  std::vector<std::string> names;
  for (const auto& kv : zoo()) names.push_back(kv.first);
  return names;
}

VisionTransformerOptions model_options(const std::string& name) {
  const auto it = zoo().find(strip_tag(name));
  TORCH_CHECK(it != zoo().end(), "[create_model] unknown architecture '", name, "' (known: vit_{tiny,small,base,large}_patch16_{224,384}, "
              "vit_{small,base}_patch32_{224,384}, vit_base_patch8_224, vit_large_patch32_384, vit_huge_patch14_224, "
              "deit_{tiny,small,base}[_distilled]_patch16_224, deit_base[_distilled]_patch16_384)");
  const auto& e = it->second;
  return VisionTransformerOptions()
      .img_size(e.img)
      .patch_size(e.patch)
      .embed_dim(e.dim)
      .depth(e.depth)
      .num_heads(e.heads)
      .distilled(e.distilled);
}

VisionTransformerOptions apply_model_args(VisionTransformerOptions options, const std::string& model_args,
                                          const std::string& what) {
  const auto args = parse_object(model_args, what);
  for (const auto& [key, value] : args.items()) {
    const auto it = setters().find(key);
    if (it != setters().end()) {
      it->second(options, value, key, what);
    } else {
      TORCH_CHECK(ignorable(key), what, " unsupported timm argument '", key, "' = ", value.dump());
    }
  }
  return options;
}

std::string model_args_diff(const VisionTransformerOptions& o, const VisionTransformerOptions& b) {
  json j = json::object();
  if (*o.img_size() != *b.img_size()) j["img_size"] = pair_json(o.img_size());
  if (*o.patch_size() != *b.patch_size()) j["patch_size"] = pair_json(o.patch_size());
#define DIFF(name) \
  if (o.name() != b.name()) j[#name] = o.name();
  DIFF(in_chans) DIFF(num_classes) DIFF(embed_dim) DIFF(depth) DIFF(num_heads) DIFF(mlp_ratio) DIFF(qkv_bias)
  DIFF(distilled) DIFF(global_pool) DIFF(class_token) DIFF(reg_tokens) DIFF(no_embed_class) DIFF(pre_norm)
  DIFF(qk_norm) DIFF(final_norm) DIFF(dynamic_img_size) DIFF(drop_rate) DIFF(attn_drop_rate) DIFF(drop_path_rate)
#undef DIFF
  if (o.representation_size() != b.representation_size())
    j["representation_size"] = o.representation_size() ? json(*o.representation_size()) : json();
  if (o.init_values() != b.init_values()) j["init_values"] = o.init_values() ? json(*o.init_values()) : json();
  if (o.fc_norm() != b.fc_norm()) j["fc_norm"] = o.fc_norm() ? json(*o.fc_norm()) : json();
  return j.dump();
}

VisionTransformer create_model(const std::string& name, const std::string& model_args) {
  return VisionTransformer(apply_model_args(model_options(name), model_args, "[create_model] '" + name + "':"));
}

ViTOptions vit_pytorch_options(const std::string& model_args, const std::string& what) {
  auto args = parse_object(model_args, what);
  auto need = [&](const char* key) -> const json& {
    TORCH_CHECK(args.contains(key), what, " vit_pytorch ViT needs '", key, "'");
    return args.at(key);
  };
  ViTOptions o(read_pair(need("image_size"), "image_size", what), read_pair(need("patch_size"), "patch_size", what),
               read<int64_t>(need("num_classes"), "num_classes", what), read<int64_t>(need("dim"), "dim", what),
               read<int64_t>(need("depth"), "depth", what), read<int64_t>(need("heads"), "heads", what),
               read<int64_t>(need("mlp_dim"), "mlp_dim", what));
  for (const auto& [key, value] : args.items()) {
    if (key == "pool") o.pool(read<std::string>(value, key, what));
    else if (key == "channels") o.channels(read<int64_t>(value, key, what));
    else if (key == "dim_head") o.dim_head(read<int64_t>(value, key, what));
    else if (key == "dropout") o.dropout(read<double>(value, key, what));
    else if (key == "emb_dropout") o.emb_dropout(read<double>(value, key, what));
    else if (key == "layout") o.layout(read<std::string>(value, key, what));
    else TORCH_CHECK(key == "image_size" || key == "patch_size" || key == "num_classes" || key == "dim" || key == "depth" ||
                         key == "heads" || key == "mlp_dim",
                     what, " unsupported vit_pytorch argument '", key, "' = ", value.dump());
  }
  return o;
}

std::string vit_pytorch_args(const ViTOptions& o) {
  return json{{"image_size", pair_json(o.image_size())}, {"patch_size", pair_json(o.patch_size())},
              {"num_classes", o.num_classes()},          {"dim", o.dim()},
              {"depth", o.depth()},                      {"heads", o.heads()},
              {"mlp_dim", o.mlp_dim()},                  {"pool", o.pool()},
              {"channels", o.channels()},                {"dim_head", o.dim_head()},
              {"dropout", o.dropout()},                  {"emb_dropout", o.emb_dropout()}}
      .dump();
}

}  // namespace vit
