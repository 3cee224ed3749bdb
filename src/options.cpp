// The functions every options struct's field list (include/vit/options.h) runs through: JSON in
// and out, validation, printing, and command-line values.
#include "vit/options.h"

#include "io.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace vit::detail {

namespace {

template <typename T>
T& ref(const Field& f) {
  return *static_cast<T*>(f.value);
}

bool integral(Kind k) {
  return k == Kind::kInt || k == Kind::kUInt || k == Kind::kSize2 || k == Kind::kOptInt || k == Kind::kOptSize2 || k == Kind::kInt3;
}

const char* expected_type(Kind kind) {
  switch (kind) {
    case Kind::kInt: return "an integer";
    case Kind::kUInt: return "a non-negative integer";
    case Kind::kDouble: return "a number";
    case Kind::kBool: return "true or false";
    case Kind::kString: return "a string";
    case Kind::kSize2: return "an int or [h, w]";
    case Kind::kOptInt: return "an integer or null";
    case Kind::kOptDouble: return "a number or null";
    case Kind::kOptBool: return "true, false or null";
    case Kind::kOptSize2: return "an int, [h, w] or null";
    case Kind::kInt3: return "a list of 3 integers";
    case Kind::kDouble3: return "a list of 3 numbers";
    case Kind::kDevice: return "a device ('cpu', 'cuda' or 'cuda:N')";
  }
  return "?";
}

// A bound for messages: an integer without a fraction (cast only where int64_t holds it: the cast
// of a larger double is undefined), anything else as C++ streams doubles.
std::string number(double v, bool as_integer) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  if (as_integer && std::abs(v) < 9.2e18 && v == std::floor(v)) s << static_cast<int64_t>(v); else s << v;
  return s.str();
}

// The numbers a field holds (entries of pairs and triples; none for an unset optional).
std::vector<double> numbers(const Field& f) {
  switch (f.kind) {
    case Kind::kInt: return {static_cast<double>(ref<int64_t>(f))};
    case Kind::kUInt: return {static_cast<double>(ref<uint64_t>(f))};
    case Kind::kDouble: return {ref<double>(f)};
    case Kind::kSize2: return {static_cast<double>(ref<Size2>(f)->at(0)), static_cast<double>(ref<Size2>(f)->at(1))};
    case Kind::kOptInt: {
      const auto& o = ref<std::optional<int64_t>>(f);
      return o ? std::vector<double>{static_cast<double>(*o)} : std::vector<double>{};
    }
    case Kind::kOptDouble: {
      const auto& o = ref<std::optional<double>>(f);
      return o ? std::vector<double>{*o} : std::vector<double>{};
    }
    case Kind::kOptSize2: {
      const auto& o = ref<std::optional<Size2>>(f);
      return o ? std::vector<double>{static_cast<double>((*o)->at(0)), static_cast<double>((*o)->at(1))} : std::vector<double>{};
    }
    case Kind::kInt3: {
      const auto& a = ref<Int3>(f);
      return {static_cast<double>(a[0]), static_cast<double>(a[1]), static_cast<double>(a[2])};
    }
    case Kind::kDouble3: {
      const auto& a = ref<Double3>(f);
      return {a[0], a[1], a[2]};
    }
    default: return {};
  }
}

// The value for a range error: the number, or a pair or triple as [a, b(, c)]; integers exactly
// (not through a double, which rounds 2^63 - 1 up to 2^63).
std::string numbers_text(const Field& f) {
  std::vector<std::string> texts;
  switch (f.kind) {
    case Kind::kInt: texts = {std::to_string(ref<int64_t>(f))}; break;
    case Kind::kUInt: texts = {std::to_string(ref<uint64_t>(f))}; break;
    case Kind::kSize2: texts = {std::to_string(ref<Size2>(f)->at(0)), std::to_string(ref<Size2>(f)->at(1))}; break;
    case Kind::kOptInt: {
      const auto& o = ref<std::optional<int64_t>>(f);
      if (o) texts = {std::to_string(*o)};
      break;
    }
    case Kind::kOptSize2: {
      const auto& o = ref<std::optional<Size2>>(f);
      if (o) texts = {std::to_string((*o)->at(0)), std::to_string((*o)->at(1))};
      break;
    }
    case Kind::kInt3:
      for (const auto x : ref<Int3>(f)) texts.push_back(std::to_string(x));
      break;
    default:
      for (const double v : numbers(f)) texts.push_back(number(v, false));
  }
  const bool list = f.kind == Kind::kSize2 || f.kind == Kind::kOptSize2 || f.kind == Kind::kInt3 || f.kind == Kind::kDouble3;
  std::string out;
  for (const auto& t : texts) out += (out.empty() ? "" : ", ") + t;
  return list ? "[" + out + "]" : out;
}

// An integer field given `got`, an integer outside its range or outside what its type holds (2^63
// and above for int64_t, as nlohmann's unsigned JSON numbers or command-line text): the range error,
// the value as it was written. Unbounded ends are the type's limits.
[[noreturn]] void integer_out_of_range(const Field& f, const std::string& who, const std::string& got) {
  const auto& c = f.check;
  const bool is_unsigned = f.kind == Kind::kUInt;
  const std::string lo = !(c.lo > -9.2e18) ? (is_unsigned ? "0" : std::to_string(std::numeric_limits<int64_t>::min()))
                                           : number(c.lo, true);
  const std::string hi = !(c.hi < 9.2e18) ? (is_unsigned ? std::to_string(std::numeric_limits<uint64_t>::max())
                                                         : std::to_string(std::numeric_limits<int64_t>::max()))
                                          : number(c.hi, true);
  TORCH_CHECK(false, who, " must be in [", lo, ", ", hi, "], got ", got);
}

Json value_of(const Field& f) {
  switch (f.kind) {
    case Kind::kInt: return ref<int64_t>(f);
    case Kind::kUInt: return ref<uint64_t>(f);
    case Kind::kDouble: return ref<double>(f);
    case Kind::kBool: return ref<bool>(f);
    case Kind::kString: return ref<std::string>(f);
    case Kind::kSize2: {
      const auto& s = ref<Size2>(f);
      return s->at(0) == s->at(1) ? Json(s->at(0)) : Json::array({s->at(0), s->at(1)});
    }
    case Kind::kOptInt: {
      const auto& o = ref<std::optional<int64_t>>(f);
      return o ? Json(*o) : Json();
    }
    case Kind::kOptDouble: {
      const auto& o = ref<std::optional<double>>(f);
      return o ? Json(*o) : Json();
    }
    case Kind::kOptBool: {
      const auto& o = ref<std::optional<bool>>(f);
      return o ? Json(*o) : Json();
    }
    case Kind::kOptSize2: {
      const auto& o = ref<std::optional<Size2>>(f);
      if (!o) return Json();
      return (*o)->at(0) == (*o)->at(1) ? Json((*o)->at(0)) : Json::array({(*o)->at(0), (*o)->at(1)});
    }
    case Kind::kInt3: return ref<Int3>(f);
    case Kind::kDouble3: return ref<Double3>(f);
    case Kind::kDevice: return ref<torch::Device>(f).str();
  }
  return {};
}

// Checks one field's value; `who` begins the message ("[what] 'depth'" or "--depth").
void check_field(const Field& f, const std::string& who) {
  const auto& c = f.check;
  for (const double v : numbers(f)) {
    const bool finite = integral(f.kind) || std::isfinite(v);
    if (finite && v >= c.lo && v <= c.hi) continue;
    const bool as_integer = integral(f.kind);
    if (std::isinf(c.lo) && std::isinf(c.hi)) TORCH_CHECK(false, who, " must be a finite number, got ", number(v, false));
    TORCH_CHECK(false, who, " must be in [", number(c.lo, as_integer), ", ", number(c.hi, as_integer), "], got ",
                numbers_text(f));
  }
  if (f.kind == Kind::kString && !c.choices.empty()) {
    const auto& s = ref<std::string>(f);
    if (std::find(c.choices.begin(), c.choices.end(), s) != c.choices.end()) return;
    std::string list;
    for (const auto& choice : c.choices) list += (list.empty() ? "'" : ", '") + choice + "'";
    TORCH_CHECK(false, who, " must be one of ", list, ", got ", json_excerpt(Json(s)));
  }
}

// Sets field `f` from the JSON value `v`, then checks its range; `who` begins every message.
void set_json(const Field& f, const Json& v, const std::string& who) {
  auto wrong = [&] { TORCH_CHECK(false, who, " must be ", expected_type(f.kind), ", got ", json_excerpt(v)); };
  auto number_array = [&](bool ints) {
    if (!v.is_array() || v.size() != 3) wrong();
    for (const auto& x : v)
      if (ints ? !is_int64(x) : !x.is_number()) wrong();
  };
  // An integer field given an integer that int64_t cannot hold (nlohmann keeps 2^63 .. 2^64 - 1 as
  // unsigned): out of range, not "not an integer", and never converted.
  if (integral(f.kind) && f.kind != Kind::kUInt) {
    const auto beyond = [](const Json& x) { return x.is_number_unsigned() && !is_int64(x); };
    bool any = beyond(v);
    if (v.is_array())
      for (const auto& x : v) any = any || beyond(x);
    if (any) integer_out_of_range(f, who, json_excerpt(v));
  }
  switch (f.kind) {
    case Kind::kInt:
      if (!is_int64(v)) wrong();
      ref<int64_t>(f) = v.get<int64_t>();
      break;
    case Kind::kUInt:
      if (!v.is_number_unsigned()) wrong();
      ref<uint64_t>(f) = v.get<uint64_t>();
      break;
    case Kind::kDouble:
      if (!v.is_number()) wrong();
      ref<double>(f) = v.get<double>();
      break;
    case Kind::kBool:
      if (!v.is_boolean()) wrong();
      ref<bool>(f) = v.get<bool>();
      break;
    case Kind::kString:
      if (!v.is_string()) wrong();
      ref<std::string>(f) = v.get<std::string>();
      break;
    case Kind::kSize2:
    case Kind::kOptSize2: {
      std::optional<Size2> size;
      if (is_int64(v)) {
        size = Size2(v.get<int64_t>());
      } else if (!v.is_null() || f.kind == Kind::kSize2) {
        if (!v.is_array() || v.size() != 2 || !is_int64(v[0]) || !is_int64(v[1])) wrong();
        size = Size2({v[0].get<int64_t>(), v[1].get<int64_t>()});
      }
      if (f.kind == Kind::kSize2) ref<Size2>(f) = *size;
      else ref<std::optional<Size2>>(f) = size;
      break;
    }
    case Kind::kOptInt:
      if (!v.is_null() && !is_int64(v)) wrong();
      ref<std::optional<int64_t>>(f) = v.is_null() ? std::nullopt : std::optional<int64_t>(v.get<int64_t>());
      break;
    case Kind::kOptDouble:
      if (!v.is_null() && !v.is_number()) wrong();
      ref<std::optional<double>>(f) = v.is_null() ? std::nullopt : std::optional<double>(v.get<double>());
      break;
    case Kind::kOptBool:
      if (!v.is_null() && !v.is_boolean()) wrong();
      ref<std::optional<bool>>(f) = v.is_null() ? std::nullopt : std::optional<bool>(v.get<bool>());
      break;
    case Kind::kInt3:
      number_array(true);
      ref<Int3>(f) = {v[0].get<int64_t>(), v[1].get<int64_t>(), v[2].get<int64_t>()};
      break;
    case Kind::kDouble3:
      number_array(false);
      ref<Double3>(f) = {v[0].get<double>(), v[1].get<double>(), v[2].get<double>()};
      break;
    case Kind::kDevice: {
      if (!v.is_string()) wrong();
      const auto text = v.get<std::string>();
      if (text != "cpu" && text.rfind("cuda", 0) != 0) wrong();
      try {
        ref<torch::Device>(f) = torch::Device(text);
      } catch (const c10::Error&) {
        wrong();
      }
      break;
    }
  }
  check_field(f, who);
}

}  // namespace

void apply_json(const Fields& fields, const std::string& text, const std::string& what,
                const std::vector<std::string>& ignored, bool ignore_unknown) {
  const auto args = parse_json(text, what);
  TORCH_CHECK(args.is_object(), what, " expected a JSON object of keyword arguments, got ", args.type_name());
  for (const auto& item : args.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    const auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return key == f.name; });
    if (it != fields.end()) {
      set_json(*it, value, what + " '" + key + "'");
      continue;
    }
    const bool skip = ignore_unknown || std::find(ignored.begin(), ignored.end(), key) != ignored.end();
    TORCH_CHECK(skip, what, " unknown argument ", json_excerpt(Json(key)), " = ", json_excerpt(value));
  }
  for (const auto& f : fields)
    TORCH_CHECK(!f.check.required || args.contains(f.name), what, " missing required argument '", f.name, "'");
}

void set_from_string(const Field& f, const std::string& text, const std::string& what) {
  // The text as the JSON value it stands for: numbers and lists for numeric fields, strings as given.
  Json v;
  bool beyond = false;  // an integer literal that neither int64_t nor uint64_t holds
  auto parse_number = [&](const std::string& s) -> Json {
    if (s.empty()) return s;
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return static_cast<int64_t>(i);
    if (*end == '\0') {  // an integer beyond int64_t: an unsigned field may still take it (strtoull wraps negatives)
      errno = 0;
      const unsigned long long u = std::strtoull(s.c_str(), &end, 10);
      if (s.find('-') == std::string::npos && *end == '\0' && errno == 0) return static_cast<uint64_t>(u);
      beyond = true;
    }
    const double d = std::strtod(s.c_str(), &end);
    return *end == '\0' ? Json(d) : Json(s);
  };
  switch (f.kind) {
    case Kind::kString:
    case Kind::kDevice:
      v = text;
      break;
    case Kind::kBool:
    case Kind::kOptBool:
      if (text == "1" || text == "true" || text == "True") v = true;
      else if (text == "0" || text == "false" || text == "False") v = false;
      else if (f.kind == Kind::kOptBool && (text == "none" || text == "None" || text == "null")) v = nullptr;
      else v = text;
      break;
    case Kind::kSize2:
    case Kind::kOptSize2:
    case Kind::kInt3:
    case Kind::kDouble3: {
      if (f.kind == Kind::kOptSize2 && (text == "none" || text == "None" || text == "null")) {
        v = nullptr;
        break;
      }
      std::stringstream parts(text);
      std::string part;
      v = Json::array();
      while (std::getline(parts, part, ',')) v.push_back(parse_number(part));
      if (v.size() == 1 && (f.kind == Kind::kSize2 || f.kind == Kind::kOptSize2)) v = v[0];
      break;
    }
    default:
      v = (text == "none" || text == "None" || text == "null") ? Json() : parse_number(text);
  }
  // an integer field given an integer its type cannot hold: the range, the value as typed
  if (beyond && integral(f.kind)) integer_out_of_range(f, what, excerpt(text));
  // an unsigned field given a negative integer: say so as a range, not a type
  if (f.kind == Kind::kUInt && v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)
    TORCH_CHECK(false, what, " must be ", expected_type(f.kind), ", got ", excerpt(text));
  set_json(f, v, what);
}

std::string to_json(const Fields& fields) {
  Json out = Json::object();
  for (const auto& f : fields) out[f.name] = value_of(f);
  return out.dump();
}

std::string value_json(const Field& field) { return value_of(field).dump(); }

std::string diff_json(const Fields& fields, const Fields& base) {
  Json out = Json::object();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto v = value_of(fields[i]);
    if (v != value_of(base[i])) out[fields[i].name] = v;
  }
  return out.dump();
}

void check_fields(const Fields& fields, const std::string& what) {
  for (const auto& f : fields) check_field(f, what + " '" + f.name + "'");
}

void print_fields(std::ostream& stream, const Fields& fields) {
  bool first = true;
  for (const auto& f : fields) {
    stream << (first ? "" : ", ") << f.name << "=";
    first = false;
    const auto v = value_of(f);
    if (v.is_null()) {
      stream << "None";
    } else if (v.is_boolean()) {
      stream << (v.get<bool>() ? "True" : "False");
    } else if (v.is_string()) {
      stream << "'" << v.get<std::string>() << "'";
    } else if (v.is_array()) {
      stream << "(";
      for (size_t i = 0; i < v.size(); ++i) stream << (i ? ", " : "") << v[i].dump();
      stream << ")";
    } else if (v.is_number_float()) {
      stream << v.get<double>();
    } else {
      stream << v.dump();
    }
  }
}

}  // namespace vit::detail
