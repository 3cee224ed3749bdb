#include "vit/pretrained_cfg.h"

namespace vit {

PretrainedCfg pretrained_cfg_from_json(const std::string& json, PretrainedCfg base, const std::string& what) {
  detail::apply_json(base.fields(), json, what + " pretrained_cfg", {}, /*ignore_unknown=*/true);
  return base;
}

}  // namespace vit
