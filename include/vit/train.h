#pragma once
// Training: AdamW with timm's weight-decay groups, linear warm-up + cosine learning rate, label
// smoothing, DeiT distillation (hard and soft), gradient clipping, augmentation, and checkpoints that
// resume exactly. `vit train` (tools/vit) drives it on Fashion-MNIST. Tests: tests/test_train.cpp;
// Python counterpart: tests/reference/training.py.

#include "vit/data.h"
#include "vit/pretrained.h"

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vit {

struct TrainOptions {
  TORCH_ARG(int64_t, epochs) = 10;
  TORCH_ARG(int64_t, batch_size) = 128;
  /// Peak learning rate, reached after the warm-up, then cosine-annealed to min_lr at the last step.
  TORCH_ARG(double, lr) = 2e-3;
  TORCH_ARG(double, min_lr) = 1e-5;
  TORCH_ARG(double, warmup_epochs) = 1.;
  /// AdamW's decoupled weight decay, on every weight but biases, norms, LayerScale and the tokens and
  /// position embeddings (timm's param_groups_weight_decay).
  TORCH_ARG(double, weight_decay) = 0.05;
  TORCH_ARG(double, label_smoothing) = 0.1;
  /// Clip the global gradient L2 norm to this; 0 turns clipping off.
  TORCH_ARG(double, clip_grad_norm) = 1.;
  /// Augmentation: zero-pad by this much and crop back at a random offset; and random left-right flips.
  TORCH_ARG(int64_t, crop_padding) = 2;
  TORCH_ARG(bool, flip) = true;
  /// Every random draw (epoch order, augmentation, dropout, DropPath) derives from (seed, step), so a
  /// resumed run repeats an uninterrupted one exactly.
  TORCH_ARG(uint64_t, seed) = 0;
  /// DeiT distillation with a teacher: "none", "hard" (cross-entropy with the teacher's argmax) or
  /// "soft" (KL divergence at temperature tau). The student must be a distilled VisionTransformer.
  TORCH_ARG(std::string, distillation) = "none";
  /// Loss = (1 - alpha) * class-head loss + alpha * distillation-head loss.
  TORCH_ARG(double, alpha) = 0.5;
  TORCH_ARG(double, tau) = 1.;
  /// Where the teacher came from, kept in the checkpoint for --resume (the trainer only uses set_teacher).
  TORCH_ARG(std::string, teacher) = "";
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Data parallelism: each batch is split into this many near-equal parts, each run forward and
  /// backward by its own replica of the model, and their gradients are summed in order (equal to the
  /// whole batch's up to rounding). On the CPU the parts run at once, one per intra-op thread,
  /// unless the model has active dropout or DropPath (then one after another, each with its own
  /// seed, as one shared generator cannot serve threads deterministically). 0: one per intra-op
  /// thread on the CPU, 1 on other devices or when vitcpp was built without OpenMP; the Trainer
  /// stores the number it resolved, so a resumed run splits its batches as the original did.
  TORCH_ARG(int64_t, workers) = 0;
};

/// Learning rate at `step` (0-based) of `total`: lr * (step + 1) / warmup over the first `warmup`
/// steps, then a cosine from lr (first step after the warm-up) down to min_lr (last step).
double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr);

/// timm's param_groups_weight_decay: {decayed, not decayed} parameter names. 1-D parameters (biases,
/// norms, LayerScale gammas) and the tokens and position embeddings are not decayed.
std::pair<std::vector<std::string>, std::vector<std::string>> weight_decay_groups(const torch::nn::Module& module);

/// Cross-entropy with label smoothing (PyTorch's: smoothing spread over all classes), mean over the batch.
torch::Tensor smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing);

/// DeiT's DistillationLoss: (1 - alpha) * smoothed_cross_entropy(cls, labels) + alpha * d, where d is
/// cross_entropy(dist, teacher.argmax(1)) for "hard", and for "soft"
/// KL(softmax(teacher / tau) || softmax(dist / tau)) summed, times tau^2, over dist.numel().
torch::Tensor distillation_loss(const torch::Tensor& cls, const torch::Tensor& dist, const torch::Tensor& labels,
                                const torch::Tensor& teacher, const std::string& type, double alpha, double tau,
                                double smoothing);

struct StepStats {
  double loss = 0., accuracy = 0., lr = 0., grad_norm = 0.;
};

struct EvalStats {
  double loss = 0.;      ///< cross-entropy (no smoothing) of the logits the model gives in eval mode
  double accuracy = 0.;  ///< of those logits (a distilled model: the mean of its heads)
  double cls_accuracy = -1., dist_accuracy = -1.;  ///< distilled models: each head alone; else -1
  int64_t images = 0;
};

/// Accuracy and loss of `model` on `data` in eval mode, batch by batch, on the model's device.
EvalStats evaluate(const Pretrained& model, const ImageDataset& data, int64_t batch_size = 500);

/// Images (B, 1, H, W) uint8 -> the model's normalised float input on `device`, with the channel
/// replicated to the model's input channels (pretrained_cfg mean/std and input_size).
torch::Tensor model_input(const torch::Tensor& images, const PretrainedCfg& cfg, const torch::Device& device);

/// Trains a Pretrained model (either family) on an ImageDataset, one step at a time.
/// Example:
///   vit::Trainer trainer(model, vit::load_fashion_mnist(vit::kFashionMnistDir, true), options);
///   while (!trainer.done()) trainer.train_step();
///   trainer.save("out/");  // later: vit::Trainer::resume("out/", train_data).train_step() ...
class Trainer {
 public:
  Trainer(Pretrained model, ImageDataset train, TrainOptions options);

  /// Reloads a directory written by save(): model, options, optimizer state and step.
  static Trainer resume(const std::string& dir, ImageDataset train, std::optional<torch::Device> device = std::nullopt);

  /// The distillation teacher: images (model input, on the options' device) -> logits, run without
  /// gradients. Required when options.distillation() is not "none".
  void set_teacher(std::function<torch::Tensor(const torch::Tensor&)> teacher);

  /// One optimiser step on the next batch of the epoch order; throws when done().
  StepStats train_step();
  bool done() const { return step_ >= total_steps(); }
  int64_t step() const { return step_; }
  int64_t epoch() const { return step_ / steps_per_epoch(); }
  int64_t steps_per_epoch() const;
  int64_t total_steps() const { return steps_per_epoch() * options_.epochs(); }

  /// save_pretrained(model) plus optimizer.safetensors (AdamW's moments and step per parameter) and
  /// trainer.json (options and step).
  void save(const std::string& dir) const;

  const Pretrained& model() const { return model_; }
  const TrainOptions& options() const { return options_; }

 private:
  Pretrained model_;
  ImageDataset train_;
  TrainOptions options_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<Pretrained> replicas_;  // workers - 1 copies of the model, synchronised every step
  std::vector<std::pair<std::string, torch::Tensor>> named_params_;  // in optimizer order
  std::function<torch::Tensor(const torch::Tensor&)> teacher_;
  int64_t step_ = 0;
  torch::Tensor order_;  // this epoch's permutation
  int64_t order_epoch_ = -1;
};

}  // namespace vit
