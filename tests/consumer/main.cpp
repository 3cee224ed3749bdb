// The snippet from the vitcpp README / core issue, built outside the tree against the installed package.
#include <vit/vit.h>

#include <iostream>

int main() {
  auto a = vit::VisionTransformer(vit::VisionTransformerOptions().img_size(32).patch_size(8).num_classes(10).embed_dim(64).depth(2).num_heads(4));
  auto b = vit::ViT(vit::ViTOptions(32, 8, 10, 64, 2, 4, 128));
  a->eval(); b->eval();
  auto x = torch::randn({2, 3, 32, 32});
  std::cout << a->forward(x).sizes() << b->forward(x).sizes() << std::endl;
  std::cout << "vitcpp " << VITCPP_VERSION << std::endl;
}
