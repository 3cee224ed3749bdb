#include "vit/state_dict.h"

#include "vit/safetensors.h"
#include "vit/torch_save.h"

#include <fstream>
#include <map>
#include <sstream>

namespace vit {

std::string LoadReport::str() const {
  std::ostringstream out;
  auto list = [&](const std::vector<std::string>& items, const char* label) {
    if (items.empty()) return;
    if (out.tellp() > 0) out << "; ";
    out << items.size() << " " << label << " (";
    for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
    out << ")";
  };
  list(missing, "missing");
  list(unexpected, "unexpected");
  list(mismatched, "mis-shaped");
  return out.str();
}

torch::Tensor linear_to_conv_patch_weight(const torch::Tensor& weight, int64_t channels, int64_t p1, int64_t p2) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == channels * p1 * p2, "[linear_to_conv_patch_weight] weight ",
              weight.sizes(), " is not (D, ", p1, "*", p2, "*", channels, ")");
  return weight.reshape({weight.size(0), p1, p2, channels}).permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor conv_to_linear_patch_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4, "[conv_to_linear_patch_weight] weight ", weight.sizes(), " is not (D, C, P1, P2)");
  return weight.permute({0, 2, 3, 1}).reshape({weight.size(0), -1}).contiguous();
}

torch::Tensor convert_patch_weight(const torch::Tensor& given, const torch::Tensor& target) {
  if (given.numel() != target.numel() || given.dim() < 1 || target.dim() < 1 || given.size(0) != target.size(0)) return {};
  if (given.dim() == 2 && target.dim() == 4)
    return linear_to_conv_patch_weight(given, target.size(1), target.size(2), target.size(3));
  if (given.dim() == 4 && target.dim() == 2) return conv_to_linear_patch_weight(given);
  return {};
}

namespace {

LoadReport load_state_dict_impl(torch::nn::Module& module, const StateDict& state, bool strict, const std::string& what,
                                bool adopt) {
  auto targets = module.named_parameters();
  for (const auto& b : module.named_buffers()) targets.insert(b.key(), b.value());
  std::map<std::string, const torch::Tensor*> given;
  LoadReport report;
  for (const auto& [name, tensor] : state) {
    if (!given.emplace(name, &tensor).second) report.unexpected.push_back(name + " (twice)");
  }
  for (const auto& item : targets) {
    const auto it = given.find(item.key());
    if (it == given.end()) {
      report.missing.push_back(item.key());
    } else if (it->second->sizes() != item.value().sizes()) {
      report.mismatched.push_back(item.key() + ": checkpoint " + c10::str(it->second->sizes()) + " vs model " +
                                  c10::str(item.value().sizes()));
    }
  }
  for (const auto& [name, tensor] : given)
    if (!targets.contains(name)) report.unexpected.push_back(name);
  TORCH_CHECK(!strict || report.ok(), what, " checkpoint has ", state.size(), " tensors, model expects ",
              targets.size(), ": ", report.str());
  std::map<const c10::StorageImpl*, int> storage_uses;
  for (const auto& [name, tensor] : given) ++storage_uses[tensor->storage().unsafeGetStorageImpl()];
  torch::NoGradGuard no_grad;
  for (auto& item : targets) {
    const auto it = given.find(item.key());
    if (it == given.end() || it->second->sizes() != item.value().sizes()) continue;
    const torch::Tensor& source = *it->second;
    torch::Tensor& target = item.value();
    const bool adoptable = adopt && source.scalar_type() == target.scalar_type() &&
                           source.device() == target.device() && source.is_contiguous() &&
                           storage_uses[source.storage().unsafeGetStorageImpl()] == 1;
    if (adoptable) {
      target.set_data(source);
    } else {
      target.copy_(source);
    }
  }
  return report;
}

}  // namespace

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict, const std::string& what) {
  return load_state_dict_impl(module, state, strict, what, /*adopt=*/false);
}

LoadReport load_state_dict(torch::nn::Module& module, StateDict&& state, bool strict, const std::string& what) {
  const StateDict taken = std::move(state);
  return load_state_dict_impl(module, taken, strict, what, /*adopt=*/true);
}

StateDict read_weights(const std::string& path, std::string* format) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "[read_weights] '", path, "': cannot open");
  char magic[2] = {0, 0};
  in.read(magic, 2);
  const bool zip = magic[0] == 'P' && magic[1] == 'K';
  if (format) *format = zip ? "torch.save" : "safetensors";
  return zip ? load_torch_save(path) : load_safetensors(path).tensors;
}

}  // namespace vit
