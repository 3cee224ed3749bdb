// vit info: what a checkpoint directory or a zoo model is.
#include "common.h"

#include <iostream>
#include <memory>

namespace vit::cli {

void add_info(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  auto* info = app.add_subcommand("info", "describe a checkpoint or zoo model");
  info->footer("Describes a checkpoint directory or a zoo model (vit_base_patch16_224, ...): "
               "architecture, options, parameters, GMACs at its input size, whether the fast engine runs "
               "its blocks, expected input and preprocessing, labels, weights format and dtype.");
  f->add(*info, /*zoo=*/true, {"max_parameters"});
  f->backend("plain");
  info->callback([f] {
    const auto p = f->load();
    const auto& cfg = p.pretrained_cfg;
    const auto& in = cfg.input_size();
    std::string options = c10::str(*p.module);
    options = options.substr(0, options.find('\n'));
    if (!options.empty() && options.back() == '(') options.pop_back();
    std::cout << p.architecture << "\n";
    std::cout << "  model        " << options << "\n";
    std::cout << "  parameters   " << fixed(count_parameters(*p.module) / 1e6, 2) << " M\n";
    std::cout << "  compute      " << fixed(p.module->count_macs(in[1], in[2]) / 1e9, 2) << " GMACs per image at " << in[0]
              << "x" << in[1] << "x" << in[2] << "\n";
    const auto unsupported = p.module->engine_unsupported();
    std::cout << "  engine       "
              << (unsupported.empty() ? std::string("InferenceModel runs the blocks (oneDNN on the CPU, else LibTorch ops)")
                                      : "the module runs the blocks (" + unsupported + " has no fast path)")
              << "\n";
    std::cout << "  input        " << in[0] << "x" << in[1] << "x" << in[2] << ", resize " << cfg.interpolation() << " to "
              << static_cast<int64_t>(in[1] / cfg.crop_pct()) << " (crop_pct " << cfg.crop_pct() << "), " << cfg.crop_mode()
              << " crop, mean [" << cfg.mean()[0] << ", " << cfg.mean()[1] << ", " << cfg.mean()[2] << "], std ["
              << cfg.std()[0] << ", " << cfg.std()[1] << ", " << cfg.std()[2] << "]\n";
    std::cout << "  classes      " << p.num_classes();
    if (!p.label_names.empty()) {
      std::cout << " (";
      for (size_t i = 0; i < std::min<size_t>(3, p.label_names.size()); ++i) std::cout << (i ? ", " : "") << p.label_names[i];
      std::cout << (p.label_names.size() > 3 ? ", ...)" : ")");
    } else {
      std::cout << " (no label names)";
    }
    std::cout << "\n";
    std::cout << "  weights      " << (p.weights_file.empty() ? "" : p.weights_file + " ") << "(" << p.weights_format
              << (p.weights_dtype.empty() ? "" : ", " + p.weights_dtype) << ")\n";
  });
}

}  // namespace vit::cli
