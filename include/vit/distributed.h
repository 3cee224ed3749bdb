#pragma once
// Data parallelism over processes and machines on LibTorch's c10d, as PyTorch's torchrun + DDP do
// it: a rendezvous at rank 0's TCPStore with torchrun's environment variables, a Gloo process group,
// and GradientReducer, DDP's Reducer written on c10d's collectives (gradients all-reduced in buckets
// while backward still runs). Trainer::distribute puts a Trainer on a ProcessGroup; `vit train
// --nproc N` starts N local processes. A peer that dies or never arrives ends every rank with an
// error naming it, within the timeout. Tests: tests/test_train.cpp, tests/test_cli.cpp; Python
// counterpart of the bucketed sum: tests/reference/training.py.

#include "vit/options.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vit {

#define VIT_DISTRIBUTED_OPTIONS(X)                                                                                  \
  X(std::string, master_addr, "127.0.0.1", Any(), "host of rank 0, whose TCPStore every rank meets at (torchrun's MASTER_ADDR)") \
  X(int64_t, master_port, 29500, Range(1, 65535), "the TCPStore's port (MASTER_PORT)")                             \
  X(int64_t, rank, 0, Range(0, 1 << 20), "this process's rank, 0 to world_size - 1 (RANK)")                          \
  X(int64_t, world_size, 1, Range(1, 1 << 20), "processes in the run (WORLD_SIZE)")                                  \
  X(int64_t, local_rank, 0, Range(0, 1 << 20), "this process's rank on its machine (LOCAL_RANK)")                    \
  X(double, timeout, 300., Range(0.1, 1e6),                                                                          \
    "seconds to wait for the other ranks (the rendezvous, each collective) before the run ends with an error")      \
  X(double, bucket_mb, 25., Range(1e-6, 1e5), "MiB of gradients per all-reduce bucket (DDP's bucket_cap_mb)")

/// Where a process stands in a data-parallel run.
/// Example: `vit::DistributedOptions().rank(1).world_size(2).master_port(29400)`
struct DistributedOptions {
  VIT_OPTIONS(DistributedOptions, VIT_DISTRIBUTED_OPTIONS)
};

/// `base` with torchrun's environment variables applied (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,
/// LOCAL_RANK), or nullopt when WORLD_SIZE is unset. A malformed or inconsistent value throws.
std::optional<DistributedOptions> distributed_from_environment(DistributedOptions base = {});

/// Whether this vitcpp was built with c10d (LibTorch's ProcessGroupGloo and TCPStore, and the Gloo
/// headers of libgloo-dev); without, ProcessGroup throws.
bool distributed_available();

/// One process's membership of a group: the rendezvous (every rank posts its arrival in rank 0's
/// TCPStore, which rank 0 serves) and a ProcessGroupGloo over TCP. Collectives take CPU tensors.
/// When a collective fails (a peer died or hung past the timeout), the error names the ranks that
/// were lost: every survivor posts its own failure in the store, and the ranks without one are lost
/// (rank 0 when the store itself is gone).
class ProcessGroup {
 public:
  /// Blocks until every rank has arrived; throws "[ProcessGroup] rank r: ranks 2, 3 of 4 did not
  /// arrive within T s" when some did not.
  explicit ProcessGroup(DistributedOptions options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return options_.rank(); }
  int64_t world_size() const { return options_.world_size(); }
  const DistributedOptions& options() const { return options_; }

  /// Every tensor takes rank `root`'s values, in place.
  void broadcast(std::vector<torch::Tensor> tensors, int64_t root = 0);
  /// Sums every tensor over the ranks, in place.
  void all_reduce(std::vector<torch::Tensor> tensors);
  /// The same, started on Gloo's threads; the returned function waits for it (and throws its error).
  std::function<void()> all_reduce_async(std::vector<torch::Tensor> tensors);
  /// Returns when every rank has called it.
  void barrier();

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& what, const std::exception& error) const;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// DDP's gradient synchronisation on a ProcessGroup: the parameters are packed into buckets of about
/// bucket_mb MiB in reverse order (the order backward produces their gradients); a hook on each
/// parameter copies its gradient into its bucket, and a bucket is all-reduced (summed) as soon as
/// its last gradient arrives, while backward goes on with the earlier layers. finish() waits for
/// every bucket (a parameter without a gradient this step counts as zeros) and writes each sum back
/// into the parameter's grad. The sum, not the mean: each rank scales its loss by its share of the
/// global batch.
class GradientReducer {
 public:
  GradientReducer(std::shared_ptr<ProcessGroup> group, std::vector<torch::Tensor> parameters, double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// Before each backward: empties the buckets.
  void prepare();
  /// After backward: every parameter's grad is the sum over the ranks.
  void finish();
  /// The buckets, each a list of parameter indices (in the order they are filled).
  const std::vector<std::vector<size_t>>& buckets() const { return bucket_params_; }

 private:
  void on_gradient(size_t parameter, const torch::Tensor& grad);
  void launch(size_t bucket);

  std::shared_ptr<ProcessGroup> group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<unsigned> hooks_;
  std::vector<std::vector<size_t>> bucket_params_;
  std::vector<size_t> bucket_of_, offset_;  // per parameter: its bucket and its offset in it
  std::vector<torch::Tensor> flat_;         // per bucket: the gradients, float32 on the CPU
  std::vector<size_t> pending_;             // per bucket: gradients still to come this step
  std::vector<std::function<void()>> waits_;
};

}  // namespace vit
