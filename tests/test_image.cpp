// Tests of include/vit/image.h against tests/reference/preprocess.py (PIL + timm's eval transform):
// decoding, PIL-exact resampling, center crop and normalisation must give the same tensors.
#include <vit/image.h>
#include <vit/safetensors.h>

#include "golden.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vit {
namespace {

std::vector<std::string> image_cases() {
  std::vector<std::string> names;
  const auto path = testing::golden_dir() + "/images/expected.safetensors";
  if (!std::ifstream(path)) return names;
  for (const auto& kv : load_safetensors(path).tensors) names.push_back(kv.first);
  return names;
}

class ImageReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ImageReference, PreprocessingEqualsTimmOnPil) {
  // case "file/size/crop_pct/interpolation[/crop_mode]"
  std::stringstream parts(GetParam());
  std::string file, size, crop_pct, interpolation, crop_mode;
  std::getline(parts, file, '/');
  std::getline(parts, size, '/');
  std::getline(parts, crop_pct, '/');
  std::getline(parts, interpolation, '/');
  if (!std::getline(parts, crop_mode, '/')) crop_mode = "center";
  const auto cfg = PretrainedCfg()
                       .input_size({3, std::stoll(size), std::stoll(size)})
                       .crop_pct(std::stod(crop_pct))
                       .interpolation(interpolation)
                       .crop_mode(crop_mode);
  const auto x = preprocess(read_image(testing::golden_dir() + "/images/" + file), cfg);
  const auto expected = load_safetensors(testing::golden_dir() + "/images/expected.safetensors").at(GetParam());
  // exact: same decoder (libjpeg), same fixed-point resampling, same float32 normalisation
  EXPECT_TRUE(testing::all_close(x, expected, 1e-6)) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Golden, ImageReference, ::testing::ValuesIn(image_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(ReadImage, BadFilesGiveOneLineErrors) {
  const auto dir = testing::golden_dir();
  EXPECT_ERROR(read_image("/nonexistent.png"), "[read_image] '/nonexistent.png': cannot open");
  EXPECT_ERROR(read_image(dir + "/timm_mlp.safetensors"), "not a PNG, JPEG, BMP, GIF or PPM image");
  // a JPEG cut short, and one with a corrupt header
  std::ifstream in(dir + "/images/rgb_tall.jpg", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto cut = std::filesystem::temp_directory_path() / "vitcpp_cut.jpg";
  for (size_t n : {size_t{4}, size_t{40}, bytes.size() / 2, bytes.size() - 3}) {
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(n));
    EXPECT_ERROR(read_image(cut.string()), "[read_image]");  // PIL refuses truncated JPEGs too
  }
  std::filesystem::remove(cut);
  EXPECT_ERROR(preprocess(read_image(dir + "/images/gray.png"), PretrainedCfg().crop_mode("border")),
               "[preprocess] pretrained_cfg 'crop_mode' must be one of 'center', 'squash', got \"border\"");
  EXPECT_ERROR(preprocess(read_image(dir + "/images/gray.png"), PretrainedCfg().std({0.5, 0., 0.5})),
               "[preprocess] pretrained_cfg 'std' must be in [1e-06, 1000], got [0.5, 0, 0.5]");
}

TEST(Resize, IdentityAndExactSizes) {
  const auto img = read_image(testing::golden_dir() + "/images/rgb_wide.png");
  EXPECT_EQ(img.width, 97);
  EXPECT_EQ(img.height, 61);
  const auto same = resize(img, 97, 61);
  EXPECT_EQ(same.rgb, img.rgb);
  const auto small = resize(img, 13, 7, "bilinear");
  EXPECT_EQ(small.rgb.size(), 13u * 7u * 3u);
  EXPECT_ERROR(resize(img, 0, 5), "[resize] sizes must be positive");
}

}  // namespace
}  // namespace vit
