#include "vit/distributed.h"

#ifdef VITCPP_HAVE_C10D
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <type_traits>
#include <memory>
#include <utility>

namespace vit {

namespace {

// A list of ranks as text: "1", "1 and 3", "1, 2 and 3".
std::string ranks_text(const std::vector<int64_t>& ranks) {
  std::ostringstream out;
  for (size_t i = 0; i < ranks.size(); ++i) out << (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") << ranks[i];
  return out.str();
}

std::string excerpt(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

}  // namespace

std::optional<DistributedOptions> distributed_from_environment(DistributedOptions base) {
  const char* world = std::getenv("WORLD_SIZE");
  if (!world) return std::nullopt;
  const auto integer = [](const char* name, const char* value) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(value, &end, 10);
    TORCH_CHECK(*value && end && *end == 0 && errno == 0, "[distributed] ", name, "='", excerpt(value), "' is not an integer");
    return static_cast<int64_t>(v);
  };
  base.world_size(integer("WORLD_SIZE", world));
  if (const char* v = std::getenv("RANK")) base.rank(integer("RANK", v));
  if (const char* v = std::getenv("LOCAL_RANK")) base.local_rank(integer("LOCAL_RANK", v));
  if (const char* v = std::getenv("MASTER_PORT")) base.master_port(integer("MASTER_PORT", v));
  if (const char* v = std::getenv("MASTER_ADDR")) base.master_addr(v);
  check_options(base, "[distributed] torchrun's variables:");
  TORCH_CHECK(base.rank() < base.world_size(), "[distributed] RANK ", base.rank(), " is not below WORLD_SIZE ",
              base.world_size());
  return base;
}

#ifdef VITCPP_HAVE_C10D

bool distributed_available() { return true; }

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
};

namespace {

// LibTorch 2.4+ asks for TCPStore's libuv backend by default, which Debian's LibTorch 2.6 is built
// without ("use_libuv was requested but PyTorch was build without libuv support"): ask for the
// classic backend where the option exists.
template <typename T, typename = void>
struct HasLibUV : std::false_type {};
template <typename T>
struct HasLibUV<T, std::void_t<decltype(std::declval<T&>().useLibUV)>> : std::true_type {};
template <typename T>
void classic_backend(T& options) {
  if constexpr (HasLibUV<T>::value) options.useLibUV = false;
}

std::string arrived_key(int64_t rank) { return "vitcpp/arrived/" + std::to_string(rank); }

// A connection to `address` by `deadline`, or -1.
int connect_by(const addrinfo& address, std::chrono::steady_clock::time_point deadline) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address.ai_protocol);
  if (fd < 0) return -1;
  if (::connect(fd, address.ai_addr, address.ai_addrlen) == 0) return fd;
  if (errno == EINPROGRESS) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof(error);
    if (::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60000))) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0)
      return fd;
  }
  ::close(fd);
  return -1;
}

// Bytes as text for a message: printable ASCII as is, the rest as \xNN.
std::string bytes_text(const unsigned char* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] >= 0x20 && bytes[i] < 0x7f && bytes[i] != '\\') {
      out += static_cast<char>(bytes[i]);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned>(bytes[i]));
      out += hex;
    }
  }
  return out;
}

// What listens at `host`:`port` before a TCPStore client is handed the address. A TCPStore server
// never speaks first, and LibTorch's client reads on a background thread of its own (1.13's
// TCPClientWorkerDaemon, for watchKey's callbacks): bytes sent there unasked, read as a length,
// throw std::length_error on that thread, where no caller can catch it, and std::terminate ends the
// process. So: connect as TCPStore does (retrying while nothing listens, until `deadline`) and throw
// when the peer sends anything unasked within a moment, or closes the connection at once. Returns
// quietly when the name does not resolve (TCPStore says so).
void check_store_peer(const std::string& host, int64_t port, std::chrono::steady_clock::time_point deadline,
                      const std::string& who, const std::string& where, double timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) return;
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  int fd = -1;
  while (fd < 0) {
    for (const addrinfo* a = addresses.get(); a && fd < 0; a = a->ai_next) fd = connect_by(*a, deadline);
    if (fd >= 0) break;
    TORCH_CHECK(std::chrono::steady_clock::now() < deadline, who, " cannot reach the rendezvous store at ", where,
                " within ", timeout, " s (nothing accepts connections there)");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, 500)));
  unsigned char bytes[32] = {};
  const ssize_t n = ready == 1 ? ::recv(fd, bytes, sizeof(bytes), MSG_DONTWAIT) : -1;
  ::close(fd);
  TORCH_CHECK(n != 0, who, " the service at ", where, " is not a rendezvous store (it closed the connection at once); "
              "check MASTER_ADDR and MASTER_PORT");
  TORCH_CHECK(n < 0, who, " the service at ", where, " is not a rendezvous store (it sent '",
              bytes_text(bytes, static_cast<size_t>(n)), "' before being asked anything); check MASTER_ADDR and MASTER_PORT");
}

std::string failed_key(int64_t rank) { return "vitcpp/failed/" + std::to_string(rank); }

}  // namespace

ProcessGroup::ProcessGroup(DistributedOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  const auto& o = options_;
  check_options(o, "[ProcessGroup]");
  TORCH_CHECK(o.rank() < o.world_size(), "[ProcessGroup] rank ", o.rank(), " is not below world_size ", o.world_size());
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout() * 1000.));
  const std::string where = excerpt(o.master_addr()) + ":" + std::to_string(o.master_port());
  const std::string who = "[ProcessGroup] rank " + std::to_string(o.rank()) + ":";
  // rank 0 serves the store; the others first make sure a store is what listens there
  if (o.rank() != 0)
    check_store_peer(o.master_addr(), o.master_port(), std::chrono::steady_clock::now() + timeout, who, where, o.timeout());
  try {
    c10d::TCPStoreOptions store;
    store.port = static_cast<uint16_t>(o.master_port());
    store.isServer = o.rank() == 0;
    store.numWorkers = static_cast<size_t>(o.world_size());
    store.waitWorkers = false;  // the arrival keys below say who is missing
    store.timeout = timeout;
    classic_backend(store);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr(), store);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, " cannot ", o.rank() == 0 ? "serve" : "reach", " the rendezvous store at ", where, " within ",
                o.timeout(), " s (", excerpt(e.what()), ")");
  }
  std::vector<std::string> keys;
  for (int64_t r = 0; r < o.world_size(); ++r) keys.push_back(arrived_key(r));
  try {
    impl_->store->set(arrived_key(o.rank()), std::vector<uint8_t>{1});
    impl_->store->wait(keys, timeout);
  } catch (const std::exception& e) {
    std::vector<int64_t> missing;
    try {
      for (int64_t r = 0; r < o.world_size(); ++r)
        if (!impl_->store->check({arrived_key(r)})) missing.push_back(r);
    } catch (const std::exception&) {
      missing = {0};
    }
    TORCH_CHECK(false, who, " rank", missing.size() == 1 ? " " : "s ", ranks_text(missing), " of ", o.world_size(),
                missing.size() == 1 ? " did" : " did", " not arrive at ", where, " within ", o.timeout(), " s");
  }
  try {
    auto gloo = c10d::ProcessGroupGloo::Options::create();
    gloo->timeout = timeout;
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, static_cast<int>(o.rank()),
                                                              static_cast<int>(o.world_size()), gloo);
  } catch (const std::exception& e) {
    fail("connecting the process group", e);
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::fail(const std::string& what, const std::exception& error) const {
  // Every survivor posts its failure; whoever has not posted after a moment is lost. The store lives
  // in rank 0's process: when it cannot be reached, rank 0 is lost.
  const auto& o = options_;
  std::vector<int64_t> lost;
  try {
    impl_->store->set(failed_key(o.rank()), std::vector<uint8_t>{1});
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(2000, static_cast<int64_t>(o.timeout() * 500.))));
    for (int64_t r = 0; r < o.world_size(); ++r)
      if (r != o.rank() && !impl_->store->check({failed_key(r)})) lost.push_back(r);
  } catch (const std::exception&) {
    lost = {0};
  }
  std::ostringstream message;
  message << "[ProcessGroup] rank " << o.rank() << ": " << what << " failed";
  if (!lost.empty()) message << ": lost rank" << (lost.size() == 1 ? " " : "s ") << ranks_text(lost) << " of " << o.world_size();
  message << " (" << excerpt(error.what()) << ")";
  TORCH_CHECK(false, message.str());
}

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors, int64_t root) {
  TORCH_CHECK(root >= 0 && root < world_size(), "[ProcessGroup] broadcast root ", root, " is not a rank");
  if (tensors.empty()) return;
  try {
    // one collective per tensor (Gloo's list form means one tensor per device, all of one size), all
    // started before the first wait
    c10d::BroadcastOptions opts;
    opts.rootRank = static_cast<int>(root);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      works.push_back(impl_->gloo->broadcast(one, opts));
    }
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    fail("a broadcast", e);
  }
}

std::function<void()> ProcessGroup::all_reduce_async(std::vector<torch::Tensor> tensors) {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    for (auto& t : tensors) {  // one collective per tensor, as in broadcast
      std::vector<torch::Tensor> one{t};
      works.push_back(impl_->gloo->allreduce(one));
    }
  } catch (const std::exception& e) {
    fail("an all-reduce", e);
  }
  return [this, works, tensors] {
    try {
      for (const auto& w : works) w->wait();
    } catch (const std::exception& e) {
      fail("an all-reduce", e);
    }
  };
}

void ProcessGroup::all_reduce(std::vector<torch::Tensor> tensors) { all_reduce_async(std::move(tensors))(); }

void ProcessGroup::barrier() {
  try {
    impl_->gloo->barrier()->wait();
  } catch (const std::exception& e) {
    fail("a barrier", e);
  }
}

#else  // built without c10d

bool distributed_available() { return false; }

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(DistributedOptions options) : options_(std::move(options)) {
  TORCH_CHECK(false, "[ProcessGroup] this vitcpp was built without c10d (LibTorch's ProcessGroupGloo and TCPStore, and "
              "libgloo-dev's headers): install libgloo-dev and rebuild");
}
ProcessGroup::~ProcessGroup() = default;
void ProcessGroup::fail(const std::string& what, const std::exception& error) const {
  TORCH_CHECK(false, "[ProcessGroup] ", what, ": ", error.what());
}
void ProcessGroup::broadcast(std::vector<torch::Tensor>, int64_t) {}
std::function<void()> ProcessGroup::all_reduce_async(std::vector<torch::Tensor>) { return [] {}; }
void ProcessGroup::all_reduce(std::vector<torch::Tensor>) {}
void ProcessGroup::barrier() {}

#endif

// ---- GradientReducer ------------------------------------------------------------------------------

GradientReducer::GradientReducer(std::shared_ptr<ProcessGroup> group, std::vector<torch::Tensor> parameters,
                                 double bucket_mb)
    : group_(std::move(group)), parameters_(std::move(parameters)) {
  TORCH_CHECK(group_, "[GradientReducer] no process group");
  TORCH_CHECK(bucket_mb > 0., "[GradientReducer] bucket_mb must be positive, got ", bucket_mb);
  const auto capacity = static_cast<double>(bucket_mb) * 1024. * 1024.;
  bucket_of_.resize(parameters_.size());
  offset_.resize(parameters_.size());
  // ref: DDP's compute_bucket_assignment_by_size: parameters in reverse order, a bucket closed once it holds bucket_cap
  size_t bytes = 0, numel = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const auto& p = parameters_[k];
    TORCH_CHECK(p.requires_grad(), "[GradientReducer] parameter ", k, " does not require a gradient");
    if (bucket_params_.empty() || static_cast<double>(bytes) >= capacity) {
      if (!bucket_params_.empty()) flat_.push_back(torch::zeros({static_cast<int64_t>(numel)}, torch::kFloat32));
      bucket_params_.emplace_back();
      bytes = numel = 0;
    }
    bucket_of_[k] = bucket_params_.size() - 1;
    offset_[k] = numel;
    bucket_params_.back().push_back(k);
    numel += static_cast<size_t>(p.numel());
    bytes += static_cast<size_t>(p.numel()) * sizeof(float);
  }
  if (!bucket_params_.empty()) flat_.push_back(torch::zeros({static_cast<int64_t>(numel)}, torch::kFloat32));
  pending_.resize(bucket_params_.size());
  waits_.resize(bucket_params_.size());
  for (size_t k = 0; k < parameters_.size(); ++k)
    hooks_.push_back(parameters_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
  prepare();
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) parameters_[k].remove_hook(hooks_[k]);
}

void GradientReducer::prepare() {
  for (size_t b = 0; b < bucket_params_.size(); ++b) {
    flat_[b].zero_();
    pending_[b] = bucket_params_[b].size();
    waits_[b] = nullptr;
  }
}

void GradientReducer::on_gradient(size_t k, const torch::Tensor& grad) {
  const size_t b = bucket_of_[k];
  if (waits_[b]) return;  // already launched (a second backward before finish): the sum keeps the first
  torch::NoGradGuard no_grad;
  flat_[b].narrow(0, static_cast<int64_t>(offset_[k]), grad.numel()).copy_(grad.reshape(-1));
  if (--pending_[b] == 0) launch(b);
}

void GradientReducer::launch(size_t b) { waits_[b] = group_->all_reduce_async({flat_[b]}); }

void GradientReducer::finish() {
  for (size_t b = 0; b < bucket_params_.size(); ++b)
    if (!waits_[b]) launch(b);  // some parameter had no gradient this step: its zeros are summed
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < bucket_params_.size(); ++b) {
    waits_[b]();
    for (const size_t k : bucket_params_[b]) {
      auto& p = parameters_[k];
      const auto sum = flat_[b].narrow(0, static_cast<int64_t>(offset_[k]), p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.to(p.options(), /*non_blocking=*/false, /*copy=*/true);
    }
  }
  prepare();
}

}  // namespace vit
