#pragma once
// Device selection: every model runs on any torch::Device; this picks a sensible default.

#include <torch/torch.h>

namespace vit {

/// CUDA device 0 when LibTorch was built with CUDA and a GPU is visible, else the CPU.
/// Example: `model->to(vit::default_device());`
inline torch::Device default_device() {
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

}  // namespace vit
