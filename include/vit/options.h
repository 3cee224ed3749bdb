#pragma once
// One declaration per options struct. Every options struct of vitcpp lists its fields once, in an
// X-macro of lines
//
//   X(type, name, default, check, "doc")
//
// from which VIT_OPTIONS declares the fields (LibTorch's TORCH_ARG setters and getters, so that
// `VisionTransformerOptions().depth(6).num_heads(4)` reads like the Python call) and a field list
// that drives everything else: Python keyword arguments as JSON in (options_from_json: unknown
// keys, wrong types and out-of-range values are one-line errors naming the key) and out
// (options_to_json, options_diff), validation (check_options, which every module's reset() runs),
// printing (print_options, the modules' pretty_print) and the `vit` tool's flags. Adding an option
// is one line in its struct's list plus the code that uses it.
// Tests: tests/test_options.cpp.

#include <torch/torch.h>

#include <array>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace vit {

/// An int or {height, width}, as Python's `img_size=224` / `img_size=(224, 160)`.
using Size2 = torch::ExpandingArray<2>;
using Int3 = std::array<int64_t, 3>;
using Double3 = std::array<double, 3>;

/// What values a field takes: numbers in [lo, hi] (every entry of a pair or triple; an optional
/// only when set; doubles must be finite), or strings from a list; `required` fields must be given
/// in JSON (the C++ constructors take them as arguments).
namespace checks {
struct Check {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;
  bool required = false;
};
inline Check Any() { return {}; }
inline Check Range(double lo, double hi) { return {lo, hi, {}, false}; }
inline Check Probability() { return Range(0., 1.); }
inline Check Required(double lo, double hi) { return {lo, hi, {}, true}; }
template <typename... S>
Check OneOf(S... choices) {
  return {-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), {choices...}, false};
}
}  // namespace checks

namespace detail {

enum class Kind { kInt, kUInt, kDouble, kBool, kString, kSize2, kOptInt, kOptDouble, kOptBool, kOptSize2, kInt3, kDouble3, kDevice };

template <typename T>
struct KindOf;  // the types an option may have
template <> struct KindOf<int64_t> { static constexpr Kind value = Kind::kInt; };
template <> struct KindOf<uint64_t> { static constexpr Kind value = Kind::kUInt; };
template <> struct KindOf<double> { static constexpr Kind value = Kind::kDouble; };
template <> struct KindOf<bool> { static constexpr Kind value = Kind::kBool; };
template <> struct KindOf<std::string> { static constexpr Kind value = Kind::kString; };
template <> struct KindOf<Size2> { static constexpr Kind value = Kind::kSize2; };
template <> struct KindOf<std::optional<int64_t>> { static constexpr Kind value = Kind::kOptInt; };
template <> struct KindOf<std::optional<double>> { static constexpr Kind value = Kind::kOptDouble; };
template <> struct KindOf<std::optional<bool>> { static constexpr Kind value = Kind::kOptBool; };
template <> struct KindOf<std::optional<Size2>> { static constexpr Kind value = Kind::kOptSize2; };
template <> struct KindOf<Int3> { static constexpr Kind value = Kind::kInt3; };
template <> struct KindOf<Double3> { static constexpr Kind value = Kind::kDouble3; };
template <> struct KindOf<torch::Device> { static constexpr Kind value = Kind::kDevice; };

/// One field of an options object: its name, type, address, check and doc line.
struct Field {
  template <typename T>
  Field(const char* name_, T& value_, checks::Check check_, const char* doc_)
      : name(name_), kind(KindOf<T>::value), value(&value_), check(std::move(check_)), doc(doc_) {}
  const char* name;
  Kind kind;
  void* value;
  checks::Check check;
  const char* doc;
};
using Fields = std::vector<Field>;

void apply_json(const Fields& fields, const std::string& json, const std::string& what,
                const std::vector<std::string>& ignored, bool ignore_unknown);
void set_from_string(const Field& field, const std::string& text, const std::string& what);
std::string to_json(const Fields& fields);
std::string value_json(const Field& field);
std::string diff_json(const Fields& fields, const Fields& base);
void check_fields(const Fields& fields, const std::string& what);
void print_fields(std::ostream& stream, const Fields& fields);

}  // namespace detail

// The two expansions of a field line, and the declaration they make of a field list.
#define VIT_OPTION_MEMBER_(type, name, value, check, doc) TORCH_ARG(type, name) = value;
#define VIT_OPTION_FIELD_(type, name, value, check, doc) ::vit::detail::Field(#name, self.name(), ::vit::checks::check, doc),
/// Declares the fields of `FIELDS` (an X-macro of X(type, name, default, check, doc) lines) as
/// TORCH_ARG members of `Struct`, and `fields()`, the list the functions below work on.
#define VIT_OPTIONS(Struct, FIELDS)                       \
  FIELDS(VIT_OPTION_MEMBER_)                              \
 public:                                                  \
  ::vit::detail::Fields fields() const {                  \
    auto& self = const_cast<Struct&>(*this);              \
    return {FIELDS(VIT_OPTION_FIELD_)};                   \
  }

/// Sets the fields named in `json` (an object of Python keyword arguments) on a copy of `base` and
/// validates the result. Unknown keys (except those in `ignored`), wrong types, out-of-range values
/// and missing required fields throw one c10::Error starting with `what` and naming the key.
/// Example: `auto o = vit::options_from_json(R"({"depth": 6})", vit::VisionTransformerOptions());`
template <typename Options>
Options options_from_json(const std::string& json, Options base, const std::string& what = "[options]",
                          const std::vector<std::string>& ignored = {}) {
  detail::apply_json(base.fields(), json, what, ignored, /*ignore_unknown=*/false);
  detail::check_fields(base.fields(), what);
  return base;
}

/// Every field as a JSON object of Python keyword arguments.
template <typename Options>
std::string options_to_json(const Options& options) {
  return detail::to_json(options.fields());
}

/// The fields of `options` that differ from `base`, as a JSON object: the keyword arguments that
/// turn `base` into `options`.
template <typename Options>
std::string options_diff(const Options& options, const Options& base) {
  return detail::diff_json(options.fields(), base.fields());
}

/// Throws c10::Error "`what` name must be ..., got ..." for the first field outside its check.
template <typename Options>
void check_options(const Options& options, const std::string& what) {
  detail::check_fields(options.fields(), what);
}

/// Writes `name(field=value, ...)` with Python literals (True, None, 'text', (h, w)).
template <typename Options>
void print_options(std::ostream& stream, const char* name, const Options& options) {
  stream << name << "(";
  detail::print_fields(stream, options.fields());
  stream << ")";
}

}  // namespace vit
