// vit run: a checkpoint's logits for the tensor 'input' of a safetensors file.
#include "common.h"

#include <memory>

namespace vit::cli {

void add_run(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string input, output;
    bool features = false;
  };
  auto f = std::make_shared<Flags>();
  auto* run = app.add_subcommand("run", "run a checkpoint on a safetensors input and write its logits");
  run->footer("Runs a checkpoint directory (config.json + model.safetensors | pytorch_model.bin | "
              "*.pth) on the tensor 'input' (N, C, H, W) of a safetensors file and writes the tensor "
              "'logits' (N, num_classes, float32); a distilled model gives the mean of its two heads.");
  f->model.add(*run, /*zoo=*/false);
  run->add_option("--input", f->input, "safetensors file with a tensor named 'input'")->required();
  run->add_option("--output", f->output, "safetensors file to write, with a tensor named 'logits'")->required();
  run->add_flag("--features", f->features,
                "write the pooled pre-logits features as 'features' (N, num_features) instead of the logits "
                "(runs the module's own layers)");
  run->callback([f] {
    const auto inputs = load_safetensors(f->input);
    TORCH_CHECK(inputs.contains("input"), "'", f->input, "' has no tensor named 'input'");
    const auto& input = inputs.at("input");
    TORCH_CHECK(input.dim() == 4, "'", f->input, "': input must be (N, C, H, W), got shape ", input.sizes());
    TORCH_CHECK(input.is_floating_point(), "'", f->input, "': input must be floating point, got ", input.scalar_type());
    if (f->features) f->model.backend("plain");
    const auto model = f->model.load();
    torch::InferenceMode inference;
    const auto x = input.to(f->model.torch_device(), f->model.torch_dtype());
    if (f->features) {
      const auto features = model.module->forward_head(model.module->forward_features(x), /*pre_logits=*/true);
      save_safetensors(f->output, {{"features", features.to(torch::kCPU, torch::kFloat32)}});
      return;
    }
    const auto logits = model.forward(x).to(torch::kCPU, torch::kFloat32);
    save_safetensors(f->output, {{"logits", logits}});
  });
}

}  // namespace vit::cli
