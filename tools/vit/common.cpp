#include "common.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

namespace vit::cli {

std::map<std::string, CLI::Option*> add_fields(CLI::App& app, const detail::Fields& fields,
                                               const std::vector<std::string>& only, const std::vector<std::string>& skip) {
  std::map<std::string, CLI::Option*> out;
  for (const auto& field : fields) {
    const std::string name = field.name;
    if ((!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) ||
        std::find(skip.begin(), skip.end(), name) != skip.end())
      continue;
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

void ModelFlags::add(CLI::App& app, bool zoo_names, bool with_backend) {
  zoo = zoo_names;
  app.add_option("--model", model,
                 zoo ? "checkpoint directory (or a weights file next to its config.json), or a zoo name (random weights)"
                     : "checkpoint directory, or a weights file next to its config.json")
      ->required();
  app.add_option("--device", device, "cpu or cuda[:N]")->capture_default_str()->check([](const std::string& text) {
    if (text == "cpu" || text == "cuda" || (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
                                           text.find_first_not_of("0123456789", 5) == std::string::npos))
      return std::string();
    return "--device must be cpu or cuda[:N], got '" + text + "'";
  });
  app.add_option("--dtype", dtype, "float32, bfloat16 or float16 (CUDA): weights converted once, input cast")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  app.add_option("--threads", threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 4096));
  if (with_backend) {
    app.add_option("--backend", backend,
                   "auto (oneDNN on the CPU when built with it, else LibTorch ops), onednn, torch, or plain (the "
                   "module's own forward, the reference path)")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "onednn", "torch", "plain"}));
  }
  app.add_option("--max-parameters", max_parameters, "refuse models larger than this")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

torch::Device ModelFlags::torch_device() const {
  const torch::Device d(device);
  TORCH_CHECK(!d.is_cuda() || torch::cuda::is_available(), "--device ", device,
              ": CUDA is not available (LibTorch without CUDA, or no GPU)");
  TORCH_CHECK(!d.is_cuda() || !d.has_index() || d.index() < static_cast<int>(torch::cuda::device_count()), "--device ",
              device, ": only ", torch::cuda::device_count(), " CUDA device(s)");
  return d;
}

torch::ScalarType ModelFlags::torch_dtype() const {
  const auto t = dtype == "bfloat16" ? torch::kBFloat16 : dtype == "float16" ? torch::kFloat16 : torch::kFloat32;
  TORCH_CHECK(t != torch::kFloat16 || torch_device().is_cuda(),
              "--dtype float16 needs --device cuda (LibTorch's CPU kernels lack float16); use bfloat16 on the CPU");
  return t;
}

Pretrained ModelFlags::load(std::string* backend_name) const {
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const auto d = torch_device();
  const auto t = torch_dtype();
  Pretrained p;
  if (!zoo || std::filesystem::exists(model)) {
    p = load_pretrained(model, LoadOptions().device(d).max_parameters(max_parameters), t);
  } else {  // a zoo name ("[create_model] unknown architecture ..." for anything else)
    auto m = create_model(model, "{}", max_parameters);
    m->eval();
    m->to(d, t);
    p = make_pretrained(m, model);
    p.weights_format = "none (random weights from the zoo config)";
  }
  // The tool never needs the module's own block weights again: the engine's packed copies replace them.
  const auto name = backend == "plain"
                        ? std::string("plain")
                        : optimize_for_inference(p, InferenceOptions().backend(backend).release_module_weights(true));
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
