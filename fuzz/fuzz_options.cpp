// libFuzzer target for config.json's values: the JSON-to-options path of the option tables
// (src/options.cpp) for the model families, the Trainer and pretrained_cfg, and the parameter count
// computed from the options (which must reject, not overflow on, absurd sizes). Any input must be
// accepted or throw c10::Error. See fuzz/README.md.
#include <vit/pretrained_cfg.h>
#include <vit/train.h>
#include <vit/vision_transformer.h>
#include <vit/vit_pytorch.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)vit::count_parameters(vit::options_from_json(text, vit::VisionTransformerOptions(), "fuzz"));
  } catch (const c10::Error&) {
  }
  try {
    (void)vit::count_parameters(vit::options_from_json(text, vit::ViTOptions(), "fuzz"));
  } catch (const c10::Error&) {
  }
  try {
    (void)vit::options_to_json(vit::options_from_json(text, vit::TrainOptions(), "fuzz"));
  } catch (const c10::Error&) {
  }
  try {
    (void)vit::pretrained_cfg_from_json(text, vit::PretrainedCfg(), "fuzz");
  } catch (const c10::Error&) {
  }
  return 0;
}
