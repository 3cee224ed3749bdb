#pragma once
// Private to src/: the model families the zoo (src/zoo.cpp) builds, and what each knows about its
// checkpoints. A family is one model class implementing vit::Model; docs/architecture.md says how
// to add one.

#include "vit/model.h"

#include "io.h"

#include <functional>
#include <string>
#include <vector>

namespace vit::detail {

struct Family {
  std::string name;
  /// Builds the model from keyword arguments over the family's defaults: validates every option,
  /// checks the parameter count against `max_parameters` (both before allocating), constructs.
  std::function<ModelPtr(const Json& args, const std::string& what, int64_t max_parameters)> build;
  /// Every option with its default value (a JSON object), the base that model_args diffs start from.
  Json defaults;
  /// Rewrites other layouts of a checkpoint into the family's keys (timm's checkpoint_filter_fn
  /// conversions: OpenAI CLIP, DINOv2, ...), then adds to `args` the keyword arguments the tensors
  /// imply and `args` leaves out.
  std::function<void(StateDict& state, Json& args)> args_from_weights;
  /// config.json's top-level keys (and the pretrained_cfg's num_classes) the family takes as
  /// defaults of its keyword arguments, as timm's hub loader does.
  std::vector<std::string> hub_keys;
  /// The zoo name a model of this family built in C++ is saved under.
  std::function<std::string(const Model&)> base_architecture;
};

/// The family called `name`; throws for others.
const Family& family(const std::string& name);

// Each family's knowledge of checkpoint keys, next to its model code.
void vision_transformer_args_from_weights(StateDict& state, Json& args);
void vit_pytorch_args_from_weights(StateDict& state, Json& args);
/// The VisionTransformer's keys from OpenAI CLIP / open_clip / DINOv2 (Meta) / TIPSv2 / BEiT3 /
/// AIMv2 checkpoints (unchanged when already timm's).
void vision_transformer_convert_layout(StateDict& state);
void eva_args_from_weights(StateDict& state, Json& args);
/// The Eva family's keys from EVA / EVA02 originals, open_clip towers, Meta's PE and DINOv3
/// checkpoints (unchanged when already timm's).
void eva_convert_layout(StateDict& state);

}  // namespace vit::detail
