// Tests of include/vit/init.h. Seeded parity with Python's trunc_normal_ is checked through the
// models' init goldens (TimmInitReference); this checks the distribution itself.
#include <vit/init.h>

#include "golden.h"

namespace vit {
namespace {

TEST(TruncNormal, MatchesTheTruncatedDistribution) {
  torch::manual_seed(0);
  auto t = trunc_normal_(torch::empty({200000}), 0., 1., -2., 2.);
  EXPECT_GE(t.min().item<double>(), -2.);
  EXPECT_LE(t.max().item<double>(), 2.);
  EXPECT_NEAR(t.mean().item<double>(), 0., 0.01);
  EXPECT_NEAR(t.std().item<double>(), 0.87962566, 0.005);  // std of N(0,1) truncated at +-2
  EXPECT_THROW(trunc_normal_(torch::empty({2}), 0., 0.), c10::Error);
}

}  // namespace
}  // namespace vit
