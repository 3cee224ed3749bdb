// Tests of include/vit/safetensors.h; Python counterpart: tests/reference/safetensors_io.py (which
// wrote every golden file these tests and the model tests read).
#include <vit/safetensors.h>

#include "golden.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace vit {
namespace {

using testing::scratch_path;

std::string bytes_of(const std::string& header_json, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(header_json.size()) >> (8 * i)) & 0xff);
  return out + header_json + data;
}

std::string error_of_bytes(const std::string& bytes) {
  return testing::error_of([&] { parse_safetensors(bytes.data(), bytes.size(), "f"); });
}

TEST(SafeTensors, RoundTripsEveryDtypeShapeOrderAndMetadata) {
  const auto path = scratch_path("roundtrip.safetensors");
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"z.f32", torch::randn({3, 4})},
      {"a.f16", torch::randn({5}).to(torch::kFloat16)},
      {"m.bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"i64", torch::arange(6).reshape({2, 3})},
      {"i32", torch::arange(4, torch::kInt32)},
      {"i16", torch::arange(4, torch::kInt16)},
      {"i8", torch::arange(-2, 2, torch::kInt8)},
      {"u8", torch::arange(4, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::empty({0, 7})},
      {"strided", torch::randn({4, 6}).t()},
  };
  save_safetensors(path, tensors, {{"format", "pt"}, {"note", "hello"}});
  const auto loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].first, tensors[i].first);
    EXPECT_EQ(loaded.tensors[i].second.scalar_type(), tensors[i].second.scalar_type()) << tensors[i].first;
    EXPECT_TRUE(torch::equal(loaded.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(loaded.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hello"}}));
  EXPECT_TRUE(loaded.contains("i8"));
  EXPECT_ERROR(loaded.at("nope"), "[SafeTensors] no tensor 'nope' (has: z.f32, a.f16");
  std::remove(path.c_str());
}

TEST(SafeTensors, HeaderIsPaddedAndLaidOutAsPythonWritesIt) {
  const auto path = scratch_path("layout.safetensors");
  save_safetensors(path, {{"w", torch::ones({2})}}, {{"k", "v"}});
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 8);
  EXPECT_EQ(bytes.substr(8, n).find(R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"), 0u);
  std::remove(path.c_str());
}

TEST(SafeTensors, ReadsFilesWrittenByThePythonReference) {
  const auto file = load_safetensors(testing::golden_dir() + "/timm_attention.safetensors");
  EXPECT_EQ(file.metadata.at("module"), "Attention");
  EXPECT_EQ(file.at("param/qkv.weight").sizes(), (std::vector<int64_t>{144, 48}));
}

TEST(SafeTensors, TensorsViewTheMappingAndSurviveTheirFile) {
  const auto path = scratch_path("view.safetensors");
  save_safetensors(path, {{"a", torch::arange(10, torch::kFloat32)}});
  auto t = load_safetensors(path).at("a");
  std::remove(path.c_str());  // the mapping keeps the data alive
  t.add_(1);                  // copy-on-write: writable without touching the file
  EXPECT_TRUE(torch::equal(t, torch::arange(1, 11, torch::kFloat32)));
}

TEST(SafeTensors, ATensorDyingLeavesItsNeighboursIntact) {
  // Each mapped tensor returns its whole pages when it dies; pages it shares with a neighbour stay.
  const auto path = scratch_path("neighbours.safetensors");
  const auto a = torch::randn({3001}), b = torch::randn({5003}), c = torch::randn({7});
  save_safetensors(path, {{"a", a}, {"b", b}, {"c", c}});
  torch::Tensor kept_b, kept_c;
  {
    auto file = load_safetensors(path);
    kept_b = file.at("b");
    kept_c = file.at("c");
    kept_b.add_(1.f);  // a copy-on-write page of its own
  }
  EXPECT_TRUE(torch::equal(kept_b, b + 1.f));
  EXPECT_TRUE(torch::equal(kept_c, c));
  kept_b = torch::Tensor();
  EXPECT_TRUE(torch::equal(kept_c, c));
  std::remove(path.c_str());
}

TEST(SafeTensors, CorruptFilesGiveOneClearError) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  EXPECT_EQ(error_of_bytes(bytes_of(ok, data)), "<no error>");
  const std::string with_empty = R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(error_of_bytes(bytes_of(with_empty, data)), "<no error>");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "too short", error_of_bytes("abc"));
  std::string lying = bytes_of(ok, data);
  lying[0] = '\xff';
  lying[5] = '\x01';
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "exceeds the file", error_of_bytes(lying));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "header is not valid JSON"},
      {R"([1,2])", "header is not a JSON object"},
      {R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,8]}})", "tensor 'w' has unsupported dtype \"F8_E4M3\""},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", "tensor 'w': data_offsets [0, 16] exceed the data (8 bytes)"},
      {R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "hold 8 bytes, but F32 [3] needs 12"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "shape entry that is not a non-negative integer: -2"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", "whose size overflows"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "exceed the data"},
      {R"({"w":{"dtype":"F32","shape":[2]}})", "needs data_offsets [begin, end]"},
      {R"({"w":{"shape":[2],"data_offsets":[0,8]}})", "tensor 'w' has no dtype string"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", "overlap"},
      {R"({"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "__metadata__ value of 'a' is not a string"},
      {R"({"w":7})", "tensor 'w' is not described by an object"},
      {R"({"w":{"dtype":)" + std::string(100000, '[') + std::string(100000, ']') + "}}", "nested deeper than 32 levels"},
  };
  for (const auto& [header, message] : cases) {
    const auto error = error_of_bytes(bytes_of(header, data));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "[load_safetensors] 'f': ", error) << header;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, message, error) << header;
  }
}

TEST(SafeTensors, EveryTruncationOfAFileLoadsOrThrows) {
  const auto path = scratch_path("full.safetensors");
  save_safetensors(path, {{"a", torch::randn({3})}, {"b", torch::arange(5)}}, {{"k", "v"}});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t n = 0; n < bytes.size(); ++n) {
    const auto error = error_of_bytes(bytes.substr(0, n));
    EXPECT_NE(error, "<no error>") << "a file cut to " << n << " bytes loaded";
  }
  EXPECT_EQ(error_of_bytes(bytes), "<no error>");
  std::remove(path.c_str());
}

TEST(SafeTensors, MissingFileAndDirectory) {
  EXPECT_ERROR(load_safetensors("/nonexistent/x.safetensors"), "[load_safetensors] '/nonexistent/x.safetensors': cannot open");
  EXPECT_ERROR(load_safetensors(std::filesystem::temp_directory_path().string()), "not a regular file");
}

TEST(SafeTensors, SaveRejectsDuplicateNames) {
  EXPECT_ERROR(save_safetensors(scratch_path("dup"), {{"a", torch::ones(1)}, {"a", torch::ones(1)}}),
               "[save_safetensors] duplicate or reserved name 'a'");
}

}  // namespace
}  // namespace vit
