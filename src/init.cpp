#include "vit/init.h"

#include "layers.h"

#include <cmath>

namespace vit {

namespace {
thread_local bool skip_init = false;
thread_local torch::ScalarType skip_dtype = torch::kFloat32;
double norm_cdf(double x) { return (1. + std::erf(x / std::sqrt(2.))) / 2.; }
}  // namespace

torch::Tensor trunc_normal_(torch::Tensor tensor, double mean, double std, double a, double b) {
  TORCH_CHECK(std > 0., "[trunc_normal_] std must be positive, got ", std);
  TORCH_CHECK(a < b, "[trunc_normal_] lower bound ", a, " must be below upper bound ", b);
  torch::NoGradGuard no_grad;
  // ref: torch.nn.init._no_grad_trunc_normal_ (inverse-CDF sampling)
  const double l = norm_cdf((a - mean) / std);
  const double u = norm_cdf((b - mean) / std);
  tensor.uniform_(2. * l - 1., 2. * u - 1.);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.));
  tensor.add_(mean);
  tensor.clamp_(a, b);
  return tensor;
}

SkipInitGuard::SkipInitGuard(torch::ScalarType dtype) : previous_active_(skip_init), previous_dtype_(skip_dtype) {
  skip_init = true;
  skip_dtype = dtype;
}
SkipInitGuard::~SkipInitGuard() {
  skip_init = previous_active_;
  skip_dtype = previous_dtype_;
}
bool SkipInitGuard::active() { return skip_init; }
torch::ScalarType SkipInitGuard::dtype() { return skip_init ? skip_dtype : torch::kFloat32; }

namespace detail {

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  if (!SkipInitGuard::active()) return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  // LibTorch's constructor always runs its kaiming-uniform init: build the layer empty, then give it
  // full-size uninitialised tensors
  torch::nn::Linear layer(torch::nn::LinearOptions(1, 0).bias(bias));  // a (0, 1) weight: nothing to draw
  layer->options = torch::nn::LinearOptions(in, out).bias(bias);
  torch::NoGradGuard no_grad;
  layer->weight.set_data(uninitialised({out, in}));
  if (bias) layer->bias.set_data(uninitialised({out}));
  return layer;
}

torch::Tensor uninitialised(at::IntArrayRef shape) { return torch::empty(shape, SkipInitGuard::dtype()); }

torch::Tensor tokens(at::IntArrayRef shape) {
  return SkipInitGuard::active() ? uninitialised(shape) : torch::zeros(shape);
}

}  // namespace detail

}  // namespace vit
