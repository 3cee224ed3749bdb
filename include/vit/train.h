#pragma once
// Training: AdamW with timm's weight-decay and layer-decay groups, linear warm-up + cosine learning
// rate, label smoothing, DeiT distillation (hard and soft), gradient clipping, augmentation,
// bfloat16 autocast, linear probing, checkpoints that resume exactly, and fit(), the epoch loop
// `vit train` runs, on any vit::Dataset (Fashion-MNIST, image folders); the Fashion-MNIST recipe.
// Tests: tests/test_train.cpp; Python counterpart: tests/reference/training.py.

#include "vit/data.h"
#include "vit/distributed.h"
#include "vit/options.h"
#include "vit/pretrained.h"

#include <torch/torch.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// The defaults are the ones measured best for the Fashion-MNIST recipe below on a 2-core CPU
// (docs/training.md): 89.90% test accuracy in 18 epochs.
#define VIT_TRAIN_OPTIONS(X)                                                                                       \
  X(int64_t, epochs, 18, Range(1, 1e6), "passes over the training images")                                         \
  X(int64_t, batch_size, 64, Range(1, 1 << 20), "images per optimiser step")                                       \
  X(double, lr, 2e-3, Range(1e-9, 10.), "peak learning rate, reached after the warm-up, then cosine-annealed to min_lr") \
  X(double, min_lr, 1e-5, Range(0., 10.), "learning rate at the last step")                                        \
  X(double, warmup_epochs, 1., Range(0., 1e6), "epochs of linear warm-up")                                         \
  X(double, weight_decay, 0.05, Range(0., 10.),                                                                    \
    "AdamW's decoupled weight decay, on every weight but biases, norms, LayerScale and the model's no_weight_decay() (timm's param_groups_weight_decay)") \
  X(double, label_smoothing, 0.1, Range(0., 0.99), "label smoothing of the cross-entropy")                         \
  X(double, clip_grad_norm, 1., Range(0., 1e6), "clip the global gradient L2 norm to this; 0: no clipping")        \
  X(double, layer_decay, 1., Range(1e-6, 1.),                                                                      \
    "layer-wise learning-rate decay (BEiT/DeiT fine-tuning, timm's param_groups_layer_decay): layer i of n trains at lr * layer_decay^(n - 1 - i); 1: off") \
  X(bool, freeze, false, Any(), "train the classifier only, every other weight frozen (linear probing)")           \
  X(bool, amp, false, Any(), "bfloat16 autocast for the forward and the loss (weights and optimizer stay float32)") \
  X(int64_t, crop_padding, 0, Range(0, 1024), "augmentation of tensor images: zero-pad by this much and crop back at a random offset; 0: off") \
  X(double, crop_scale, 0.08, Range(0.01, 1.), "augmentation of image files: RandomResizedCrop's smallest area fraction (ratio 3/4 to 4/3)") \
  X(bool, flip, true, Any(), "augmentation: random left-right flips")                                              \
  X(uint64_t, seed, 0, Any(),                                                                                      \
    "every random draw (epoch order, augmentation, dropout, DropPath; the recipe's initial weights) derives from (seed, step), so a resumed run repeats an uninterrupted one") \
  X(std::string, distillation, "auto", OneOf("auto", "none", "hard", "soft"),                                      \
    "DeiT distillation: hard (cross-entropy with the teacher's argmax), soft (KL divergence at temperature tau) or none; auto: hard with a teacher, else none") \
  X(double, alpha, 0.5, Probability(), "loss = (1 - alpha) * class-head loss + alpha * distillation-head loss")    \
  X(double, tau, 1., Range(1e-3, 1e3), "soft distillation temperature")                                            \
  X(std::string, teacher, "", Any(),                                                                               \
    "checkpoint directory of the distillation teacher (its logits on the same input; the student must be distilled)") \
  X(torch::Device, device, torch::kCPU, Any(), "cpu or cuda[:N]")

/// Options for Trainer. `distillation` "auto" is resolved when the Trainer is built, and stored so,
/// so that a resumed run does what the original did.
/// Example: `vit::TrainOptions().epochs(10).lr(1e-3).crop_padding(2)`
struct TrainOptions {
  VIT_OPTIONS(TrainOptions, VIT_TRAIN_OPTIONS)
};

/// Learning rate at `step` (0-based) of `total`: lr * (step + 1) / warmup over the first `warmup`
/// steps, then a cosine from lr (first step after the warm-up) down to min_lr (last step).
double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr);

/// One optimizer parameter group: its parameters' names, learning-rate scale and weight decay.
struct ParamGroup {
  std::vector<std::string> names;
  double lr_scale = 1., weight_decay = 0.;
};

/// timm's parameter groups, in order of first appearance: with layer_decay 1, param_groups_weight_decay
/// ({decayed, not decayed}); below 1, param_groups_layer_decay (a group per layer and decay, lr_scale
/// layer_decay^(max layer - Model::layer_id)). 1-D parameters (biases, norms, LayerScale gammas) and
/// the model's no_weight_decay() set (tokens, position embeddings) are not decayed. With `freeze`,
/// only the classifier's parameters (Model::classifier). Empty groups are left out.
std::vector<ParamGroup> param_groups(const Model& model, double weight_decay, double layer_decay = 1.,
                                     bool freeze = false);

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
  double sync_seconds = 0.;  ///< data-parallel runs: waiting for the gradient all-reduce after backward
};

struct EvalStats {
  double loss = 0.;      ///< cross-entropy (no smoothing) of the logits the model gives in eval mode
  double accuracy = 0.;  ///< of those logits (a distilled model: the mean of its heads)
  double cls_accuracy = -1., dist_accuracy = -1.;  ///< distilled models: each head alone; else -1
  int64_t images = 0;
};

/// Accuracy and loss of `model` on `data` (its evaluation transform) in eval mode, batch by batch, on
/// the model's device. Images that cannot be read are left out (`images` counts the rest).
EvalStats evaluate(const Pretrained& model, const Dataset& data, int64_t batch_size = 500);

/// Trains a Pretrained model (any family) on a Dataset, one step at a time. The next step's batch is
/// made on a background thread while this one trains (a queue of one batch: image files are decoded
/// and augmented there); each batch depends on the seed and the step only. After distribute(), the
/// Trainer is one rank of a data-parallel run: each step's batch (batch_size, the global batch) is
/// split over the ranks, each reading and computing its own rows, and the gradients are summed
/// over the ranks (GradientReducer) before the same optimizer step on every rank, so that N
/// processes train the same weights as one.
/// Example:
///   vit::Trainer trainer(model, vit::load_fashion_mnist(vit::kFashionMnistDir, true), options);
///   while (!trainer.done()) trainer.train_step();
///   trainer.save("out/");  // later: vit::Trainer::resume("out/", train_data).train_step() ...
class Trainer {
 public:
  /// With options.teacher() set, the teacher checkpoint is loaded (it must take the student's input
  /// and classes) and distillation defaults to "hard".
  Trainer(Pretrained model, std::shared_ptr<const Dataset> train, TrainOptions options);
  Trainer(Pretrained model, ImageDataset train, TrainOptions options);
  Trainer(Trainer&&) noexcept;
  ~Trainer();

  /// Reloads a directory written by save(): model, options, optimizer state and step (and the teacher).
  static Trainer resume(const std::string& dir, std::shared_ptr<const Dataset> train,
                        std::optional<torch::Device> device = std::nullopt);
  static Trainer resume(const std::string& dir, ImageDataset train, std::optional<torch::Device> device = std::nullopt);

  /// Makes this Trainer rank group->rank() of a data-parallel run: the model's weights (and the
  /// optimizer's state) are broadcast from rank 0, and every step's gradients summed over the
  /// ranks. Every rank must call it before its first step, with the same options and data.
  void distribute(std::shared_ptr<ProcessGroup> group);
  /// The process group after distribute(), or null.
  const ProcessGroup* group() const { return group_.get(); }

  /// Replaces the distillation teacher: images (model input, on the options' device) -> logits, run
  /// without gradients.
  void set_teacher(std::function<torch::Tensor(const torch::Tensor&)> teacher);

  /// One optimiser step on the next batch of the epoch order; throws when done().
  StepStats train_step();
  bool done() const { return step_ >= total_steps(); }
  int64_t step() const { return step_; }
  int64_t epoch() const { return step_ / steps_per_epoch(); }
  int64_t steps_per_epoch() const;
  int64_t total_steps() const { return steps_per_epoch() * options_.epochs(); }

  /// save_pretrained(model) plus optimizer.safetensors (AdamW's moments and step per parameter) and
  /// trainer.json (options and step), each written atomically.
  void save(const std::string& dir) const;

  const Pretrained& model() const { return model_; }
  const TrainOptions& options() const { return options_; }
  const Dataset& data() const { return *train_; }

 private:
  std::pair<int64_t, int64_t> batch_rows() const;   // this rank's rows [first, last) of every global batch
  std::vector<int64_t> batch_indices(int64_t step);  // this rank's examples of `step`, from its epoch's order
  Batch make_batch(int64_t step);                     // on this thread
  Batch next_batch();                                 // this step's, prefetched or made now; starts the next

  Pretrained model_;
  std::shared_ptr<const Dataset> train_;
  TrainOptions options_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<double> lr_scales_;  // per optimizer group
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<GradientReducer> reducer_;
  std::vector<std::pair<std::string, torch::Tensor>> named_params_;  // in optimizer order
  std::function<torch::Tensor(const torch::Tensor&)> teacher_;
  int64_t step_ = 0;
  torch::Tensor order_;  // this epoch's permutation
  int64_t order_epoch_ = -1;
  std::future<Batch> prefetched_;  // the batch of step prefetched_step_
  int64_t prefetched_step_ = -1;
};

/// What fit reports as it goes; every callback is optional.
struct FitCallbacks {
  /// After each step, with its statistics and the images per second of the epoch so far.
  std::function<void(const Trainer&, const StepStats&, double images_per_second)> on_step;
  /// After each epoch's evaluation and save, with its wall time in seconds.
  std::function<void(const Trainer&, const EvalStats&, double seconds)> on_epoch;
};

/// The epoch policy of `vit train`: runs `trainer` to the end of its epochs, evaluating on `test`
/// (unless it is empty) and saving to `dir` after each; with `max_steps` >= 0 it stops at that step
/// and saves there (Trainer::resume continues). Returns the last evaluation (`images` 0 when
/// stopped mid-epoch or without test images). In a data-parallel run only rank 0 evaluates, saves
/// and calls the callbacks.
EvalStats fit(Trainer& trainer, const Dataset& test, const std::string& dir, int64_t max_steps = -1,
              const FitCallbacks& callbacks = {});

// ---- the Fashion-MNIST recipe ---------------------------------------------------------------------

#define VIT_FASHION_MNIST_MODEL(X)                                                                          \
  X(std::string, family, "timm", OneOf("timm", "vit_pytorch"), "timm's VisionTransformer or vit-pytorch's ViT") \
  X(int64_t, patch, 7, Range(1, 28), "patch size (28x28 images)")                                            \
  X(int64_t, dim, 128, Range(1, 4096), "embedding width")                                                    \
  X(int64_t, depth, 4, Range(1, 1000), "blocks")                                                             \
  X(int64_t, heads, 4, Range(1, 4096), "attention heads")                                                    \
  X(double, mlp_ratio, 2., Range(0.01, 64.), "MLP hidden width / dim")                                       \
  X(std::string, pool, "auto", OneOf("auto", "avg", "token"),                                                \
    "avg (the mean of the patch tokens, no class token) or token (a class token); auto: token for a distilled student, else avg") \
  X(double, drop_path, 0., Probability(), "DropPath rate (timm)")

/// The model `vit train` trains on Fashion-MNIST (grayscale replicated to 3 channels, 28x28, ten
/// classes, Fashion-MNIST's normalisation), of any family.
/// Example: `auto model = vit::fashion_mnist_model(vit::FashionMnistModel().depth(6), /*distilled=*/false, 0);`
struct FashionMnistModel {
  VIT_OPTIONS(FashionMnistModel, VIT_FASHION_MNIST_MODEL)
};

/// Builds that model, drawing its initial weights after torch::manual_seed(seed); a distilled one
/// (timm only) has DeiT's distillation token and head.
Pretrained fashion_mnist_model(const FashionMnistModel& recipe, bool distilled, uint64_t seed);

}  // namespace vit
