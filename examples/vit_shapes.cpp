// Builds the two reference designs' example models (vit-pytorch 0.35's README ViT and timm's ViT-B/16)
// and prints the shape of their logits for a random batch.
//   lucidrains ViT: image 256, patch 32, 1000 classes, dim 1024, depth 6, heads 16, mlp 2048
//   timm ViT-B/16:  image 224, patch 16, 1000 classes, dim 768, depth 12, heads 12
// Runs on CUDA when available (vit::default_device()), else on the CPU with all cores.
#include <vit/vit.h>

#include <iostream>
#include <thread>

int main() {
  torch::manual_seed(0);
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const torch::Device device = vit::default_device();
  torch::InferenceMode inference;

  vit::ViT lucid(vit::ViTOptions(256, 32, 1000, 1024, 6, 16, 2048).dropout(0.1).emb_dropout(0.1));
  vit::VisionTransformer timm{vit::VisionTransformerOptions()};  // ViT-B/16, timm's defaults
  lucid->eval();
  lucid->to(device);
  timm->eval();
  timm->to(device);

  const auto img256 = torch::randn({2, 3, 256, 256}, device);
  const auto img224 = torch::randn({2, 3, 224, 224}, device);
  std::cout << "device: " << device << "\n";
  std::cout << "vit::ViT (vit-pytorch, 256/32, dim 1024, depth 6) logits: " << lucid->forward(img256).sizes() << "\n";
  std::cout << "vit::VisionTransformer (timm ViT-B/16, 224) logits:        " << timm->forward(img224).sizes() << "\n";
  return 0;
}
