// vit embed: pooled embeddings (and optionally intermediate feature maps) of images, for retrieval
// and downstream models.
#include "common.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <set>

namespace vit::cli {

#define VIT_CLI_EMBED_FLAGS(X)                                                                                   \
  X(int64_t, batch, 8, Range(1, 1 << 16), "images per forward pass")                                               \
  X(std::string, output, "embeddings.safetensors", Any(), "safetensors file to write")                             \
  X(std::string, embedding, "auto", OneOf("auto", "pre_logits", "head"),                                           \
    "what is written as 'embeddings': the pooled features (pre_logits), the head's output (head: a CLIP "          \
    "projection), or auto: the head when it is a projection (a bias-free or all-zero-bias head and no "            \
    "label_names), else the pooled features")                                                                     \
  X(bool, norm, true, Any(), "apply the final norm to the intermediate feature maps (timm's norm=True)")

struct EmbedFlags {
  VIT_OPTIONS(EmbedFlags, VIT_CLI_EMBED_FLAGS)
};

namespace {

// A head whose bias is absent or all zero and that names no labels: a projection (timm writes
// OpenAI CLIP's bias-free `proj` as head.weight with zero head.bias).
bool head_is_projection(const Pretrained& model) {
  if (model.num_classes() == 0 || !model.label_names.empty()) return false;
  const auto params = model.module->named_parameters();
  const auto* bias = params.find("head.bias");
  return params.find("head.weight") != nullptr && (!bias || bias->abs().max().item<double>() == 0.);
}

}  // namespace

void add_embed(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    EmbedFlags embed;
    std::vector<int64_t> layers;
    std::vector<std::string> images;
  };
  auto f = std::make_shared<Flags>();
  auto* embed = app.add_subcommand("embed", "write image embeddings (and intermediate feature maps) to a safetensors file");
  embed->footer("Preprocesses each image exactly as `vit classify` (timm's eval transform) and writes 'embeddings' "
                "(N, D), float32, in the order the images are given: the pooled features, or a CLIP-style projection "
                "head's output (see --embedding). With --layers i,j,...: also 'layers.<i>' (N, D, gh, gw), the output "
                "of block i as a feature map (negative i count from the last block), under each name as given: in "
                "any order, 1 and -1 of a 2-block model both (the same block's output), a repeated value once. The "
                "image paths are in the file's metadata 'images' (one per line).");
  f->model.add(*embed, /*zoo=*/false, {"device", "dtype", "threads", "max_parameters"});
  add_fields(*embed, f->embed.fields());
  embed->add_option("--layers", f->layers,
                    "blocks whose outputs to write as feature maps 'layers.<i>', e.g. 3,7,-1 (negative: from the last "
                    "block; any order; each name as given, a repeated value once)")
      ->delimiter(',');
  embed->add_option("IMAGE", f->images, "image files")->required();
  embed->callback([f] {
    const auto& e = f->embed;
    f->model.backend("plain");  // the module runs: its blocks give the intermediates / attention
    const auto model = f->model.load();
    const auto device = f->model.torch_device();
    const auto dtype = f->model.torch_dtype();
    TORCH_CHECK(model.pretrained_cfg.input_size()[0] == 3, "the model takes ", model.pretrained_cfg.input_size()[0],
                " channels; embed feeds RGB images");
    const bool use_head = e.embedding() == "head" || (e.embedding() == "auto" && head_is_projection(model));
    TORCH_CHECK(!use_head || model.num_classes() > 0, "--embedding head: the model has no head");
    auto& module = *model.module;
    // forward_intermediates returns one map per distinct block, in block order: ask it for the distinct
    // blocks, sorted, and write each requested name with its block's map.
    std::vector<int64_t> blocks;                          // distinct, ascending
    std::vector<std::pair<std::string, size_t>> written;  // 'layers.<i>' as given -> its block's place in `blocks`
    if (!f->layers.empty()) {
      const auto take = take_indices(module.num_blocks(), f->layers);  // checked before any image is read
      blocks = take;
      std::sort(blocks.begin(), blocks.end());
      blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
      std::set<std::string> names;
      for (size_t j = 0; j < take.size(); ++j) {
        auto name = "layers." + std::to_string(f->layers[j]);
        if (!names.insert(name).second) continue;  // the same value twice: one tensor
        const auto at = std::lower_bound(blocks.begin(), blocks.end(), take[j]) - blocks.begin();
        written.emplace_back(std::move(name), static_cast<size_t>(at));
      }
    }
    const auto& images = f->images;
    const auto total = static_cast<int64_t>(images.size());
    std::vector<torch::Tensor> embeddings;
    std::vector<std::vector<torch::Tensor>> maps(blocks.size());
    torch::InferenceMode inference;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    for (int64_t first = 0; first < total; first += e.batch()) {
      const int64_t n = std::min(e.batch(), total - first);
      std::vector<torch::Tensor> inputs;
      for (int64_t i = first; i < first + n; ++i) inputs.push_back(preprocess(read_image(images[i]), model.pretrained_cfg));
      const auto x = torch::stack(inputs).to(device, dtype);
      torch::Tensor tokens;
      if (blocks.empty()) {
        tokens = module.forward_features(x);
      } else {
        auto out = module.forward_intermediates(x, blocks, IntermediatesOptions().norm(e.norm()));
        TORCH_CHECK(out.intermediates.size() == blocks.size(), "[embed] forward_intermediates returned ",
                    out.intermediates.size(), " maps for ", blocks.size(), " blocks");
        tokens = out.features;
        for (size_t j = 0; j < maps.size(); ++j) maps[j].push_back(out.intermediates[j].to(torch::kCPU, torch::kFloat32));
      }
      embeddings.push_back(module.forward_head(tokens, /*pre_logits=*/!use_head).to(torch::kCPU, torch::kFloat32));
      if (total > 1)
        std::cerr << "\r" << bar(first + n, total, 30) << "  " << fixed((first + n) / std::max(elapsed(), 1e-9), 1)
                  << " images/s" << std::flush;
    }
    std::vector<std::pair<std::string, torch::Tensor>> tensors{{"embeddings", torch::cat(embeddings)}};
    for (const auto& [name, at] : written) tensors.emplace_back(name, torch::cat(maps[at]));
    std::string names;
    for (const auto& path : images) names += path + "\n";
    save_safetensors(e.output(), tensors, {{"images", names}, {"embedding", use_head ? "head" : "pre_logits"}});
    if (total > 1) std::cerr << "\n";
    std::cerr << total << " embeddings of width " << tensors.front().second.size(1) << " ("
              << (use_head ? "head" : "pooled features") << ") written to " << e.output() << "\n";
  });
}

}  // namespace vit::cli
