#include "vit/torch_save.h"

#include "io.h"

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <ostream>
#include <unordered_map>

namespace vit {

namespace {

#define TS_CHECK(cond, ...) TORCH_CHECK(cond, "[load_torch_save] '", what, "': ", __VA_ARGS__)

// ---------------------------------------------------------------------------------------------
// zip (stored entries only, as torch.save writes them; ZIP64 aware)

struct Zip {
  const uint8_t* data;
  uint64_t size;
  std::string what;
  std::map<std::string, std::pair<uint64_t, uint64_t>> entries;  // name -> (offset, size) of the bytes

  uint64_t le(uint64_t at, int n) const {
    TS_CHECK(at <= size && static_cast<uint64_t>(n) <= size - at, "zip structure points outside the file (offset ", at, ")");
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | data[at + i];
    return v;
  }

  void parse() {
    TS_CHECK(size >= 22, "file is ", size, " bytes, too short for a zip archive");
    // End of central directory: the last 0x06054b50 within the final 64 KiB + 22 bytes.
    uint64_t eocd = UINT64_MAX;
    const uint64_t lowest = size > 65557 ? size - 65557 : 0;
    for (uint64_t at = size - 22;; --at) {
      if (le(at, 4) == 0x06054b50) {
        eocd = at;
        break;
      }
      if (at == lowest) break;
    }
    TS_CHECK(eocd != UINT64_MAX, "not a zip archive (no end of central directory)");
    uint64_t count = le(eocd + 10, 2), cd_size = le(eocd + 12, 4), cd_offset = le(eocd + 16, 4);
    if ((count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && eocd >= 20 &&
        le(eocd - 20, 4) == 0x07064b50) {  // ZIP64 locator -> ZIP64 end of central directory
      const uint64_t z64 = le(eocd - 20 + 8, 8);
      TS_CHECK(le(z64, 4) == 0x06064b50, "bad ZIP64 end of central directory");
      count = le(z64 + 32, 8);
      cd_size = le(z64 + 40, 8);
      cd_offset = le(z64 + 48, 8);
    }
    TS_CHECK(cd_offset <= size && cd_size <= size - cd_offset, "central directory [", cd_offset, ", +", cd_size,
             "] exceeds the file (", size, " bytes)");
    TS_CHECK(count <= cd_size / 46, "central directory claims ", count, " entries in ", cd_size, " bytes");
    uint64_t at = cd_offset;
    for (uint64_t i = 0; i < count; ++i) {
      TS_CHECK(le(at, 4) == 0x02014b50, "bad central directory entry ", i);
      const uint64_t method = le(at + 10, 2);
      uint64_t csize = le(at + 20, 4), usize = le(at + 24, 4);
      const uint64_t name_len = le(at + 28, 2), extra_len = le(at + 30, 2), comment_len = le(at + 32, 2);
      uint64_t local = le(at + 42, 4);
      TS_CHECK(name_len <= size && at + 46 + name_len <= size, "entry name outside the file");
      const std::string name(reinterpret_cast<const char*>(data + at + 46), name_len);
      // ZIP64 extended information: the 0xffffffff fields, in order usize, csize, offset
      for (uint64_t x = at + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
        const uint64_t id = le(x, 2), len = le(x + 2, 2);
        if (id == 0x0001) {
          uint64_t y = x + 4;
          if (usize == 0xffffffff) usize = le(y, 8), y += 8;
          if (csize == 0xffffffff) csize = le(y, 8), y += 8;
          if (local == 0xffffffff) local = le(y, 8);
        }
        x += 4 + len;
      }
      TS_CHECK(method == 0, "entry '", name, "' is compressed (method ", method, "); torch.save writes stored entries");
      TS_CHECK(csize == usize, "entry '", name, "' has inconsistent sizes");
      TS_CHECK(le(local, 4) == 0x04034b50, "entry '", name, "': bad local header");
      const uint64_t begin = local + 30 + le(local + 26, 2) + le(local + 28, 2);
      TS_CHECK(begin <= size && usize <= size - begin, "entry '", name, "' [", begin, ", +", usize,
               "] exceeds the file (", size, " bytes)");
      entries[name] = {begin, usize};
      at += 46 + name_len + extra_len + comment_len;
    }
  }

  // The entry "<any archive dir>/<suffix>"; torch.save names the top directory after the file.
  const std::pair<uint64_t, uint64_t>* find_suffix(const std::string& prefix, const std::string& suffix) const {
    const auto it = entries.find(prefix + suffix);
    return it == entries.end() ? nullptr : &it->second;
  }
};

// ---------------------------------------------------------------------------------------------
// unpickler

struct Value;
using Ptr = std::shared_ptr<Value>;
struct Value {
  enum Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Tensor, Global, Object, StorageRef } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;                               // String, Global ("module.name")
  std::vector<Ptr> items;                      // Tuple, List
  std::vector<std::pair<Ptr, Ptr>> dict;       // Dict
  torch::Tensor tensor;                        // Tensor, StorageRef (flat storage)
};

struct Unpickler {
  const uint8_t* p;
  const uint8_t* end;
  const Zip& zip;
  std::string prefix;  // "archive/"
  std::string what;
  std::vector<Ptr> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, Ptr> memo;
  std::map<std::string, torch::Tensor> storages;
  std::vector<Ptr> created;  // every value, so that cycles built through the memo can be broken

  Unpickler(const uint8_t* begin, const uint8_t* end_, const Zip& zip_, std::string prefix_, std::string what_)
      : p(begin), end(end_), zip(zip_), prefix(std::move(prefix_)), what(std::move(what_)) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  ~Unpickler() {
    for (auto& v : created) {
      v->items.clear();
      v->dict.clear();
    }
  }

  Ptr make(Value::Kind kind) {
    auto v = std::make_shared<Value>();
    v->kind = kind;
    created.push_back(v);
    return v;
  }

  uint64_t take(int n) {
    TS_CHECK(end - p >= n, "data.pkl ends inside an opcode");
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
    p += n;
    return v;
  }
  std::string take_bytes(uint64_t n) {
    TS_CHECK(static_cast<uint64_t>(end - p) >= n, "data.pkl ends inside a string of ", n, " bytes");
    std::string out(reinterpret_cast<const char*>(p), n);
    p += n;
    return out;
  }
  std::string take_line() {
    const auto* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
    TS_CHECK(nl, "data.pkl: unterminated GLOBAL");
    std::string out(reinterpret_cast<const char*>(p), nl - p);
    p = nl + 1;
    return out;
  }
  Ptr pop() {
    TS_CHECK(!stack.empty() && (marks.empty() || stack.size() > marks.back()), "data.pkl: stack underflow");
    auto v = stack.back();
    stack.pop_back();
    return v;
  }
  Ptr& top() {
    TS_CHECK(!stack.empty(), "data.pkl: stack underflow");
    return stack.back();
  }
  std::vector<Ptr> pop_mark() {
    TS_CHECK(!marks.empty() && marks.back() <= stack.size(), "data.pkl: no MARK");
    std::vector<Ptr> out(stack.begin() + static_cast<std::ptrdiff_t>(marks.back()), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return out;
  }
  Ptr tuple(std::vector<Ptr> items) {
    auto t = make(Value::Tuple);
    t->items = std::move(items);
    return t;
  }
  Ptr int_value(int64_t i) {
    auto v = make(Value::Int);
    v->i = i;
    return v;
  }

  torch::ScalarType storage_dtype(const std::string& global) {
    static const std::map<std::string, torch::ScalarType> types = {
        {"torch.FloatStorage", torch::kFloat32}, {"torch.DoubleStorage", torch::kFloat64},
        {"torch.HalfStorage", torch::kFloat16},  {"torch.BFloat16Storage", torch::kBFloat16},
        {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
        {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
        {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool}};
    const auto it = types.find(global);
    TS_CHECK(it != types.end(), "unsupported storage type ", global);
    return it->second;
  }

  // persistent id ('storage', storage_type, key, location, numel) -> flat tensor of the entry's bytes
  Ptr persistent_load(const Ptr& pid) {
    TS_CHECK(pid->kind == Value::Tuple && pid->items.size() >= 5 && pid->items[0]->kind == Value::String &&
                 pid->items[0]->s == "storage" && pid->items[1]->kind == Value::Global &&
                 pid->items[2]->kind == Value::String && pid->items[4]->kind == Value::Int,
             "unsupported persistent id in data.pkl");
    const auto dtype = storage_dtype(pid->items[1]->s);
    const auto& key = pid->items[2]->s;
    const int64_t numel = pid->items[4]->i;
    auto ref = make(Value::StorageRef);
    auto it = storages.find(key);
    if (it == storages.end()) {
      const auto* entry = zip.find_suffix(prefix, "data/" + key);
      TS_CHECK(entry, "storage '", key, "' is missing from the archive");
      const uint64_t item = c10::elementSize(dtype);
      TS_CHECK(numel >= 0 && static_cast<uint64_t>(numel) <= entry->second / item, "storage '", key, "' claims ", numel,
               " elements but its entry has ", entry->second, " bytes");
      auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
      if (numel > 0) std::memcpy(t.data_ptr(), zip.data + entry->first, numel * item);
      it = storages.emplace(key, t).first;
    }
    TS_CHECK(it->second.scalar_type() == dtype, "storage '", key, "' is used with two dtypes");
    ref->tensor = it->second;
    return ref;
  }

  static std::vector<int64_t> ints(const Ptr& v) {
    std::vector<int64_t> out;
    if (v->kind != Value::Tuple && v->kind != Value::List) return {-1};
    for (const auto& x : v->items) out.push_back(x->kind == Value::Int ? x->i : -1);
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  Ptr rebuild_tensor(const Ptr& args) {
    TS_CHECK(args->kind == Value::Tuple && args->items.size() >= 4 && args->items[0]->kind == Value::StorageRef &&
                 args->items[1]->kind == Value::Int,
             "malformed _rebuild_tensor_v2 arguments");
    const auto& storage = args->items[0]->tensor;
    const int64_t offset = args->items[1]->i;
    const auto size = ints(args->items[2]), stride = ints(args->items[3]);
    TS_CHECK(size.size() == stride.size() && size.size() <= 64, "tensor with ", size.size(), " sizes and ",
             stride.size(), " strides");
    // The furthest element must lie inside the storage: offset + sum((size - 1) * stride) < numel.
    int64_t last = offset, elements = 1;
    bool empty = false;
    for (size_t d = 0; d < size.size(); ++d) {
      TS_CHECK(size[d] >= 0 && stride[d] >= 0 && size[d] < (int64_t{1} << 40) && stride[d] < (int64_t{1} << 40),
               "tensor has invalid size ", size[d], " or stride ", stride[d]);
      if (size[d] == 0) empty = true;
      else last += (size[d] - 1) * stride[d];
      TS_CHECK(elements <= (int64_t{1} << 40) / std::max<int64_t>(size[d], 1), "tensor size overflows");
      elements *= std::max<int64_t>(size[d], 1);
    }
    TS_CHECK(offset >= 0 && (empty || last < storage.numel()), "tensor of size ", c10::IntArrayRef(size), " at offset ",
             offset, " exceeds its storage of ", storage.numel(), " elements");
    auto v = make(Value::Tensor);
    v->tensor = empty ? torch::empty(size, storage.options()) : storage.as_strided(size, stride, offset);
    return v;
  }

  Ptr call(const Ptr& callable, const Ptr& args) {
    if (callable->kind == Value::Global) {
      const auto& name = callable->s;
      if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(args);
      if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
        TS_CHECK(args->kind == Value::Tuple && !args->items.empty() && args->items[0]->kind == Value::Tensor,
                 "malformed _rebuild_parameter arguments");
        return args->items[0];
      }
      if (name == "collections.OrderedDict") return make(Value::Dict);
    }
    return make(Value::Object);  // anything else: inert
  }

  Ptr run() {
    while (true) {
      TS_CHECK(p < end, "data.pkl ends without STOP");
      const uint8_t op = *p++;
      switch (op) {
        case 0x80: take(1); break;                          // PROTO
        case 0x95: take(8); break;                          // FRAME
        case '.': return pop();                             // STOP
        case '(': marks.push_back(stack.size()); break;     // MARK
        case 'N': stack.push_back(make(Value::None)); break;
        case 0x88: case 0x89: {                             // NEWTRUE / NEWFALSE
          auto v = make(Value::Bool);
          v->i = op == 0x88;
          stack.push_back(v);
          break;
        }
        case 'J': stack.push_back(int_value(static_cast<int32_t>(take(4)))); break;  // BININT
        case 'K': stack.push_back(int_value(take(1))); break;                        // BININT1
        case 'M': stack.push_back(int_value(take(2))); break;                        // BININT2
        case 0x8a: {                                                                  // LONG1
          const auto n = take(1);
          TS_CHECK(n <= 8, "integer of ", n, " bytes");
          uint64_t v = n ? take(static_cast<int>(n)) : 0;
          if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          stack.push_back(int_value(static_cast<int64_t>(v)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | take(1);
          auto v = make(Value::Float);
          std::memcpy(&v->f, &bits, 8);
          stack.push_back(v);
          break;
        }
        case 'X': case 'B': case 0x8e: case 'T': case 0x8c: case 'C': case 'U': {  // strings and bytes
          const uint64_t n = (op == 'X' || op == 'B' || op == 'T') ? take(4) : op == 0x8e ? take(8) : take(1);
          auto v = make(Value::String);
          v->s = take_bytes(n);
          stack.push_back(v);
          break;
        }
        case ')': stack.push_back(tuple({})); break;
        case 't': stack.push_back(tuple(pop_mark())); break;
        case 0x85: { auto a = pop(); stack.push_back(tuple({a})); break; }
        case 0x86: { auto b = pop(), a = pop(); stack.push_back(tuple({a, b})); break; }
        case 0x87: { auto c = pop(), b = pop(), a = pop(); stack.push_back(tuple({a, b, c})); break; }
        case ']': stack.push_back(make(Value::List)); break;
        case 'l': { auto l = make(Value::List); l->items = pop_mark(); stack.push_back(l); break; }
        case '}': stack.push_back(make(Value::Dict)); break;
        case 'd': {
          auto items = pop_mark();
          TS_CHECK(items.size() % 2 == 0, "DICT with an odd number of items");
          auto d = make(Value::Dict);
          for (size_t k = 0; k < items.size(); k += 2) d->dict.emplace_back(items[k], items[k + 1]);
          stack.push_back(d);
          break;
        }
        case 'a': { auto v = pop(); auto& l = top(); if (l->kind == Value::List) l->items.push_back(v); break; }
        case 'e': {
          auto items = pop_mark();
          auto& l = top();
          if (l->kind == Value::List) l->items.insert(l->items.end(), items.begin(), items.end());
          break;
        }
        case 's': {
          auto value = pop(), key = pop();
          auto& d = top();
          if (d->kind == Value::Dict) d->dict.emplace_back(key, value);
          break;
        }
        case 'u': {
          auto items = pop_mark();
          TS_CHECK(items.size() % 2 == 0, "SETITEMS with an odd number of items");
          auto& d = top();
          if (d->kind == Value::Dict)
            for (size_t k = 0; k < items.size(); k += 2) d->dict.emplace_back(items[k], items[k + 1]);
          break;
        }
        case 'c': {  // GLOBAL module\nname\n
          auto g = make(Value::Global);
          g->s = take_line();
          g->s += "." + take_line();
          stack.push_back(g);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          TS_CHECK(name->kind == Value::String && module->kind == Value::String, "STACK_GLOBAL needs two strings");
          auto g = make(Value::Global);
          g->s = module->s + "." + name->s;
          stack.push_back(g);
          break;
        }
        case 'R': { auto args = pop(), callable = pop(); stack.push_back(call(callable, args)); break; }  // REDUCE
        case 0x81: { auto args = pop(), cls = pop(); stack.push_back(call(cls, args)); break; }          // NEWOBJ
        case 'b': pop(); break;                             // BUILD: state of an object; nothing to keep
        case 'Q': { auto pid = pop(); stack.push_back(persistent_load(pid)); break; }  // BINPERSID
        case 'q': memo[take(1)] = top(); break;             // BINPUT
        case 'r': memo[take(4)] = top(); break;             // LONG_BINPUT
        case 0x94: memo[memo.size()] = top(); break;        // MEMOIZE
        case 'h': case 'j': {                               // BINGET / LONG_BINGET
          const auto id = take(op == 'h' ? 1 : 4);
          const auto it = memo.find(id);
          TS_CHECK(it != memo.end(), "data.pkl refers to memo ", id, " before it is set");
          stack.push_back(it->second);
          break;
        }
        case '0': pop(); break;                             // POP
        case '1': pop_mark(); break;                        // POP_MARK
        case '2': stack.push_back(top()); break;            // DUP
        default:
          TS_CHECK(false, "unsupported pickle opcode 0x", std::hex, static_cast<int>(op), " in data.pkl");
      }
      TS_CHECK(stack.size() < (size_t{1} << 26), "data.pkl stack too deep");
    }
  }
};

bool all_tensors(const Value& d) {
  if (d.kind != Value::Dict || d.dict.empty()) return false;
  for (const auto& [k, v] : d.dict)
    if (k->kind != Value::String || v->kind != Value::Tensor) return false;
  return true;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> parse_torch_save(const void* data, size_t size, const std::string& what) {
  Zip zip{static_cast<const uint8_t*>(data), size, what, {}};
  zip.parse();
  std::string prefix;
  for (const auto& [name, where] : zip.entries) {
    const auto slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash) == "/data.pkl") {
      prefix = name.substr(0, slash + 1);
      break;
    }
  }
  TS_CHECK(!prefix.empty(), "no data.pkl in the archive (not a torch.save file)");
  if (const auto* order = zip.find_suffix(prefix, "byteorder")) {
    const std::string byteorder(reinterpret_cast<const char*>(zip.data + order->first), order->second);
    TS_CHECK(byteorder == "little", "byteorder '", byteorder, "' is not supported");
  }
  const auto& pkl = *zip.find_suffix(prefix, "data.pkl");
  Unpickler u(zip.data + pkl.first, zip.data + pkl.first + pkl.second, zip, prefix, what);
  const Ptr root = u.run();

  const Value* state = nullptr;
  if (all_tensors(*root)) {
    state = root.get();
  } else if (root->kind == Value::Dict) {
    for (const char* key : {"model", "state_dict", "model_state", "module", "model_state_dict"}) {
      for (const auto& [k, v] : root->dict)
        if (!state && k->kind == Value::String && k->s == key && all_tensors(*v)) state = v.get();
    }
  }
  if (!state) {
    std::string keys;
    if (root->kind == Value::Dict)
      for (const auto& [k, v] : root->dict) keys += (keys.empty() ? "" : ", ") + (k->kind == Value::String ? k->s : "?");
    TS_CHECK(false, "no state dict of tensors found (top level ",
             root->kind == Value::Dict ? "dict with keys: " + keys : std::string("is not a dict"), ")");
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [k, v] : state->dict) out.emplace_back(k->s, v->tensor);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> load_torch_save(const std::string& path) {
  const std::string& what = path;
  const auto file = detail::map_file(path, /*writable=*/false, "[load_torch_save] '" + path + "':");
  TS_CHECK(file.size > 0, "empty file");
  return parse_torch_save(file.bytes(), file.size, path);
}

// ---------------------------------------------------------------------------------------------
// writer

namespace {

uint32_t crc32(const char* data, size_t size, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ static_cast<uint8_t>(data[i])) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void put(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Protocol-2 pickle of OrderedDict{name: _rebuild_tensor_v2(storage i, 0, size, stride, False, OrderedDict())}.
std::string pickle_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::string p = "\x80\x02";
  auto unicode = [&](const std::string& s) {
    p += 'X';
    put(p, s.size(), 4);
    p += s;
  };
  auto integer = [&](int64_t v) {
    if (v >= 0 && v < (int64_t{1} << 31)) {
      p += 'J';
      put(p, static_cast<uint64_t>(v), 4);
    } else {
      p += '\x8a';
      p += '\x08';
      put(p, static_cast<uint64_t>(v), 8);
    }
  };
  auto int_tuple = [&](c10::IntArrayRef values) {
    p += '(';
    for (const auto v : values) integer(v);
    p += 't';
  };
  static const std::map<torch::ScalarType, const char*> storages = {
      {torch::kFloat32, "FloatStorage"}, {torch::kFloat64, "DoubleStorage"}, {torch::kFloat16, "HalfStorage"},
      {torch::kBFloat16, "BFloat16Storage"}, {torch::kInt64, "LongStorage"}, {torch::kInt32, "IntStorage"},
      {torch::kInt16, "ShortStorage"}, {torch::kInt8, "CharStorage"}, {torch::kUInt8, "ByteStorage"},
      {torch::kBool, "BoolStorage"}};
  p += "ccollections\nOrderedDict\n)R(";
  for (size_t i = 0; i < state.size(); ++i) {
    const auto& t = state[i].second;
    const auto it = storages.find(t.scalar_type());
    TORCH_CHECK(it != storages.end(), "[save_torch_save] tensor '", state[i].first, "' has unsupported dtype ", t.scalar_type());
    unicode(state[i].first);
    p += "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(";  // persistent id tuple
    unicode("storage");
    p += std::string("ctorch\n") + it->second + "\n";
    unicode(std::to_string(i));
    unicode("cpu");
    integer(t.numel());
    p += "tQ";
    integer(0);
    int_tuple(t.sizes());
    int_tuple(t.strides());
    p += "\x89" "ccollections\nOrderedDict\n)Rt";  // requires_grad False, backward_hooks OrderedDict()
    p += 'R';
  }
  p += "u.";
  return p;
}

// A zip archive of stored (uncompressed) entries, as torch.save writes it.
void write_zip(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string central;
  uint64_t offset = 0;
  bool zip64 = false;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = crc32(data.data(), data.size());
    const bool big = data.size() >= 0xffffffffull || offset >= 0xffffffffull;
    zip64 = zip64 || big;
    // local header (+ ZIP64 sizes when needed), padded so that data starts on 64 bytes as torch does
    std::string local;
    put(local, 0x04034b50, 4);
    put(local, big ? 45 : 20, 2);
    put(local, 0, 2);  // flags
    put(local, 0, 2);  // stored
    put(local, 0, 4);  // time, date
    put(local, crc, 4);
    put(local, big ? 0xffffffffu : data.size(), 4);
    put(local, big ? 0xffffffffu : data.size(), 4);
    put(local, name.size(), 2);
    std::string extra;
    if (big) {
      put(extra, 0x0001, 2);
      put(extra, 16, 2);
      put(extra, data.size(), 8);
      put(extra, data.size(), 8);
    }
    const uint64_t unpadded = offset + 30 + name.size() + extra.size() + 4;
    const uint64_t pad = (64 - unpadded % 64) % 64;
    put(extra, 0x4246, 2);  // 'FB' padding record, as PyTorch's writer uses
    put(extra, pad, 2);
    extra.append(pad, 'Z');
    put(local, extra.size(), 2);
    local += name + extra;
    out.write(local.data(), static_cast<std::streamsize>(local.size()));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));

    std::string zextra;
    if (big) {
      put(zextra, 0x0001, 2);
      put(zextra, 24, 2);
      put(zextra, data.size(), 8);
      put(zextra, data.size(), 8);
      put(zextra, offset, 8);
    }
    put(central, 0x02014b50, 4);
    put(central, big ? 45 : 20, 2);
    put(central, big ? 45 : 20, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 4);
    put(central, crc, 4);
    put(central, big ? 0xffffffffu : data.size(), 4);
    put(central, big ? 0xffffffffu : data.size(), 4);
    put(central, name.size(), 2);
    put(central, zextra.size(), 2);
    put(central, 0, 2);  // comment
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, 0, 4);  // external attributes
    put(central, big ? 0xffffffffu : offset, 4);
    central += name + zextra;
    offset += local.size() + data.size();
  }
  const uint64_t cd_offset = offset;
  out.write(central.data(), static_cast<std::streamsize>(central.size()));
  std::string tail;
  if (zip64 || cd_offset >= 0xffffffffull) {
    put(tail, 0x06064b50, 4);
    put(tail, 44, 8);
    put(tail, 45, 2);
    put(tail, 45, 2);
    put(tail, 0, 4);
    put(tail, 0, 4);
    put(tail, entries.size(), 8);
    put(tail, entries.size(), 8);
    put(tail, central.size(), 8);
    put(tail, cd_offset, 8);
    put(tail, 0x07064b50, 4);
    put(tail, 0, 4);
    put(tail, cd_offset + central.size(), 8);
    put(tail, 1, 4);
  }
  put(tail, 0x06054b50, 4);
  put(tail, 0, 4);
  put(tail, entries.size(), 2);
  put(tail, entries.size(), 2);
  put(tail, std::min<uint64_t>(central.size(), 0xffffffffu), 4);
  put(tail, std::min<uint64_t>(cd_offset, 0xffffffffu), 4);
  put(tail, 0, 2);
  out.write(tail.data(), static_cast<std::streamsize>(tail.size()));
}


}  // namespace

void save_torch_save(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& state_) {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& [name, t] : state_) {
    TORCH_CHECK(t.defined(), "[save_torch_save] tensor '", name, "' is undefined");
    state.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  }
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pickle_state(state)}};
  entries.emplace_back("archive/byteorder", "little");
  for (size_t i = 0; i < state.size(); ++i) {
    const auto& t = state[i].second;
    entries.emplace_back("archive/data/" + std::to_string(i),
                         std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
  }
  entries.emplace_back("archive/version", "3\n");

  detail::write_atomically(path, [&](std::ostream& out) { write_zip(out, entries); }, "[save_torch_save] '" + path + "':");
}

}  // namespace vit
