#include "vit/init.h"

#include <cmath>

namespace vit {

namespace {
thread_local bool skip_init = false;
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

SkipInitGuard::SkipInitGuard() : previous_(skip_init) { skip_init = true; }
SkipInitGuard::~SkipInitGuard() { skip_init = previous_; }
bool SkipInitGuard::active() { return skip_init; }

}  // namespace vit
