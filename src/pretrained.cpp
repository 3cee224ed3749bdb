#include "vit/pretrained.h"

#include "vit/inference.h"
#include "vit/init.h"
#include "vit/safetensors.h"

#include "families.h"
#include "io.h"

#include <algorithm>
#include <filesystem>

namespace vit {

namespace fs = std::filesystem;
using detail::Json;

torch::Tensor Pretrained::forward(const torch::Tensor& images) const {
  TORCH_CHECK(module, "[Pretrained] no model");
  return engine ? engine->forward(images) : module->forward(images);
}

int64_t Pretrained::num_classes() const {
  TORCH_CHECK(module, "[Pretrained] no model");
  return module->num_classes();
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

// config.json's top level, checked before anything else is read: each value's type, and the lengths
// of what it lists. Keys vitcpp does not use (timm's label_descriptions, ...) are ignored.
struct HubConfig {
  std::string architecture;
  Json model_args = Json::object();
  Json pretrained_cfg = Json::object();
  Json top_level_args = Json::object();
  std::vector<std::string> label_names;
};

// The zoo's errors about what config.json asks for, prefixed with the file's name.
template <typename F>
decltype(auto) in_config(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, what, " ", e.what_without_backtrace());
  }
}

HubConfig read_config(const fs::path& path) {
  const std::string what = "[load_pretrained] '" + path.string() + "':";
  const auto config = detail::read_json_file(path.string(), what);
  TORCH_CHECK(config.is_object(), what, " expected a JSON object, got ", config.type_name());
  auto field = [&](const char* key, bool (Json::*is)() const noexcept, const char* type) -> const Json* {
    if (!config.contains(key)) return nullptr;
    const auto& v = config.at(key);
    TORCH_CHECK((v.*is)(), what, " '", key, "' must be ", type, ", got ", detail::json_excerpt(v));
    return &v;
  };
  HubConfig out;
  const auto* name = field("architecture", &Json::is_string, "a string");
  TORCH_CHECK(name, what, " needs a string 'architecture'");
  out.architecture = name->get<std::string>();
  if (const auto* args = field("model_args", &Json::is_object, "an object")) out.model_args = *args;
  if (const auto* cfg = field("pretrained_cfg", &Json::is_object, "an object")) out.pretrained_cfg = *cfg;
  for (const char* key : {"num_classes", "global_pool"})  // timm's defaults of model_args, for families that take them
    if (config.contains(key)) out.top_level_args[key] = config.at(key);
  field("num_features", &Json::is_number_integer, "an integer");  // written by timm, implied by the model
  if (const auto* labels = field("label_names", &Json::is_array, "a list of strings")) {
    TORCH_CHECK(labels->size() <= (size_t{1} << 26), what, " label_names has ", labels->size(), " entries");
    for (const auto& label : *labels) {
      TORCH_CHECK(label.is_string(), what, " label_names must be a list of strings, got an entry ", detail::json_excerpt(label));
      out.label_names.push_back(label.get<std::string>());
    }
  }
  return out;
}

// Another num_classes than the checkpoint's (timm's load_pretrained with num_classes): the
// checkpoint's classifier tensors are dropped and the model's are initialised as timm's
// init_weights does (normal std 0.02 truncated at +-2, bias 0). Returns their names.
std::vector<std::string> new_classifier(Model& model, StateDict& state, bool num_classes_given) {
  if (!num_classes_given) return {};
  const auto classifier = model.classifier();
  const auto inside = [&](const std::string& key) {
    return std::any_of(classifier.begin(), classifier.end(), [&](const std::string& c) { return key.rfind(c + ".", 0) == 0; });
  };
  auto params = model.named_parameters();
  const bool differs = std::any_of(state.begin(), state.end(), [&](const auto& kv) {
    return inside(kv.first) && (!params.contains(kv.first) || params[kv.first].sizes() != kv.second.sizes());
  }) || std::none_of(state.begin(), state.end(), [&](const auto& kv) { return inside(kv.first); });
  if (!differs) return {};
  state.erase(std::remove_if(state.begin(), state.end(), [&](const auto& kv) { return inside(kv.first); }), state.end());
  std::vector<std::string> out;
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    if (!inside(p.key())) continue;
    if (p.value().dim() > 1) trunc_normal_(p.value(), 0., .02);
    else p.value().zero_();
    out.push_back(p.key());
  }
  return out;
}

}  // namespace

Pretrained load_pretrained(const std::string& path_, const LoadOptions& options, std::optional<torch::ScalarType> dtype) {
  check_options(options, "[load_pretrained]");
  TORCH_CHECK(!dtype || *dtype == torch::kFloat32 || *dtype == torch::kBFloat16 || *dtype == torch::kFloat16 ||
                  *dtype == torch::kFloat64,
              "[load_pretrained] dtype must be a floating-point type, got ", *dtype);
  const fs::path path(path_);
  TORCH_CHECK(fs::exists(path), "[load_pretrained] '", path_, "': no such file or directory");
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config_path = dir / "config.json";
  TORCH_CHECK(fs::is_regular_file(config_path), "[load_pretrained] '", dir.string(), "': no config.json");
  const std::string what = "[load_pretrained] '" + config_path.string() + "':";
  auto config = read_config(config_path);
  const auto& arch = in_config(what, [&]() -> const Architecture& { return architecture(config.architecture); });
  // Top-level num_classes / global_pool are defaults that model_args override, as in timm's hub loader.
  for (const auto& key : detail::family(arch.family).hub_keys)
    if (config.top_level_args.contains(key) && !config.model_args.contains(key)) config.model_args[key] = config.top_level_args[key];
  const auto overrides = detail::parse_json(options.model_args(), "[load_pretrained] model_args:");
  TORCH_CHECK(overrides.is_object(), "[load_pretrained] model_args must be a JSON object, got ", detail::json_excerpt(overrides));
  for (const auto& [key, value] : overrides.items()) config.model_args[key] = value;
  // the pretrained_cfg is checked before the weights are touched; its input size defaults to the model's
  auto cfg = pretrained_cfg_from_json(config.pretrained_cfg.dump(), arch.pretrained_cfg, what);

  Pretrained out;
  out.architecture = arch.name;
  const fs::path weights = fs::is_directory(path) ? pick_weights(dir) : path;
  out.weights_file = weights.string();
  StateDict state = read_weights(out.weights_file, &out.weights_format);
  strip_module_prefix(state);
  out.weights_dtype = dtype_name(state);

  detail::family(arch.family).args_from_weights(state, config.model_args);
  const auto target = dtype.value_or(torch::kFloat32);
  {
    const SkipInitGuard skip(target);  // the strict load below overwrites every weight
    out.module = in_config(what, [&] { return create_model(arch.name, config.model_args.dump(), options.max_parameters()); });
  }
  out.module->to(target);  // what the model's layers allocated in float32 (norms, the patch conv)
  out.module->checkpoint_filter_fn(state);
  const auto fresh = new_classifier(*out.module, state, overrides.contains("num_classes"));
  const auto report = load_state_dict(*out.module, std::move(state), /*strict=*/fresh.empty(),
                                      "[load_pretrained] '" + out.weights_file + "':");
  const bool only_fresh = report.unexpected.empty() && report.mismatched.empty() &&
                          std::all_of(report.missing.begin(), report.missing.end(), [&](const std::string& key) {
                            return std::find(fresh.begin(), fresh.end(), key) != fresh.end();
                          });
  TORCH_CHECK(only_fresh, "[load_pretrained] '", out.weights_file, "': ", report.str());
  out.module->to(options.device());
  out.module->eval();

  const auto size = out.module->input_size();
  if (!config.pretrained_cfg.contains("input_size")) cfg.input_size({size[0], size[1], size[2]});
  TORCH_CHECK(cfg.input_size()[0] == size[0], what, " pretrained_cfg input_size ", detail::Json(cfg.input_size()).dump(),
              " has ", cfg.input_size()[0], " channels, the model takes ", size[0]);
  cfg.num_classes(out.module->num_classes());
  out.pretrained_cfg = cfg;
  if (!fresh.empty()) config.label_names.clear();  // they named the checkpoint's classes
  TORCH_CHECK(config.label_names.empty() || static_cast<int64_t>(config.label_names.size()) == out.num_classes(), what,
              " label_names has ", config.label_names.size(), " entries, the model has ", out.num_classes(), " classes");
  out.label_names = std::move(config.label_names);
  return out;
}

Pretrained load_pretrained(const std::string& path, const torch::Device& device, std::optional<torch::ScalarType> dtype) {
  return load_pretrained(path, LoadOptions().device(device), dtype);
}

Pretrained make_pretrained(ModelPtr model, std::string architecture_name, std::vector<std::string> label_names,
                           std::optional<PretrainedCfg> cfg) {
  TORCH_CHECK(model, "[make_pretrained] model is null");
  if (architecture_name.empty()) architecture_name = base_architecture(*model);
  const auto& arch = architecture(architecture_name);
  TORCH_CHECK(arch.family == model->family(), "[make_pretrained] a ", model->family(), " model cannot be saved as '",
              arch.name, "', a ", arch.family);
  TORCH_CHECK(label_names.empty() || static_cast<int64_t>(label_names.size()) == model->num_classes(),
              "[make_pretrained] ", label_names.size(), " label names for ", model->num_classes(), " classes");
  Pretrained out;
  out.architecture = arch.name;
  out.module = std::move(model);
  out.label_names = std::move(label_names);
  const auto size = out.module->input_size();
  out.pretrained_cfg = cfg ? *cfg : PretrainedCfg(arch.pretrained_cfg).input_size({size[0], size[1], size[2]});
  out.pretrained_cfg.num_classes(out.module->num_classes());
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
  const auto& m = *model.module;
  Json config;
  config["architecture"] = model.architecture;
  config["num_classes"] = m.num_classes();
  config["num_features"] = m.num_features();
  config["global_pool"] = m.global_pool();
  config["model_args"] = detail::parse_json(model_args_diff(m, model.architecture), "[save_pretrained]");
  auto cfg = model.pretrained_cfg;
  cfg.num_classes(m.num_classes());
  config["pretrained_cfg"] = detail::parse_json(options_to_json(cfg), "[save_pretrained]");
  if (!model.label_names.empty()) config["label_names"] = model.label_names;
  const auto config_path = (dir / "config.json").string();
  detail::write_atomically(config_path, [&](std::ostream& out) { out << config.dump(2) << "\n"; },
                           "[save_pretrained] '" + config_path + "':");
  StateDict state;
  for (const auto& p : m.named_parameters()) state.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers()) state.emplace_back(b.key(), b.value());
  save_safetensors((dir / "model.safetensors").string(), state, {{"format", "pt"}});
}

}  // namespace vit
