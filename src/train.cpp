#include "vit/train.h"

#include "vit/safetensors.h"
#include "vit/vision_transformer.h"  // DropPath

#include "io.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <chrono>
#include <cmath>
#include <sstream>
#include <type_traits>

namespace vit {

using detail::Json;

namespace {

// splitmix64: independent seeds for (seed, stream, index).
uint64_t mix(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
enum Stream : uint64_t { kEpochOrder = 1, kAugment = 2, kModel = 3 };

// Images in [0, 1] (B, C0, H, W) -> normalised (B, C, H, W) on `device`.
torch::Tensor normalise(const torch::Tensor& x, const PretrainedCfg& cfg, const torch::Device& device) {
  const auto& size = cfg.input_size();
  const int64_t C = size[0];
  TORCH_CHECK(x.dim() == 4 && (x.size(1) == 1 || x.size(1) == C) && x.size(2) == size[1] && x.size(3) == size[2],
              "[Trainer] images ", x.sizes(), " do not fit the model input ", C, "x", size[1], "x", size[2]);
  TORCH_CHECK(C <= 3, "[Trainer] the model takes ", C, " channels (1 to 3 supported)");
  const auto mean = torch::tensor(std::vector<double>(cfg.mean().begin(), cfg.mean().begin() + C), torch::kFloat32);
  const auto std = torch::tensor(std::vector<double>(cfg.std().begin(), cfg.std().begin() + C), torch::kFloat32);
  const auto y = x.to(device).expand({x.size(0), C, x.size(2), x.size(3)});
  return y.sub(mean.to(device).view({1, C, 1, 1})).div(std.to(device).view({1, C, 1, 1}));
}

// Whether the module draws random numbers in training (active dropout or DropPath).
bool stochastic(const torch::nn::Module& module) {
  for (const auto& m : module.modules()) {
    if (const auto* d = m->as<torch::nn::DropoutImpl>(); d && d->options.p() > 0.) return true;
    if (const auto* d = m->as<DropPathImpl>(); d && d->options.drop_prob() > 0.) return true;
  }
  return false;
}

// A replica takes the model's parameters and buffers (values only) and drops its gradients.
void copy_into(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  const auto src = from.parameters(), dst = to.parameters();
  for (size_t i = 0; i < src.size(); ++i) {
    dst[i].copy_(src[i]);
    dst[i].mutable_grad() = torch::Tensor();
  }
  const auto src_buffers = from.buffers(), dst_buffers = to.buffers();
  for (size_t i = 0; i < src_buffers.size(); ++i) dst_buffers[i].copy_(src_buffers[i]);
  to.train(from.is_training());
}

// model.grad += replica.grad, parameter by parameter.
void add_gradients(const torch::nn::Module& replica, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  const auto src = replica.parameters();
  auto dst = model.parameters();
  for (size_t i = 0; i < src.size(); ++i) {
    const auto& g = src[i].grad();
    if (!g.defined()) continue;
    if (dst[i].grad().defined()) dst[i].mutable_grad().add_(g);
    else dst[i].mutable_grad() = g.clone();
  }
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

std::pair<std::vector<std::string>, std::vector<std::string>> weight_decay_groups(const Model& model) {
  const auto no_decay = model.no_weight_decay();
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const auto& p : model.named_parameters()) {
    const auto& name = p.key();
    const bool decay = p.value().dim() > 1 && !no_decay.count(name) &&
                       !(name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0);
    (decay ? out.first : out.second).push_back(name);
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

torch::Tensor model_input(const torch::Tensor& images, const PretrainedCfg& cfg, const torch::Device& device) {
  TORCH_CHECK(images.scalar_type() == torch::kUInt8, "[model_input] expected uint8 images, got ", images.scalar_type());
  return normalise(images.to(torch::kFloat32).div(255.), cfg, device);
}

EvalStats evaluate(const Pretrained& model, const ImageDataset& data, int64_t batch_size) {
  TORCH_CHECK(batch_size > 0 && data.size() > 0, "[evaluate] needs images and a positive batch size");
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
    const int64_t n = std::min(batch_size, data.size() - begin);
    const auto x = model_input(data.images.narrow(0, begin, n), model.pretrained_cfg, device).to(dtype);
    const auto labels = data.labels.narrow(0, begin, n).to(device);
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
  }
  module.train(was_training);
  const auto N = static_cast<double>(data.size());
  out.images = data.size();
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
    : model_(std::move(model)), train_(std::move(train)), options_(std::move(options)) {
  const auto& o = options_;
  TORCH_CHECK(model_.module, "[Trainer] model is null");
  check_options(o, "[Trainer]");
  TORCH_CHECK(train_.size() >= o.batch_size(), "[Trainer] ", train_.size(), " training images are fewer than a batch of ",
              o.batch_size());
  TORCH_CHECK(train_.images.scalar_type() == torch::kUInt8 && train_.images.dim() == 4 &&
                  train_.labels.scalar_type() == torch::kInt64 && train_.labels.size(0) == train_.size(),
              "[Trainer] expected uint8 images (N, C, H, W) and int64 labels (N)");
  if (o.distillation() == "auto") options_.distillation(o.teacher().empty() ? "none" : "hard");
  const bool distilled = model_.module->distilled();
  TORCH_CHECK(o.distillation() == "none" || distilled, "[Trainer] distillation '", o.distillation(),
              "' needs a distilled student (a VisionTransformer with distilled: true)");
  TORCH_CHECK(o.distillation() != "none" || !distilled,
              "[Trainer] a distilled model trains with a teacher: set teacher and distillation 'hard' or 'soft'");
  const int64_t classes = model_.num_classes();
  TORCH_CHECK(classes > 0, "[Trainer] the model has no classification head");
  TORCH_CHECK(train_.labels.min().item<int64_t>() >= 0 && train_.labels.max().item<int64_t>() < classes,
              "[Trainer] labels must be in [0, ", classes, ")");
  TORCH_CHECK(o.workers() <= o.batch_size(), "[Trainer] workers must be in [0, batch_size ", o.batch_size(), "], got ",
              o.workers());
#ifdef _OPENMP
  const int64_t concurrent_workers = o.device().is_cpu() ? std::min<int64_t>(at::get_num_threads(), o.batch_size()) : 1;
#else
  const int64_t concurrent_workers = 1;  // built without OpenMP (see CMakeLists.txt): workers could only take turns
#endif
  if (o.workers() == 0) options_.workers(concurrent_workers);

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
  for (int64_t w = 1; w < o.workers(); ++w) replicas_.push_back(model_.module->clone_model());
  const auto params = model_.module->named_parameters();
  const auto [decay, no_decay] = weight_decay_groups(*model_.module);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& [names, wd] : {std::make_pair(decay, o.weight_decay()), std::make_pair(no_decay, 0.)}) {
    if (names.empty()) continue;
    std::vector<torch::Tensor> group;
    for (const auto& name : names) {
      group.push_back(params[name]);
      named_params_.emplace_back(name, params[name]);
    }
    groups.emplace_back(group, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(o.lr()).weight_decay(wd)));
  }
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(o.lr()));
}

int64_t Trainer::steps_per_epoch() const { return train_.size() / options_.batch_size(); }

void Trainer::set_teacher(std::function<torch::Tensor(const torch::Tensor&)> teacher) { teacher_ = std::move(teacher); }

StepStats Trainer::train_step() {
  const auto& o = options_;
  TORCH_CHECK(!done(), "[Trainer] training is done (", total_steps(), " steps)");
  TORCH_CHECK(o.distillation() == "none" || teacher_, "[Trainer] distillation '", o.distillation(),
              "' needs a teacher (TrainOptions::teacher or set_teacher)");
  const int64_t spe = steps_per_epoch(), epoch = step_ / spe, position = step_ % spe;
  const auto step = static_cast<uint64_t>(step_);
  if (order_epoch_ != epoch) {
    order_ = torch::randperm(train_.size(), at::make_generator<at::CPUGeneratorImpl>(mix(o.seed(), kEpochOrder, epoch)),
                             torch::kInt64);
    order_epoch_ = epoch;
  }
  const auto index = order_.narrow(0, position * o.batch_size(), o.batch_size());
  auto x = train_.images.index_select(0, index).to(torch::kFloat32).div(255.);
  if (o.crop_padding() > 0 || o.flip())
    x = random_crop_flip(x, o.crop_padding(), o.flip(), at::make_generator<at::CPUGeneratorImpl>(mix(o.seed(), kAugment, step)));
  x = normalise(x, model_.pretrained_cfg, o.device());
  const auto labels = train_.labels.index_select(0, index).to(o.device());

  StepStats stats;
  const int64_t warmup = static_cast<int64_t>(std::llround(o.warmup_epochs() * static_cast<double>(spe)));
  stats.lr = warmup_cosine_lr(step_, total_steps(), std::min(warmup, total_steps()), o.lr(), o.min_lr());
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(stats.lr);

  torch::Tensor teacher;
  if (o.distillation() != "none") {
    torch::NoGradGuard no_grad;
    teacher = teacher_(x);  // the whole batch at once, outside the workers
  }
  model_.module->train();
  optimizer_->zero_grad();
  for (auto& replica : replicas_) copy_into(*model_.module, *replica);

  // Worker w computes rows [B w / W, B (w + 1) / W) on its replica; its mean loss is weighted by its
  // share of the batch, so the summed gradients are the whole batch's.
  const int64_t W = o.workers(), B = o.batch_size();
  std::vector<double> losses(W);  // each worker's share of the batch's mean loss
  std::vector<int64_t> correct(W);
  const bool concurrent = W > 1 && o.device().is_cpu() && !stochastic(*model_.module);
  const auto run = [&](int64_t w) {
    auto& model = w == 0 ? *model_.module : *replicas_[w - 1];
    const int64_t begin = B * w / W, n = B * (w + 1) / W - begin;
    if (!concurrent) torch::manual_seed(mix(o.seed(), kModel, step * W + w));  // dropout and DropPath
    const auto xw = x.narrow(0, begin, n), labels_w = labels.narrow(0, begin, n);
    torch::Tensor loss, logits;
    if (teacher.defined()) {
      const auto heads = model.forward_distilled(xw);
      loss = distillation_loss(heads.cls, heads.dist, labels_w, teacher.narrow(0, begin, n), o.distillation(), o.alpha(),
                               o.tau(), o.label_smoothing());
      logits = heads.mean();
    } else {
      logits = model.forward(xw);
      loss = smoothed_cross_entropy(logits, labels_w, o.label_smoothing());
    }
    losses[w] = loss.item<double>();
    TORCH_CHECK(std::isfinite(losses[w]), "[Trainer] the loss became ", losses[w], " at step ", step_,
                " (learning rate ", stats.lr, ")");
    const double share = static_cast<double>(n) / static_cast<double>(B);
    losses[w] *= share;
    (loss * share).backward();
    correct[w] = logits.argmax(1).eq(labels_w).sum().item<int64_t>();
  };
  if (concurrent) {
    // One thread per worker, each running LibTorch's ops single-threaded. Its thread count must say
    // so too: oneDNN's convolution backward splits its weight-gradient reduction over
    // omp_get_max_threads() partial buffers, and inside a parallel region only one thread fills them
    // (garbage gradients, measured). get_num_threads first, as LibTorch's lazy per-thread init would
    // later reset the count. Without OpenMP (see CMakeLists.txt) this is a loop.
    at::parallel_for(0, W, 1, [&](int64_t w0, int64_t w1) {
#ifdef _OPENMP
      at::get_num_threads();
      omp_set_num_threads(1);
#endif
      for (int64_t w = w0; w < w1; ++w) run(w);
    });
  } else {
    for (int64_t w = 0; w < W; ++w) run(w);
  }
  for (const auto& replica : replicas_) add_gradients(*replica, *model_.module);
  if (o.clip_grad_norm() > 0.) stats.grad_norm = torch::nn::utils::clip_grad_norm_(model_.module->parameters(), o.clip_grad_norm());
  optimizer_->step();
  ++step_;
  for (int64_t w = 0; w < W; ++w) {
    stats.loss += losses[w];
    stats.accuracy += static_cast<double>(correct[w]) / static_cast<double>(B);
  }
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
  const Json trainer = {{"step", step_}, {"train_images", train_.size()},
                        {"options", detail::parse_json(options_to_json(options_), "[Trainer]")}};
  const std::string path = dir + "/trainer.json";
  detail::write_atomically(path, [&](std::ostream& out) { out << trainer.dump(2) << "\n"; }, "[Trainer] '" + path + "':");
}

Trainer Trainer::resume(const std::string& dir, ImageDataset train, std::optional<torch::Device> device) {
  const std::string path = dir + "/trainer.json", what = "[Trainer::resume] '" + path + "':";
  const auto trainer = detail::read_json_file(path, what);
  TORCH_CHECK(trainer.is_object() && trainer.contains("options") && trainer["options"].is_object() &&
                  trainer.contains("step") && trainer["step"].is_number_integer(),
              what, " needs an object 'options' and an integer 'step' (not a directory written by Trainer::save?)");
  auto options = options_from_json(trainer["options"].dump(), TrainOptions(), what + " options:");
  if (device) options.device(*device);
  Trainer out(load_pretrained(dir, options.device()), std::move(train), options);
  const auto step = trainer["step"].get<int64_t>();
  TORCH_CHECK(step >= 0 && step <= out.total_steps(), what, " step ", step, " is outside the run's ", out.total_steps(),
              " steps");
  out.step_ = step;
  const auto images = trainer.value("train_images", int64_t(-1));
  TORCH_CHECK(images == out.train_.size(), what, " the run trained on ", images, " images, this dataset has ",
              out.train_.size());
  const std::string moments_path = dir + "/optimizer.safetensors";
  const auto moments = load_safetensors(moments_path);
  auto& state = out.optimizer_->state();
  for (const auto& [name, p] : out.named_params_) {
    if (!moments.contains(name + ".exp_avg")) continue;  // no step yet
    const auto& m = moments.at(name + ".exp_avg");
    const auto& v = moments.at(name + ".exp_avg_sq");
    TORCH_CHECK(m.sizes() == p.sizes() && v.sizes() == p.sizes(), "[Trainer::resume] '", moments_path, "': ", name,
                " moments ", m.sizes(), " do not match the parameter ", p.sizes());
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(moments.at(name + ".step").item<int64_t>());
    s->exp_avg(m.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
    s->exp_avg_sq(v.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
    state[key_of(p)] = std::move(s);
  }
  return out;
}

EvalStats fit(Trainer& trainer, const ImageDataset& test, const std::string& dir, int64_t max_steps,
              const FitCallbacks& callbacks) {
  using clock = std::chrono::steady_clock;
  const auto seconds_since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  const auto stopped = [&] { return trainer.done() || (max_steps >= 0 && trainer.step() >= max_steps); };
  EvalStats last;
  if (trainer.done()) last = evaluate(trainer.model(), test);
  while (!stopped()) {
    const int64_t epoch = trainer.epoch(), batch = trainer.options().batch_size();
    const auto start = clock::now();
    int64_t steps = 0;
    while (trainer.epoch() == epoch && !stopped()) {
      const auto stats = trainer.train_step();
      ++steps;
      if (callbacks.on_step) callbacks.on_step(trainer, stats, static_cast<double>(steps * batch) / seconds_since(start));
    }
    if (trainer.epoch() == epoch) {  // stopped mid-epoch by max_steps
      trainer.save(dir);
      return EvalStats();
    }
    last = evaluate(trainer.model(), test);
    trainer.save(dir);
    if (callbacks.on_epoch) callbacks.on_epoch(trainer, last, seconds_since(start));
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
