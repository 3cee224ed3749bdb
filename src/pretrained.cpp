#include "vit/pretrained.h"

#include "vit/init.h"
#include "vit/safetensors.h"
#include "vit/torch_save.h"
#include "vit/zoo.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace vit {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// load_state_dict

std::string LoadReport::str() const {
  std::ostringstream out;
  auto list = [&](const std::vector<std::string>& items, const char* label) {
    if (items.empty()) return;
    if (out.tellp() > 0) out << "; ";
    out << items.size() << " " << label << " (";
    for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
    out << ")";
  };
  list(missing, "missing");
  list(unexpected, "unexpected");
  list(mismatched, "mis-shaped");
  return out.str();
}

torch::Tensor linear_to_conv_patch_weight(const torch::Tensor& weight, int64_t channels, int64_t p1, int64_t p2) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == channels * p1 * p2, "[linear_to_conv_patch_weight] weight ",
              weight.sizes(), " is not (D, ", p1, "*", p2, "*", channels, ")");
  return weight.reshape({weight.size(0), p1, p2, channels}).permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor conv_to_linear_patch_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4, "[conv_to_linear_patch_weight] weight ", weight.sizes(), " is not (D, C, P1, P2)");
  return weight.permute({0, 2, 3, 1}).reshape({weight.size(0), -1}).contiguous();
}

namespace {

// A patch weight in the other family's form, converted to the model's (else undefined).
torch::Tensor convert_patch_weight(const torch::Tensor& given, const torch::Tensor& target) {
  if (given.dim() == 2 && target.dim() == 4 && given.numel() == target.numel() && given.size(0) == target.size(0))
    return linear_to_conv_patch_weight(given, target.size(1), target.size(2), target.size(3));
  if (given.dim() == 4 && target.dim() == 2 && given.numel() == target.numel() && given.size(0) == target.size(0))
    return conv_to_linear_patch_weight(given);
  return {};
}

}  // namespace

namespace {

LoadReport load_state_dict_impl(torch::nn::Module& module, StateDict& state, bool strict, const std::string& what,
                                bool adopt) {
  auto targets = module.named_parameters();
  for (const auto& b : module.named_buffers()) targets.insert(b.key(), b.value());
  for (auto& [name, tensor] : state) {
    const bool patch = name == "patch_embed.proj.weight" || name.rfind("to_patch_embedding.", 0) == 0;
    if (patch && targets.contains(name) && tensor.sizes() != targets[name].sizes()) {
      if (auto converted = convert_patch_weight(tensor, targets[name]); converted.defined()) tensor = converted;
    }
  }
  std::map<std::string, const torch::Tensor*> given;
  LoadReport report;
  for (const auto& [name, tensor] : state) {
    if (!given.emplace(name, &tensor).second) report.unexpected.push_back(name + " (twice)");
  }
  for (const auto& item : targets) {
    const auto it = given.find(item.key());
    if (it == given.end()) {
      report.missing.push_back(item.key());
    } else if (it->second->sizes() != item.value().sizes()) {
      report.mismatched.push_back(item.key() + ": checkpoint " + c10::str(it->second->sizes()) + " vs model " +
                                  c10::str(item.value().sizes()));
    }
  }
  for (const auto& [name, tensor] : given)
    if (!targets.contains(name)) report.unexpected.push_back(name);
  TORCH_CHECK(!strict || report.ok(), what, " checkpoint has ", state.size(), " tensors, model expects ",
              targets.size(), ": ", report.str());
  std::map<const c10::StorageImpl*, int> storage_uses;
  for (const auto& [name, tensor] : given) ++storage_uses[tensor->storage().unsafeGetStorageImpl()];
  torch::NoGradGuard no_grad;
  for (auto& item : targets) {
    const auto it = given.find(item.key());
    if (it == given.end() || it->second->sizes() != item.value().sizes()) continue;
    const torch::Tensor& source = *it->second;
    torch::Tensor& target = item.value();
    const bool adoptable = adopt && source.scalar_type() == target.scalar_type() &&
                           source.device() == target.device() && source.is_contiguous() &&
                           storage_uses[source.storage().unsafeGetStorageImpl()] == 1;
    if (adoptable) {
      target.set_data(source);
    } else {
      target.copy_(source);
    }
  }
  return report;
}

}  // namespace

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict, const std::string& what) {
  StateDict copy = state;
  return load_state_dict_impl(module, copy, strict, what, /*adopt=*/false);
}

LoadReport load_state_dict(torch::nn::Module& module, StateDict&& state, bool strict, const std::string& what) {
  return load_state_dict_impl(module, state, strict, what, /*adopt=*/true);
}

// ---------------------------------------------------------------------------------------------
// weights files

StateDict read_weights(const std::string& path, std::string* format) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "[read_weights] '", path, "': cannot open");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (magic[0] == 'P' && magic[1] == 'K') {
    if (format) *format = "torch.save";
    return load_torch_save(path);
  }
  if (format) *format = "safetensors";
  return load_safetensors(path).tensors;
}

namespace {

// Removes a DataParallel / DistributedDataParallel "module." prefix when every key has it.
void strip_module_prefix(StateDict& state) {
  const std::string prefix = "module.";
  const bool all = !state.empty() && std::all_of(state.begin(), state.end(), [&](const auto& kv) {
    return kv.first.rfind(prefix, 0) == 0;
  });
  if (all)
    for (auto& kv : state) kv.first = kv.first.substr(prefix.size());
}

const torch::Tensor* find(const StateDict& state, const std::string& name) {
  for (const auto& kv : state)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

bool has_prefix(const StateDict& state, const std::string& prefix) {
  return std::any_of(state.begin(), state.end(), [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
}

// timm options the weights themselves show, for the keys config.json leaves out (config wins).
void infer_timm_args(const StateDict& state, json& args) {
  auto set = [&](const char* key, json value) {
    if (!args.contains(key)) args[key] = std::move(value);
  };
  if (const auto* w = find(state, "pre_logits.fc.weight")) set("representation_size", w->size(0));
  if (find(state, "blocks.0.attn.qkv.weight") && !find(state, "blocks.0.attn.qkv.bias")) set("qkv_bias", false);
  if (!find(state, "cls_token")) set("class_token", false);
  if (find(state, "dist_token")) set("distilled", true);
  if (const auto* r = find(state, "reg_token")) set("reg_tokens", r->size(1));
  if (find(state, "blocks.0.ls1.gamma")) set("init_values", 1.0);  // any value: gamma comes from the weights
  if (find(state, "blocks.0.attn.q_norm.weight")) set("qk_norm", true);
  if (find(state, "norm_pre.weight")) set("pre_norm", true);
  if (find(state, "fc_norm.weight") && !args.contains("global_pool")) set("global_pool", "avg");
  if (!find(state, "norm.weight") && !find(state, "fc_norm.weight") && has_prefix(state, "blocks.")) set("final_norm", false);
  if (const auto* w = find(state, "head.weight")) set("num_classes", w->size(0));
  if (!find(state, "head.weight") && has_prefix(state, "blocks.")) set("num_classes", 0);
}

// Resamples a checkpoint's pos_embed to the model's grid, as timm's checkpoint_filter_fn does.
void adapt_pos_embed(StateDict& state, const VisionTransformerImpl& model) {
  for (auto& [name, tensor] : state) {
    if (name != "pos_embed" || tensor.sizes() == model.pos_embed.sizes() || tensor.dim() != 3) continue;
    const int64_t prefix = model.options.no_embed_class() ? 0 : model.num_prefix_tokens();
    tensor = resample_abs_pos_embed(tensor, model.patch_embed->grid_size(), std::nullopt, prefix);
  }
}

std::string dtype_name(const StateDict& state) {
  for (const auto& kv : state)
    if (kv.second.is_floating_point()) return c10::toString(kv.second.scalar_type());
  return "none";
}

fs::path pick_weights(const fs::path& dir) {
  for (const char* name : {"model.safetensors", "pytorch_model.bin"})
    if (fs::is_regular_file(dir / name)) return dir / name;
  std::vector<fs::path> candidates;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".pth" || ext == ".pt" || ext == ".safetensors" || ext == ".bin"))
      candidates.push_back(entry.path());
  }
  TORCH_CHECK(!candidates.empty(), "[load_pretrained] '", dir.string(),
              "': no weights (model.safetensors, pytorch_model.bin, *.pth or *.pt)");
  TORCH_CHECK(candidates.size() == 1, "[load_pretrained] '", dir.string(), "': ", candidates.size(),
              " weight files and none is model.safetensors or pytorch_model.bin; pass the file's path");
  return candidates.front();
}

template <typename T, size_t N>
std::array<T, N> read_array(const json& cfg, const char* key, std::array<T, N> fallback, const std::string& what) {
  if (!cfg.contains(key)) return fallback;
  const auto& v = cfg.at(key);
  TORCH_CHECK(v.is_array() && v.size() == N && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); }),
              what, " pretrained_cfg '", key, "' must be a list of ", N, " numbers, got ", v.dump());
  std::array<T, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = v[i].get<T>();
  return out;
}

PretrainedCfg parse_pretrained_cfg(const json& cfg, const PretrainedCfg& fallback, const std::string& what) {
  TORCH_CHECK(cfg.is_object(), what, " pretrained_cfg must be an object");
  PretrainedCfg out = fallback;
  out.input_size = read_array<int64_t, 3>(cfg, "input_size", fallback.input_size, what);
  out.mean = read_array<double, 3>(cfg, "mean", fallback.mean, what);
  out.std = read_array<double, 3>(cfg, "std", fallback.std, what);
  if (cfg.contains("crop_pct") && cfg["crop_pct"].is_number()) out.crop_pct = cfg["crop_pct"].get<double>();
  if (cfg.contains("interpolation") && cfg["interpolation"].is_string()) out.interpolation = cfg["interpolation"];
  if (cfg.contains("crop_mode") && cfg["crop_mode"].is_string()) out.crop_mode = cfg["crop_mode"];
  return out;
}

json cfg_json(const PretrainedCfg& c) {
  return json{{"input_size", c.input_size}, {"interpolation", c.interpolation}, {"crop_pct", c.crop_pct},
              {"crop_mode", c.crop_mode},   {"mean", c.mean},                   {"std", c.std}};
}

std::function<torch::Tensor(const torch::Tensor&)> forward_of(const std::shared_ptr<torch::nn::Module>& module) {
  if (auto timm = std::dynamic_pointer_cast<VisionTransformerImpl>(module))
    return [timm](const torch::Tensor& x) { return timm->forward(x); };
  if (auto lucid = std::dynamic_pointer_cast<vit_pytorch::ViTImpl>(module))
    return [lucid](const torch::Tensor& x) { return lucid->forward(x); };
  TORCH_CHECK(false, "[Pretrained] module is neither a vit::VisionTransformer nor a vit::ViT");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// model statistics

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

int64_t count_macs(const torch::nn::Module& model, int64_t height, int64_t width) {
  if (const auto* timm = dynamic_cast<const VisionTransformerImpl*>(&model)) {
    const auto& o = timm->options;
    const int64_t P0 = o.patch_size()->at(0), P1 = o.patch_size()->at(1), D = o.embed_dim();
    const int64_t N = (height / P0) * (width / P1), T = N + timm->num_prefix_tokens();
    const auto H = static_cast<int64_t>(static_cast<double>(D) * o.mlp_ratio());
    int64_t macs = N * D * o.in_chans() * P0 * P1;
    macs += o.depth() * (T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * H);
    if (timm->has_pre_logits()) macs += D * timm->num_features();
    macs += timm->num_features() * o.num_classes() * (o.distilled() ? 2 : 1);
    return macs;
  }
  const auto* lucid = dynamic_cast<const vit_pytorch::ViTImpl*>(&model);
  TORCH_CHECK(lucid, "[count_macs] not a vit::VisionTransformer or vit::ViT");
  const auto& o = lucid->options;
  const int64_t N = (height / o.patch_size()->at(0)) * (width / o.patch_size()->at(1)), T = N + lucid->num_cls_tokens();
  const int64_t inner = o.heads() * o.dim_head(), D = o.dim();
  const bool project_out = !(o.heads() == 1 && o.dim_head() == D);
  int64_t macs = N * lucid->patch_dim() * D;
  macs += o.depth() * (T * D * 3 * inner + 2 * T * T * inner + (project_out ? T * inner * D : 0) + 2 * T * D * o.mlp_dim());
  return macs + D * o.num_classes();
}

// ---------------------------------------------------------------------------------------------
// load_pretrained / save_pretrained

Pretrained load_pretrained(const std::string& path_, const torch::Device& device, std::optional<torch::ScalarType> dtype) {
  const fs::path path(path_);
  TORCH_CHECK(fs::exists(path), "[load_pretrained] '", path_, "': no such file or directory");
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config_path = dir / "config.json";
  const std::string what = "[load_pretrained] '" + config_path.string() + "':";
  TORCH_CHECK(fs::is_regular_file(config_path), "[load_pretrained] '", dir.string(), "': no config.json");
  json config;
  {
    std::ifstream in(config_path);
    try {
      config = json::parse(in);
    } catch (const json::exception& e) {
      TORCH_CHECK(false, what, " not valid JSON (", e.what(), ")");
    }
  }
  TORCH_CHECK(config.is_object() && config.contains("architecture") && config["architecture"].is_string(), what,
              " needs a string 'architecture'");

  Pretrained out;
  out.architecture = config["architecture"].get<std::string>();
  json args = config.value("model_args", json::object());
  TORCH_CHECK(args.is_object(), what, " model_args must be an object");

  const fs::path weights = fs::is_directory(path) ? pick_weights(dir) : path;
  out.weights_file = weights.string();
  StateDict state = read_weights(out.weights_file, &out.weights_format);
  strip_module_prefix(state);
  out.weights_dtype = dtype_name(state);

  const std::string load_what = "[load_pretrained] '" + out.weights_file + "':";
  if (out.architecture == "vit_pytorch") {
    // The keys tell the vit-pytorch version: 0.35.x (PreNorm), 1.0.x (dual patch norm), current (norms in blocks).
    if (!args.contains("layout")) {
      args["layout"] = has_prefix(state, "transformer.norm.")      ? "current"
                       : has_prefix(state, "to_patch_embedding.3.") ? "1.0"
                                                                     : "0.35";
    }
    auto model = vit_pytorch::ViT(vit_pytorch_options(args.dump(), what));
    for (auto& [name, tensor] : state) {  // some "current" releases keep a leading batch dim of 1 on the tokens
      if ((name == "cls_token" || name == "pos_embedding") && tensor.dim() == 3 && tensor.size(0) == 1 &&
          args["layout"] == "current")
        tensor = tensor.squeeze(0);
    }
    load_state_dict(*model, std::move(state), /*strict=*/true, load_what);
    out.num_classes = model->options.num_classes();
    out.module = model.ptr();
  } else {
    // Top-level num_classes / global_pool are defaults that model_args override, as in timm's hub loader.
    for (const char* key : {"num_classes", "global_pool"})
      if (config.contains(key) && !args.contains(key)) args[key] = config[key];
    infer_timm_args(state, args);
    auto options = apply_model_args(model_options(out.architecture), args.dump(), what);
    auto model = [&] {
      const SkipInitGuard skip;  // the strict load below overwrites every weight
      return VisionTransformer(options);
    }();
    adapt_pos_embed(state, *model);
    load_state_dict(*model, std::move(state), /*strict=*/true, load_what);
    out.num_classes = options.num_classes();
    out.module = model.ptr();
  }
  out.model_args = args.dump();
  PretrainedCfg defaults;
  if (auto timm = std::dynamic_pointer_cast<VisionTransformerImpl>(out.module)) {
    defaults.input_size = {timm->options.in_chans(), timm->options.img_size()->at(0), timm->options.img_size()->at(1)};
  } else if (auto lucid = std::dynamic_pointer_cast<vit_pytorch::ViTImpl>(out.module)) {
    defaults.input_size = {lucid->options.channels(), lucid->options.image_size()->at(0), lucid->options.image_size()->at(1)};
  }
  out.pretrained_cfg = parse_pretrained_cfg(config.value("pretrained_cfg", json::object()), defaults, what);
  if (config.contains("label_names")) {
    const auto& labels = config["label_names"];
    TORCH_CHECK(labels.is_array() && std::all_of(labels.begin(), labels.end(), [](const json& l) { return l.is_string(); }),
                what, " label_names must be a list of strings");
    out.label_names = labels.get<std::vector<std::string>>();
  }
  out.module->eval();
  out.module->to(device);
  if (dtype) out.module->to(*dtype);
  out.forward = forward_of(out.module);
  return out;
}

Pretrained make_pretrained(const std::shared_ptr<torch::nn::Module>& module, std::string architecture,
                           std::vector<std::string> label_names, std::optional<PretrainedCfg> cfg) {
  Pretrained out;
  out.module = module;
  out.forward = forward_of(module);
  out.label_names = std::move(label_names);
  if (auto timm = std::dynamic_pointer_cast<VisionTransformerImpl>(module)) {
    if (architecture.empty())
      architecture = timm->options.distilled() ? "deit_base_distilled_patch16_224" : "vit_base_patch16_224";
    out.model_args = model_args_diff(timm->options, model_options(architecture));
    out.num_classes = timm->options.num_classes();
    out.pretrained_cfg.input_size = {timm->options.in_chans(), timm->options.img_size()->at(0), timm->options.img_size()->at(1)};
  } else {
    auto lucid = std::dynamic_pointer_cast<vit_pytorch::ViTImpl>(module);
    architecture = "vit_pytorch";
    out.model_args = vit_pytorch_args(lucid->options);
    out.num_classes = lucid->options.num_classes();
    out.pretrained_cfg.input_size = {lucid->options.channels(), lucid->options.image_size()->at(0), lucid->options.image_size()->at(1)};
  }
  out.architecture = architecture;
  if (cfg) out.pretrained_cfg = *cfg;
  return out;
}

void save_pretrained(const Pretrained& model, const std::string& dir_) {
  TORCH_CHECK(model.module, "[save_pretrained] no module");
  for (const auto& p : model.module->named_parameters()) {  // released Linear weights are 1-D and empty
    TORCH_CHECK(p.value().dim() != 1 || p.value().numel() > 0, "[save_pretrained] parameter '", p.key(), "' is empty: its weights were "
                "released to an InferenceModel (release_module_weights); load the checkpoint again to save it");
  }
  const fs::path dir(dir_);
  std::error_code ec;
  fs::create_directories(dir, ec);
  TORCH_CHECK(!ec && fs::is_directory(dir), "[save_pretrained] '", dir_, "': cannot create directory (", ec.message(), ")");
  json config;
  config["architecture"] = model.architecture;
  config["num_classes"] = model.num_classes;
  if (auto timm = std::dynamic_pointer_cast<VisionTransformerImpl>(model.module)) {
    config["num_features"] = timm->num_features();
    config["global_pool"] = timm->options.global_pool();
  } else {
    config["num_features"] = std::dynamic_pointer_cast<vit_pytorch::ViTImpl>(model.module)->options.dim();
  }
  config["model_args"] = json::parse(model.model_args);
  auto cfg = cfg_json(model.pretrained_cfg);
  cfg["num_classes"] = model.num_classes;
  config["pretrained_cfg"] = cfg;
  if (!model.label_names.empty()) config["label_names"] = model.label_names;
  {
    std::ofstream out(dir / "config.json");
    TORCH_CHECK(out, "[save_pretrained] '", (dir / "config.json").string(), "': cannot write");
    out << config.dump(2) << "\n";
  }
  StateDict state;
  for (const auto& p : model.module->named_parameters()) state.emplace_back(p.key(), p.value());
  for (const auto& b : model.module->named_buffers()) state.emplace_back(b.key(), b.value());
  save_safetensors((dir / "model.safetensors").string(), state, {{"format", "pt"}});
}

}  // namespace vit
