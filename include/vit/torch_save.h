#pragma once
// Reading torch.save checkpoints (the zip format of PyTorch >= 1.6) without Python: a bounds-checked
// zip reader and a restricted unpickler that executes nothing; it understands dicts, OrderedDicts
// (what model.state_dict() pickles), lists, tuples, scalars, strings and tensors
// (torch._utils._rebuild_tensor_v2 / _rebuild_parameter over typed storages). Any other class
// becomes an inert placeholder, so training checkpoints with optimizer state or argparse objects load.
// Tests: tests/test_pretrained.cpp; fuzz target: fuzz/fuzz_torch_save.cpp.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace vit {

/// The tensors of a torch.save file holding a state dict: a dict / OrderedDict of tensors, or one
/// nested under 'model', 'state_dict', 'model_state' or 'module' (DeiT and training scripts). Keys
/// keep file order. Every problem throws c10::Error starting "[load_torch_save] 'path': ".
std::vector<std::pair<std::string, torch::Tensor>> load_torch_save(const std::string& path);

/// Writes `state` as torch.save(OrderedDict) does (zip of data.pkl, data/<i>, version, byteorder),
/// readable by Python's torch.load and by load_torch_save. Tensors are written contiguous, on the CPU.
void save_torch_save(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& state);

/// The same for bytes in memory; `what` names them in errors.
std::vector<std::pair<std::string, torch::Tensor>> parse_torch_save(const void* data, size_t size,
                                                                    const std::string& what = "<memory>");

}  // namespace vit
