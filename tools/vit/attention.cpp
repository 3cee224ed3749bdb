// vit attention: where a model looks, as a heat map over the image.
#include "common.h"

#include <iostream>
#include <memory>

namespace vit::cli {

#define VIT_CLI_ATTENTION_FLAGS(X)                                                                               \
  X(std::string, output, "attention.png", Any(), "PNG file to write")                                              \
  X(std::string, method, "cls", OneOf("cls", "rollout"),                                                           \
    "cls: the class token's attention in the last block (attention pooling's query without a class token); "     \
    "rollout: attention rollout through every block")                                                            \
  X(double, alpha, 0.5, Range(0., 1.), "opacity of the heat map")

struct AttentionFlags {
  VIT_OPTIONS(AttentionFlags, VIT_CLI_ATTENTION_FLAGS)
};

void add_attention(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    AttentionFlags attention;
    std::string image;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("attention", "write an image with a heat map of the model's attention");
  cmd->footer("Preprocesses the image as `vit classify` does and writes the model's input (the resized, cropped "
              "image) with the attention heat map blended over it (blue: little, red: most). The map is the "
              "heads' mean of the class token's attention in the last block, or attention rollout (--method).");
  f->model.add(*cmd, /*zoo=*/false, {"device", "dtype", "threads", "max_parameters"});
  add_fields(*cmd, f->attention.fields());
  cmd->add_option("IMAGE", f->image, "image file")->required();
  cmd->callback([f] {
    const auto& a = f->attention;
    f->model.backend("plain");  // the module runs: its blocks give the intermediates / attention
    const auto model = f->model.load();
    TORCH_CHECK(model.pretrained_cfg.input_size()[0] == 3, "the model takes ", model.pretrained_cfg.input_size()[0],
                " channels; attention feeds RGB images");
    const auto pixels = preprocess(read_image(f->image), model.pretrained_cfg);
    torch::InferenceMode inference;
    const auto heat = attention_heatmap(*model.module, pixels.unsqueeze(0).to(f->model.torch_device(), f->model.torch_dtype()),
                                        a.method());
    write_png(a.output(), overlay_heatmap(to_image(pixels, model.pretrained_cfg), heat[0].to(torch::kCPU, torch::kFloat32),
                                          a.alpha()));
    std::cerr << "attention (" << a.method() << ", " << heat.size(1) << "x" << heat.size(2) << " patches) written to "
              << a.output() << "\n";
  });
}

}  // namespace vit::cli
