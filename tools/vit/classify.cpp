// vit classify: top-K labels of images, preprocessed exactly as timm's eval transform.
#include "common.h"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>

namespace vit::cli {

#define VIT_CLI_CLASSIFY_FLAGS(X)                                         \
  X(int64_t, topk, 5, Range(1, 1 << 20), "labels per image")              \
  X(int64_t, batch, 8, Range(1, 1 << 16), "images per forward pass")

struct ClassifyFlags {
  VIT_OPTIONS(ClassifyFlags, VIT_CLI_CLASSIFY_FLAGS)
};

void add_classify(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    ClassifyFlags classify;
    std::vector<std::string> images;
  };
  auto f = std::make_shared<Flags>();
  auto* classify = app.add_subcommand("classify", "classify images with a checkpoint (top-K labels)");
  classify->footer("Classifies PNG / JPEG images with a checkpoint directory, preprocessing each exactly as timm's eval transform "
                   "with the checkpoint's pretrained_cfg (resize the shorter side to floor(size / crop_pct) with PIL's antialiased "
                   "bicubic, center crop, normalize). Prints the top-K labels (label_names of config.json, else class indices) with "
                   "probabilities for each image; a progress bar and a summary line on stderr when there are several images.");
  f->model.add(*classify, /*zoo=*/false);
  add_fields(*classify, f->classify.fields());
  classify->add_option("IMAGE", f->images, "image files")->required();
  classify->callback([f] {
    const int64_t batch = f->classify.batch();
    const auto model = f->model.load();
    const auto device = f->model.torch_device();
    const auto dtype = f->model.torch_dtype();
    TORCH_CHECK(model.pretrained_cfg.input_size()[0] == 3, "the model takes ", model.pretrained_cfg.input_size()[0],
                " channels; classify feeds RGB images");
    const auto& images = f->images;
    const auto total = static_cast<int64_t>(images.size());
    const bool show_progress = total > 1;
    torch::InferenceMode inference;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    for (int64_t first = 0; first < total; first += batch) {
      const int64_t n = std::min(batch, total - first);
      std::vector<torch::Tensor> inputs;
      for (int64_t i = first; i < first + n; ++i) inputs.push_back(preprocess(read_image(images[i]), model.pretrained_cfg));
      const auto probs = model.forward(torch::stack(inputs).to(device, dtype)).to(torch::kCPU, torch::kFloat32).softmax(-1);
      const auto [values, indices] = probs.topk(std::min<int64_t>(f->classify.topk(), probs.size(1)), 1);
      if (show_progress) std::cerr << "\r" << std::string(60, ' ') << "\r";
      for (int64_t i = 0; i < n; ++i) {
        std::cout << images[first + i] << "\n";
        for (int64_t k = 0; k < values.size(1); ++k) {
          const auto cls = indices[i][k].item<int64_t>();
          const auto label =
              cls < static_cast<int64_t>(model.label_names.size()) ? model.label_names[cls] : std::to_string(cls);
          std::cout << "  " << std::setw(6) << fixed(100. * values[i][k].item<double>(), 2) << "%  " << label << "\n";
        }
      }
      std::cout << std::flush;
      if (show_progress)
        std::cerr << "\r" << bar(first + n, total, 30) << "  " << fixed((first + n) / std::max(elapsed(), 1e-9), 1)
                  << " images/s" << std::flush;
    }
    if (show_progress)
      std::cerr << "\n" << total << " images in " << fixed(elapsed(), 2) << " s (" << fixed(total / elapsed(), 2)
                << " images/s)\n";
  });
}

}  // namespace vit::cli
