#include "common.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

namespace vit::cli {

std::map<std::string, CLI::Option*> add_fields(CLI::App& app, const detail::Fields& fields,
                                               const std::vector<std::string>& only) {
  std::map<std::string, CLI::Option*> out;
  for (const auto& field : fields) {
    const std::string name = field.name;
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    std::string flag = "--" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const auto set = [field, flag](const CLI::results_t& values) {
      try {
        detail::set_from_string(field, values.back(), flag);
      } catch (const c10::Error& e) {
        throw UsageError(e.what_without_backtrace());
      }
      return true;
    };
    auto* option = app.add_option(flag, set, std::string(field.doc) + " (default " + detail::value_json(field) + ")");
    std::string type = field.kind == detail::Kind::kBool ? "0|1" : "VALUE";
    if (!field.check.choices.empty()) {
      type.clear();
      for (const auto& choice : field.check.choices) type += (type.empty() ? "" : "|") + choice;
    }
    option->type_name(type);
    out[name] = option;
  }
  return out;
}

void ModelFlags::add(CLI::App& app, bool zoo_names, const std::vector<std::string>& only) {
  zoo = zoo_names;
  app.add_option("--model", model,
                 zoo ? "checkpoint directory (or a weights file next to its config.json), or a zoo name (random weights)"
                     : "checkpoint directory, or a weights file next to its config.json")
      ->required();
  add_fields(app, fields(), only);
}

torch::Device ModelFlags::torch_device() const {
  const auto& d = device();
  TORCH_CHECK(!d.is_cuda() || torch::cuda::is_available(), "--device ", d, ": CUDA is not available (LibTorch without CUDA, or no GPU)");
  TORCH_CHECK(!d.is_cuda() || !d.has_index() || d.index() < static_cast<int>(torch::cuda::device_count()), "--device ", d,
              ": only ", torch::cuda::device_count(), " CUDA device(s)");
  return d;
}

torch::ScalarType ModelFlags::torch_dtype() const {
  const auto t = dtype() == "bfloat16" ? torch::kBFloat16 : dtype() == "float16" ? torch::kFloat16 : torch::kFloat32;
  TORCH_CHECK(dtype() != "int8" || !torch_device().is_cuda(), "--dtype int8 runs on the CPU (oneDNN), not --device cuda");
  TORCH_CHECK(t != torch::kFloat16 || torch_device().is_cuda(),
              "--dtype float16 needs --device cuda (LibTorch's CPU kernels lack float16); use bfloat16 on the CPU");
  return t;
}

void set_threads(std::optional<int64_t> threads) {
  torch::set_num_threads(static_cast<int>(threads.value_or(std::max(1u, std::thread::hardware_concurrency()))));
}

Pretrained ModelFlags::load(std::string* backend_name) const {
  set_threads(threads());
  const auto d = torch_device();
  const auto t = torch_dtype();
  Pretrained p;
  if (!zoo || std::filesystem::exists(model)) {
    p = load_pretrained(model, LoadOptions().device(d).max_parameters(max_parameters()), t);
  } else {  // a zoo name ("[create_model] unknown architecture ..." for anything else)
    auto m = create_model(model, "{}", max_parameters());
    m->eval();
    m->to(d, t);
    p = make_pretrained(m, model);
    p.weights_format = "none (random weights from the zoo config)";
  }
  // The tool never needs the module's own block weights again: the engine's packed copies replace them.
  TORCH_CHECK(dtype() != "int8" || backend() == "auto" || backend() == "onednn",
              "--dtype int8 runs on the oneDNN engine (--backend auto or onednn), not --backend ", backend());
  const auto name = backend() == "plain" ? std::string("plain")
                                         : optimize_for_inference(p, InferenceOptions()
                                                                         .backend(backend())
                                                                         .quantize(dtype() == "int8" ? "int8" : "none")
                                                                         .release_module_weights(true));
  if (backend_name) *backend_name = name;
  return p;
}

std::string bar(int64_t done, int64_t total, int width) {
  const int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + std::to_string(done) + "/" +
         std::to_string(total);
}

std::string fixed(double v, int precision) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

}  // namespace vit::cli
