// Tests of include/vit/image.h against tests/reference/preprocess.py (PIL + timm's eval transform):
// decoding, PIL-exact resampling, center crop and normalisation must give the same tensors.
#include <vit/image.h>
#include <vit/safetensors.h>

#include "golden.h"

#include <chrono>
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

// A directory or a device is named as such, and a file's size and an image's pixel count are
// checked before the file is read or decoded.
TEST(ReadImage, DirectoriesDevicesAndHugeFilesAreRefusedBeforeReading) {
  const auto dir = std::filesystem::temp_directory_path().string();
  EXPECT_ERROR(read_image(dir), "[read_image] '" + dir + "': is a directory, not an image file");
  EXPECT_ERROR(read_image("/dev/null"), "[read_image] '/dev/null': not a regular file");
  // 2.5 GiB named .png, sparse (no disk, nothing to read): refused at once by its size
  const auto huge = testing::scratch_path("huge.png");
  std::ofstream(huge, std::ios::binary) << "\x89PNG\r\n";
  try {
    std::filesystem::resize_file(huge, std::uintmax_t{5} << 29);
  } catch (const std::filesystem::filesystem_error& e) {
    std::filesystem::remove(huge);
    GTEST_SKIP() << "no sparse 2.5 GiB file here: " << e.what();
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR(read_image(huge), "[read_image] '" + huge + "': is 2684354560 bytes, more than the 2 GiB an image file may have here");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.);
  std::filesystem::remove(huge);
  // a JPEG header of 60000x60000 (3.6 G pixels): refused before libjpeg allocates for it
  const auto big = testing::scratch_path("big.jpg");
  const unsigned char jpeg[] = {0xff, 0xd8,                                                        // SOI
                                0xff, 0xc0, 0x00, 0x11, 0x08, 0xea, 0x60, 0xea, 0x60, 0x03,        // SOF0 60000x60000
                                0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00,
                                0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11,  // SOS
                                0x00, 0x3f, 0x00, 0x00, 0x00, 0xff, 0xd9};
  std::ofstream(big, std::ios::binary).write(reinterpret_cast<const char*>(jpeg), sizeof(jpeg));
  EXPECT_ERROR(read_image(big), "bad JPEG (image size 60000x60000 is out of range)");
  std::filesystem::remove(big);
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
