#include "vit/train.h"

#include "vit/safetensors.h"

#include "io.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>
#include <type_traits>

namespace vit {

using detail::Json;

namespace {

using detail::mix_seed;
enum Stream : uint64_t { kEpochOrder = 1, kAugment = 2, kModel = 3 };

// bfloat16 autocast on this thread (autocast's state is per thread) while alive, when `on`.
class AutocastGuard {
 public:
  AutocastGuard(bool on, const torch::Device& device) : on_(on), type_(device.type()) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    previous_ = at::autocast::is_autocast_enabled(type_);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, true);
#else
    TORCH_CHECK(type_ == at::kCPU || type_ == at::kCUDA, "[Trainer] amp: autocast on ", device, " needs LibTorch 2.4+");
    previous_ = type_ == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
    if (type_ == at::kCPU) {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    } else {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(type_, previous_);
#else
    if (type_ == at::kCPU) at::autocast::set_cpu_enabled(previous_);
    else at::autocast::set_enabled(previous_);
#endif
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_, previous_ = false;
  at::DeviceType type_;
};

// Parameters outside `trainable` stop requiring gradients (all train when it is empty).
void freeze_except(torch::nn::Module& module, const std::vector<std::string>& trainable) {
  if (trainable.empty()) return;
  for (auto& p : module.named_parameters())
    p.value().set_requires_grad(std::find(trainable.begin(), trainable.end(), p.key()) != trainable.end());
}

// The optimizer's per-parameter state is keyed by the parameter's TensorImpl: by its address printed
// as a string in LibTorch 1.x (c10::guts::to_string, an ostream <<), by the address itself in 2.x.
using OptimizerStateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

template <typename Key>
Key state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << impl;
    return out.str();
  } else {
    return impl;
  }
}

OptimizerStateKey key_of(const torch::Tensor& p) { return state_key<OptimizerStateKey>(p.unsafeGetTensorImpl()); }

// The data's labels are classes of the model's head: "`who` the data has 9 classes, the model 7"
// when the data names its classes (an image folder), else "`who` labels must be in [0, 7)". Checked
// before a batch is read: a label past the head would otherwise index out of the logits.
void check_classes(const Dataset& data, int64_t classes, const std::string& who) {
  TORCH_CHECK(classes > 0, who, " the model has no classification head");
  const auto names = data.classes().size();
  TORCH_CHECK(static_cast<int64_t>(names) <= classes, who, " the data has ", names, " classes, the model ", classes);
  const auto targets = data.targets();
  TORCH_CHECK(targets.defined() && targets.scalar_type() == torch::kInt64 && targets.dim() == 1 &&
                  targets.size(0) == data.size(),
              who, " expected int64 labels (N)");
  TORCH_CHECK(targets.numel() == 0 || (targets.min().item<int64_t>() >= 0 && targets.max().item<int64_t>() < classes), who,
              " labels must be in [0, ", classes, ")");
}

// The integer `key` of trainer.json, in [0, `hi`]; `fallback` when absent and `fallback` >= 0.
int64_t json_count(const Json& object, const char* key, int64_t hi, int64_t fallback, const std::string& what) {
  if (!object.contains(key)) {
    TORCH_CHECK(fallback >= 0, what, " needs an integer '", key, "'");
    return fallback;
  }
  const auto& v = object.at(key);
  TORCH_CHECK(detail::is_int64(v) && v.get<int64_t>() >= 0 && v.get<int64_t>() <= hi, what, " '", key,
              "' must be an integer in [0, ", hi, "], got ", detail::json_excerpt(v));
  return v.get<int64_t>();
}

}  // namespace

double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr) {
  TORCH_CHECK(total > 0 && step >= 0 && step < total && warmup >= 0, "[warmup_cosine_lr] step ", step, " of ", total,
              " (warm-up ", warmup, ") is out of range");
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t span = total - warmup - 1;
  if (span <= 0) return lr;
  const double t = static_cast<double>(step - warmup) / static_cast<double>(span);
  return min_lr + 0.5 * (lr - min_lr) * (1. + std::cos(M_PI * t));
}

std::vector<ParamGroup> param_groups(const Model& model, double weight_decay, double layer_decay, bool freeze) {
  TORCH_CHECK(layer_decay > 0. && layer_decay <= 1. && weight_decay >= 0., "[param_groups] layer_decay ", layer_decay,
              " must be in (0, 1] and weight_decay ", weight_decay, " >= 0");
  const auto no_decay = model.no_weight_decay();
  const auto classifier = model.classifier();
  const auto params = model.named_parameters();
  const auto in_classifier = [&](const std::string& name) {
    return std::any_of(classifier.begin(), classifier.end(), [&](const std::string& c) { return name.rfind(c + ".", 0) == 0; });
  };
  // ref: timm param_groups_layer_decay: num_layers = max(layer_map.values()) + 1, scale = decay^(max - id)
  int64_t layer_max = 0;
  for (const auto& p : params) layer_max = std::max(layer_max, model.layer_id(p.key()));
  std::vector<ParamGroup> out;
  std::map<std::pair<int64_t, bool>, size_t> index;  // (layer, decayed) -> group
  for (const auto& p : params) {
    const auto& name = p.key();
    if (freeze && !in_classifier(name)) continue;
    // ref: param_groups_weight_decay: ndim <= 1 or name.endswith(".bias") or name in no_weight_decay_list
    const bool decay = p.value().dim() > 1 && !no_decay.count(name) &&
                       !(name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0);
    const int64_t layer = layer_decay < 1. ? model.layer_id(name) : 0;
    const auto key = std::make_pair(layer, decay);
    if (!index.count(key)) {
      index[key] = out.size();
      out.push_back({{}, std::pow(layer_decay, static_cast<double>(layer_max - layer)), decay ? weight_decay : 0.});
    }
    out[index[key]].names.push_back(name);
  }
  return out;
}

torch::Tensor smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing) {
  TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
              "[smoothed_cross_entropy] expected logits (B, K) and labels (B), got ", logits.sizes(), " and ", labels.sizes());
  TORCH_CHECK(smoothing >= 0. && smoothing < 1., "[smoothed_cross_entropy] smoothing must be in [0, 1), got ", smoothing);
  const auto logp = torch::log_softmax(logits.to(torch::kFloat32), 1);
  const auto nll = -logp.gather(1, labels.unsqueeze(1)).squeeze(1);
  const auto uniform = -logp.mean(1);
  return ((1. - smoothing) * nll + smoothing * uniform).mean();
}

torch::Tensor distillation_loss(const torch::Tensor& cls, const torch::Tensor& dist, const torch::Tensor& labels,
                                const torch::Tensor& teacher, const std::string& type, double alpha, double tau,
                                double smoothing) {
  TORCH_CHECK(type == "hard" || type == "soft", "[distillation_loss] type must be 'hard' or 'soft', got '", type, "'");
  TORCH_CHECK(alpha >= 0. && alpha <= 1. && tau > 0., "[distillation_loss] alpha ", alpha, " must be in [0, 1] and tau ",
              tau, " positive");
  TORCH_CHECK(cls.sizes() == dist.sizes() && dist.sizes() == teacher.sizes(), "[distillation_loss] class head ",
              cls.sizes(), ", distillation head ", dist.sizes(), " and teacher ", teacher.sizes(), " must agree");
  const auto base = smoothed_cross_entropy(cls, labels, smoothing);
  const auto t = teacher.detach().to(torch::kFloat32);
  torch::Tensor kd;
  if (type == "hard") {
    kd = smoothed_cross_entropy(dist, t.argmax(1), 0.);
  } else {
    namespace F = torch::nn::functional;
    kd = F::kl_div(torch::log_softmax(dist.to(torch::kFloat32) / tau, 1), torch::log_softmax(t / tau, 1),
                   F::KLDivFuncOptions().reduction(torch::kSum).log_target(true)) *
         (tau * tau) / static_cast<double>(dist.numel());
  }
  return base * (1. - alpha) + kd * alpha;
}

EvalStats evaluate(const Pretrained& model, const Dataset& data, int64_t batch_size) {
  TORCH_CHECK(batch_size > 0 && data.size() > 0, "[evaluate] needs images and a positive batch size");
  check_classes(data, model.num_classes(), "[evaluate]");
  auto& module = *model.module;
  const bool was_training = module.is_training();
  module.eval();
  torch::NoGradGuard no_grad;
  const auto device = module.parameters().front().device();
  const auto dtype = module.parameters().front().scalar_type();  // a bfloat16 model takes bfloat16 images
  const bool distilled = module.distilled();
  EvalStats out;
  double loss = 0.;
  int64_t correct = 0, cls_correct = 0, dist_correct = 0;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    std::vector<int64_t> indices(static_cast<size_t>(std::min(batch_size, data.size() - begin)));
    std::iota(indices.begin(), indices.end(), begin);
    const auto batch = data.batch(indices, model.pretrained_cfg, nullptr, 0);
    const int64_t n = batch.labels.size(0);
    if (n == 0) continue;
    const auto x = batch.images.to(device, dtype);
    const auto labels = batch.labels.to(device);
    torch::Tensor logits;
    if (distilled) {
      const auto heads = module.forward_distilled(x);
      logits = heads.mean();
      cls_correct += heads.cls.argmax(1).eq(labels).sum().item<int64_t>();
      dist_correct += heads.dist.argmax(1).eq(labels).sum().item<int64_t>();
    } else {
      logits = model.forward(x);
    }
    logits = logits.to(torch::kFloat32);
    loss += smoothed_cross_entropy(logits, labels, 0.).item<double>() * static_cast<double>(n);
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    out.images += n;
  }
  module.train(was_training);
  TORCH_CHECK(out.images > 0, "[evaluate] none of the ", data.size(), " images could be read");
  const auto N = static_cast<double>(out.images);
  out.loss = loss / N;
  out.accuracy = static_cast<double>(correct) / N;
  if (distilled) {
    out.cls_accuracy = static_cast<double>(cls_correct) / N;
    out.dist_accuracy = static_cast<double>(dist_correct) / N;
  }
  return out;
}

// ---- Trainer ------------------------------------------------------------------------------------

Trainer::Trainer(Pretrained model, ImageDataset train, TrainOptions options)
    : Trainer(std::move(model), std::make_shared<const ImageDataset>(std::move(train)), std::move(options)) {}

Trainer::Trainer(Trainer&&) noexcept = default;
Trainer::~Trainer() = default;  // a batch still being made is waited for (std::async's future)

Trainer::Trainer(Pretrained model, std::shared_ptr<const Dataset> train, TrainOptions options)
    : model_(std::move(model)), train_(std::move(train)), options_(std::move(options)) {
  const auto& o = options_;
  TORCH_CHECK(model_.module, "[Trainer] model is null");
  TORCH_CHECK(train_, "[Trainer] training data is null");
  check_options(o, "[Trainer]");
  TORCH_CHECK(train_->size() >= o.batch_size(), "[Trainer] ", train_->size(), " training images are fewer than a batch of ",
              o.batch_size());
  if (o.distillation() == "auto") options_.distillation(o.teacher().empty() ? "none" : "hard");
  const bool distilled = model_.module->distilled();
  TORCH_CHECK(o.distillation() == "none" || distilled, "[Trainer] distillation '", o.distillation(),
              "' needs a distilled student (a VisionTransformer with distilled: true)");
  TORCH_CHECK(o.distillation() != "none" || !distilled,
              "[Trainer] a distilled model trains with a teacher: set teacher and distillation 'hard' or 'soft'");
  const int64_t classes = model_.num_classes();
  check_classes(*train_, classes, "[Trainer]");

  if (!o.teacher().empty()) {
    const auto teacher = std::make_shared<const Pretrained>(load_pretrained(o.teacher(), o.device()));
    const auto &t = teacher->pretrained_cfg, &s = model_.pretrained_cfg;
    TORCH_CHECK(t.input_size() == s.input_size() && t.mean() == s.mean() && t.std() == s.std() &&
                    teacher->num_classes() == classes,
                "[Trainer] teacher '", o.teacher(), "' must take the student's input (", Json(s.input_size()).dump(),
                ", the same mean and std) and have its ", classes, " classes");
    teacher_ = [teacher](const torch::Tensor& x) { return teacher->forward(x); };
  }

  model_.engine = nullptr;  // trained weights change: the plain forward
  model_.module->to(o.device());
  model_.module->train();
  const auto groups = param_groups(*model_.module, o.weight_decay(), o.layer_decay(), o.freeze());
  std::vector<std::string> trainable;
  if (o.freeze())
    for (const auto& g : groups) trainable.insert(trainable.end(), g.names.begin(), g.names.end());
  TORCH_CHECK(!o.freeze() || !trainable.empty(), "[Trainer] freeze: the model has no classifier to train");
  freeze_except(*model_.module, trainable);
  const auto params = model_.module->named_parameters();
  std::vector<torch::optim::OptimizerParamGroup> optimizer_groups;
  for (const auto& g : groups) {
    std::vector<torch::Tensor> tensors;
    for (const auto& name : g.names) {
      tensors.push_back(params[name]);
      named_params_.emplace_back(name, params[name]);
    }
    optimizer_groups.emplace_back(tensors, std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions(o.lr()).weight_decay(g.weight_decay)));
    lr_scales_.push_back(g.lr_scale);
  }
  optimizer_ = std::make_unique<torch::optim::AdamW>(optimizer_groups, torch::optim::AdamWOptions(o.lr()));
}

int64_t Trainer::steps_per_epoch() const { return train_->size() / options_.batch_size(); }

void Trainer::set_teacher(std::function<torch::Tensor(const torch::Tensor&)> teacher) { teacher_ = std::move(teacher); }

std::pair<int64_t, int64_t> Trainer::batch_rows() const {
  const int64_t B = options_.batch_size(), W = group_ ? group_->world_size() : 1, r = group_ ? group_->rank() : 0;
  return {B * r / W, B * (r + 1) / W};
}

std::vector<int64_t> Trainer::batch_indices(int64_t step) {
  const auto& o = options_;
  const int64_t spe = steps_per_epoch(), epoch = step / spe, position = step % spe;
  if (order_epoch_ != epoch) {
    order_ = torch::randperm(train_->size(), at::make_generator<at::CPUGeneratorImpl>(mix_seed(o.seed(), kEpochOrder, epoch)),
                             torch::kInt64);
    order_epoch_ = epoch;
  }
  const auto [first, last] = batch_rows();
  const auto* begin = order_.data_ptr<int64_t>() + position * o.batch_size();
  return {begin + first, begin + last};
}

void Trainer::distribute(std::shared_ptr<ProcessGroup> group) {
  TORCH_CHECK(group, "[Trainer] distribute: no process group");
  TORCH_CHECK(!group_, "[Trainer] distribute: already distributed");
  TORCH_CHECK(group->world_size() <= options_.batch_size(), "[Trainer] a batch of ", options_.batch_size(),
              " cannot be split over ", group->world_size(), " ranks");
  if (prefetched_.valid()) prefetched_.wait();  // made for the whole batch
  prefetched_ = {};
  group_ = std::move(group);
  // Rank 0's weights, buffers and optimizer state everywhere (each rank built or loaded its own).
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state;
  for (const auto& p : model_.module->parameters()) state.push_back(p);
  for (const auto& b : model_.module->buffers()) state.push_back(b);
  for (const auto& [name, p] : named_params_) {
    const auto it = optimizer_->state().find(key_of(p));
    if (it == optimizer_->state().end()) continue;  // no step yet: the same on every rank
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    state.push_back(s.exp_avg());
    state.push_back(s.exp_avg_sq());
  }
  std::vector<torch::Tensor> cpu;
  for (const auto& t : state) cpu.push_back(t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/!t.is_cpu()).contiguous());
  group_->broadcast(cpu);
  for (size_t i = 0; i < state.size(); ++i)
    if (!state[i].is_cpu() || !state[i].is_contiguous()) state[i].copy_(cpu[i]);
  std::vector<torch::Tensor> trained;
  for (const auto& [name, p] : named_params_) trained.push_back(p);
  reducer_ = std::make_unique<GradientReducer>(group_, trained, group_->options().bucket_mb());
}

Batch Trainer::make_batch(int64_t step) {
  const auto& o = options_;
  const Augmentation augment{o.crop_padding(), o.flip(), o.crop_scale()};
  return train_->batch(batch_indices(step), model_.pretrained_cfg, &augment, mix_seed(o.seed(), kAugment, step),
                       batch_rows().first);
}

Batch Trainer::next_batch() {
  Batch batch;
  if (prefetched_.valid() && prefetched_step_ == step_) {
    batch = prefetched_.get();
  } else {
    if (prefetched_.valid()) prefetched_.wait();  // a batch for another step (resumed elsewhere): dropped
    prefetched_ = {};
    batch = make_batch(step_);
  }
  if (step_ + 1 < total_steps()) {
    const auto& o = options_;
    const Augmentation augment{o.crop_padding(), o.flip(), o.crop_scale()};
    prefetched_step_ = step_ + 1;
    prefetched_ = std::async(std::launch::async, [data = train_, indices = batch_indices(prefetched_step_),
                                                  cfg = model_.pretrained_cfg, augment,
                                                  seed = mix_seed(o.seed(), kAugment, prefetched_step_),
                                                  offset = batch_rows().first] {
      return data->batch(indices, cfg, &augment, seed, offset);
    });
  }
  return batch;
}

StepStats Trainer::train_step() {
  const auto& o = options_;
  TORCH_CHECK(!done(), "[Trainer] training is done (", total_steps(), " steps)");
  TORCH_CHECK(o.distillation() == "none" || teacher_, "[Trainer] distillation '", o.distillation(),
              "' needs a teacher (TrainOptions::teacher or set_teacher)");
  const auto step = static_cast<uint64_t>(step_);
  const auto batch = next_batch();
  const int64_t B = batch.labels.size(0);
  TORCH_CHECK(B > 0, "[Trainer] no image of step ", step_, "'s batch could be read");
  const auto x = batch.images.to(o.device());
  const auto labels = batch.labels.to(o.device());

  StepStats stats;
  const int64_t spe = steps_per_epoch();
  const int64_t warmup = static_cast<int64_t>(std::llround(o.warmup_epochs() * static_cast<double>(spe)));
  stats.lr = warmup_cosine_lr(step_, total_steps(), std::min(warmup, total_steps()), o.lr(), o.min_lr());
  auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(stats.lr * lr_scales_[g]);

  torch::Tensor teacher;
  if (o.distillation() != "none") {
    torch::NoGradGuard no_grad;
    teacher = teacher_(x);
  }
  model_.module->train();
  optimizer_->zero_grad();
  // This rank's rows of the global batch: its mean loss is weighted by its share of the batch, so
  // the gradients summed over the ranks are the whole batch's.
  const int64_t W = group_ ? group_->world_size() : 1, r = group_ ? group_->rank() : 0;
  int64_t global = B;  // the images of the whole batch (fewer than batch_size when some were unreadable)
  if (group_) {
    auto count = torch::tensor({static_cast<double>(B)}, torch::kFloat64);
    group_->all_reduce({count});
    global = static_cast<int64_t>(count.item<double>());
  }
  torch::manual_seed(mix_seed(o.seed(), kModel, step * static_cast<uint64_t>(W) + static_cast<uint64_t>(r)));  // dropout, DropPath
  torch::Tensor loss, logits;
  {
    const AutocastGuard autocast(o.amp(), o.device());
    if (teacher.defined()) {
      const auto heads = model_.module->forward_distilled(x);
      loss = distillation_loss(heads.cls, heads.dist, labels, teacher, o.distillation(), o.alpha(), o.tau(),
                               o.label_smoothing());
      logits = heads.mean();
    } else {
      logits = model_.module->forward(x);
      loss = smoothed_cross_entropy(logits, labels, o.label_smoothing());
    }
  }
  const double local_loss = loss.item<double>();
  TORCH_CHECK(std::isfinite(local_loss), "[Trainer] the loss became ", local_loss, " at step ", step_, " (learning rate ",
              stats.lr, ")");
  const double share = static_cast<double>(B) / static_cast<double>(global);
  if (reducer_) reducer_->prepare();
  (loss * share).backward();
  if (reducer_) {
    const auto start = std::chrono::steady_clock::now();
    reducer_->finish();
    stats.sync_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // the step's loss and accuracy over the whole batch
  auto sums = torch::tensor({local_loss * share, logits.argmax(1).eq(labels).sum().item<double>()}, torch::kFloat64);
  if (group_) group_->all_reduce({sums});
  stats.loss = sums[0].item<double>();
  stats.accuracy = sums[1].item<double>() / static_cast<double>(global);
  if (o.clip_grad_norm() > 0.) {
    std::vector<torch::Tensor> trained;
    for (const auto& [name, p] : named_params_) trained.push_back(p);
    stats.grad_norm = torch::nn::utils::clip_grad_norm_(trained, o.clip_grad_norm());
  }
  optimizer_->step();
  ++step_;
  return stats;
}

void Trainer::save(const std::string& dir) const {
  save_pretrained(model_, dir);
  std::vector<std::pair<std::string, torch::Tensor>> moments;
  const auto& state = optimizer_->state();
  for (const auto& [name, p] : named_params_) {
    const auto it = state.find(key_of(p));
    if (it == state.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    moments.emplace_back(name + ".exp_avg", s.exp_avg());
    moments.emplace_back(name + ".exp_avg_sq", s.exp_avg_sq());
    moments.emplace_back(name + ".step", torch::tensor(s.step(), torch::kInt64));
  }
  save_safetensors(dir + "/optimizer.safetensors", moments, {{"format", "vitcpp AdamW state"}});
  const Json trainer = {{"step", step_}, {"train_images", train_->size()},
                        {"options", detail::parse_json(options_to_json(options_), "[Trainer]")}};
  const std::string path = dir + "/trainer.json";
  detail::write_atomically(path, [&](std::ostream& out) { out << trainer.dump(2) << "\n"; }, "[Trainer] '" + path + "':");
}

Trainer Trainer::resume(const std::string& dir, ImageDataset train, std::optional<torch::Device> device) {
  return resume(dir, std::make_shared<const ImageDataset>(std::move(train)), device);
}

Trainer Trainer::resume(const std::string& dir, std::shared_ptr<const Dataset> train, std::optional<torch::Device> device) {
  const std::string path = dir + "/trainer.json", what = "[Trainer::resume] '" + path + "':";
  const auto trainer = detail::read_json_file(path, what);
  TORCH_CHECK(trainer.is_object() && trainer.contains("options") && trainer["options"].is_object() &&
                  trainer.contains("step") && trainer["step"].is_number_integer(),
              what, " needs an object 'options' and an integer 'step' (not a directory written by Trainer::save?)");
  auto stored = trainer["options"];
  stored.erase("workers");  // written before data parallelism moved to processes (Trainer::distribute)
  auto options = options_from_json(stored.dump(), TrainOptions(), what + " options:");
  if (device) options.device(*device);
  Trainer out(load_pretrained(dir, options.device()), std::move(train), options);
  // 2^63 and above are unsigned in nlohmann's JSON: checked as integers, not read wrapped
  const auto step = json_count(trainer, "step", out.total_steps(), -1, what);
  out.step_ = step;
  const auto images = json_count(trainer, "train_images", std::numeric_limits<int64_t>::max(), -1, what);
  TORCH_CHECK(images == out.train_->size(), what, " the run trained on ", images, " images, this dataset has ",
              out.train_->size());
  const std::string moments_path = dir + "/optimizer.safetensors";
  const auto moments = load_safetensors(moments_path);
  auto& state = out.optimizer_->state();
  // Each parameter's AdamW state, validated before use: both moments of the parameter's shape,
  // floating point, and its step one integer in [0, the run's step].
  const std::string where = "[Trainer::resume] '" + moments_path + "':";
  for (const auto& [name, p] : out.named_params_) {
    if (!moments.contains(name + ".exp_avg")) continue;  // no step yet
    for (const char* part : {".exp_avg_sq", ".step"})
      TORCH_CHECK(moments.contains(name + part), where, " '", name, ".exp_avg' has no '", name, part, "'");
    const auto& m = moments.at(name + ".exp_avg");
    const auto& v = moments.at(name + ".exp_avg_sq");
    TORCH_CHECK(m.sizes() == p.sizes() && v.sizes() == p.sizes(), where, " ", name, " moments ", m.sizes(),
                " do not match the parameter ", p.sizes());
    TORCH_CHECK(m.is_floating_point() && v.is_floating_point(), where, " ", name, " moments must be floating point, got ",
                m.scalar_type(), " and ", v.scalar_type());
    const auto& t = moments.at(name + ".step");
    TORCH_CHECK(t.numel() == 1 && !t.is_floating_point() && !t.is_complex() && t.scalar_type() != torch::kBool, where,
                " '", name, ".step' must hold one integer, got a ", t.scalar_type(), " tensor of shape ", t.sizes());
    const auto param_step = t.item<int64_t>();
    TORCH_CHECK(param_step >= 0 && param_step <= step, where, " '", name, ".step' must be in [0, ", step,
                "] (the run's step), got ", param_step);
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(param_step);
    s->exp_avg(m.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
    s->exp_avg_sq(v.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
    state[key_of(p)] = std::move(s);
  }
  return out;
}

EvalStats fit(Trainer& trainer, const Dataset& test, const std::string& dir, int64_t max_steps,
              const FitCallbacks& callbacks) {
  using clock = std::chrono::steady_clock;
  const auto seconds_since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  const auto stopped = [&] { return trainer.done() || (max_steps >= 0 && trainer.step() >= max_steps); };
  // In a data-parallel run, rank 0 alone evaluates, saves and reports epochs; the others wait for it
  // at their next step's all-reduce.
  const bool leader = !trainer.group() || trainer.group()->rank() == 0;
  const auto save = [&] {
    if (leader) trainer.save(dir);
  };
  EvalStats last;
  const auto evaluate_test = [&] { return leader && test.size() > 0 ? evaluate(trainer.model(), test) : EvalStats(); };
  if (trainer.done()) last = evaluate_test();
  while (!stopped()) {
    const int64_t epoch = trainer.epoch(), batch = trainer.options().batch_size();
    const auto start = clock::now();
    int64_t steps = 0;
    while (trainer.epoch() == epoch && !stopped()) {
      const auto stats = trainer.train_step();
      ++steps;
      if (callbacks.on_step && leader) callbacks.on_step(trainer, stats, static_cast<double>(steps * batch) / seconds_since(start));
    }
    if (trainer.epoch() == epoch) {  // stopped mid-epoch by max_steps
      save();
      return EvalStats();
    }
    last = evaluate_test();
    save();
    if (callbacks.on_epoch && leader) callbacks.on_epoch(trainer, last, seconds_since(start));
  }
  return last;
}

Pretrained fashion_mnist_model(const FashionMnistModel& recipe, bool distilled, uint64_t seed) {
  check_options(recipe, "[fashion_mnist_model]");
  const auto& r = recipe;
  const auto pool = r.pool() == "auto" ? (distilled ? "token" : "avg") : r.pool();
  TORCH_CHECK(!distilled || pool == "token", "[fashion_mnist_model] pool avg cannot go with distillation (a distilled "
              "student reads its class and distillation tokens)");
  TORCH_CHECK(!distilled || r.family() == "timm", "[fashion_mnist_model] distillation needs family timm (vit-pytorch's "
              "ViT has no distillation token)");
  const auto cfg = PretrainedCfg()
                       .input_size({3, 28, 28})
                       .interpolation("bilinear")
                       .crop_pct(1.)
                       .mean({0.2860, 0.2860, 0.2860})  // Fashion-MNIST's pixel mean and std
                       .std({0.3530, 0.3530, 0.3530});
  // The model is a zoo architecture with keyword arguments, as a config.json would describe it.
  const bool timm = r.family() == "timm";
  const auto architecture = !timm ? "vit_pytorch" : distilled ? "deit_tiny_distilled_patch16_224" : "vit_tiny_patch16_224";
  detail::Json args;
  if (timm) {
    args = {{"img_size", 28},          {"patch_size", r.patch()},     {"in_chans", 3},
            {"num_classes", 10},       {"embed_dim", r.dim()},        {"depth", r.depth()},
            {"num_heads", r.heads()},  {"mlp_ratio", r.mlp_ratio()},  {"drop_path_rate", r.drop_path()},
            {"distilled", distilled},  {"global_pool", pool},         {"class_token", pool == "token"}};
  } else {
    args = {{"image_size", 28},      {"patch_size", r.patch()}, {"num_classes", 10},
            {"dim", r.dim()},        {"depth", r.depth()},      {"heads", r.heads()},
            {"mlp_dim", static_cast<int64_t>(r.mlp_ratio() * static_cast<double>(r.dim()))},
            {"channels", 3},         {"dim_head", r.dim() / r.heads()}, {"pool", pool == "avg" ? "mean" : "cls"}};
  }
  torch::manual_seed(seed);
  return make_pretrained(create_model(architecture, args.dump()), architecture, fashion_mnist_classes(), cfg);
}

}  // namespace vit
