#include "vit/model.h"

namespace vit {

DistilledLogits Model::forward_distilled(const torch::Tensor&) {
  TORCH_CHECK(false, "[", name(), "] forward_distilled needs a distilled model");
}

std::shared_ptr<Model> Model::clone_model() const {
  auto copy = std::dynamic_pointer_cast<Model>(clone());
  TORCH_CHECK(copy, "[", name(), "] clone() did not return a vit::Model");
  return copy;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace vit
