#include "vit/model.h"

#include "vit/init.h"

namespace vit {

DistilledLogits Model::forward_distilled(const torch::Tensor&) {
  TORCH_CHECK(false, "[", name(), "] forward_distilled needs a distilled model");
}

std::shared_ptr<torch::nn::Module> Model::clone(const c10::optional<torch::Device>& device) const {
  torch::NoGradGuard no_grad;
  std::shared_ptr<Model> copy;
  {
    const SkipInitGuard skip;  // every tensor is replaced below
    copy = fresh();
  }
  const auto copy_into = [&](const torch::OrderedDict<std::string, torch::Tensor>& from,
                             torch::OrderedDict<std::string, torch::Tensor> to, const char* kind) {
    TORCH_CHECK(from.size() == to.size(), "[", name(), "] clone: ", to.size(), " ", kind, "s rebuilt for ", from.size());
    for (const auto& item : from) {
      auto* target = to.find(item.key());
      TORCH_CHECK(target && target->sizes() == item.value().sizes(), "[", name(), "] clone: ", kind, " '", item.key(),
                  "' ", item.value().sizes(), " has no counterpart in the rebuilt model (weights released?)");
      target->set_data(device && item.value().device() != *device ? item.value().to(*device) : item.value().clone());
    }
  };
  copy_into(named_parameters(), copy->named_parameters(), "parameter");
  copy_into(named_buffers(), copy->named_buffers(), "buffer");
  copy->train(is_training());
  return copy;
}

std::shared_ptr<Model> Model::clone_model() const { return std::static_pointer_cast<Model>(clone()); }

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace vit
