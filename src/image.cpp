#include "vit/image.h"

#include "io.h"

#include <jpeglib.h>
#include <jerror.h>

#include <csetjmp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_JPEG  // JPEG goes through libjpeg, as in PIL, so that pixels match
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace vit {

namespace {

// The most pixels an image may have (256 Mi: 768 MiB of RGB), checked in the header before decoding.
constexpr int64_t kMaxPixels = int64_t{1} << 28;
// The largest image file read (stb_image takes an int length).
constexpr int64_t kMaxImageBytes = (int64_t{1} << 31) - 1;

// ---- JPEG through libjpeg(-turbo) with its defaults (islow DCT, fancy upsampling), like PIL ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated = false;  // libjpeg grey-fills a cut scan; PIL refuses such files, and so do we
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

bool read_jpeg(const unsigned char* bytes, size_t size, Image& out, std::string& error) {
  jpeg_decompress_struct cinfo{};
  JpegError err{};
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.output_message = [](j_common_ptr) {};
  err.mgr.emit_message = [](j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegError*>(cinfo->err)->truncated = true;
  };
  std::vector<uint8_t> pixels;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    error = err.message;
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  // The header's size, before jpeg_start_decompress allocates for it (a progressive JPEG: the
  // coefficients of the whole image).
  if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
      int64_t{cinfo.image_width} * int64_t{cinfo.image_height} > kMaxPixels) {
    error = "image size " + std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height) + " is out of range";
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    error = "CMYK JPEG is not supported";
    return false;
  }
  const bool gray = cinfo.num_components == 1;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int64_t w = cinfo.output_width, h = cinfo.output_height, c = cinfo.output_components;
  if (w <= 0 || h <= 0 || w * h > kMaxPixels) {
    jpeg_destroy_decompress(&cinfo);
    error = "image size " + std::to_string(w) + "x" + std::to_string(h) + " is out of range";
    return false;
  }
  pixels.resize(static_cast<size_t>(w * h * c));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels.data() + static_cast<size_t>(cinfo.output_scanline) * w * c;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) {
    error = "truncated image data";
    return false;
  }
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w * h * 3));
  for (int64_t i = 0; i < w * h; ++i)
    for (int k = 0; k < 3; ++k) out.rgb[i * 3 + k] = pixels[i * c + (gray ? 0 : k)];
  return true;
}

// ---- PIL's resampling (libImaging/Resample.c) ----

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {  // a = -0.5
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

struct Coefficients {
  int ksize;
  std::vector<int> bounds;  // xmin, xmax per output
  std::vector<int32_t> k;   // fixed point, ksize per output
};

Coefficients precompute(int in_size, int out_size, double (*filter)(double), double filter_support) {
  // ref: precompute_coeffs(inSize, in0 = 0, in1 = inSize, outSize, ...) + normalize_coeffs_8bpc
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(out_size * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> kk(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      kk[x] = filter((x + xmin - center + 0.5) * ss);
      ww += kk[x];
    }
    for (int x = 0; x < c.ksize; ++x) {
      const double w = x < xmax ? (ww != 0.0 ? kk[x] / ww : kk[x]) : 0.0;
      c.k[static_cast<size_t>(xx) * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

}  // namespace

Image read_image(const std::string& path) {
  const std::string what = "[read_image] '" + detail::excerpt(path, 1000) + "':";
  // A directory, a device or a pipe is named as such, and the size is checked before a byte is read.
  const auto bytes = detail::read_regular_file(path, what, "an image file", kMaxImageBytes, "2 GiB");
  TORCH_CHECK(!bytes.empty(), what, " empty file");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  Image out;
  if (bytes.size() >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
    std::string error;
    TORCH_CHECK(read_jpeg(data, bytes.size(), out, error), what, " bad JPEG (", error, ")");
    return out;
  }
  const int size = static_cast<int>(bytes.size());  // below 2^31: read_regular_file checked
  int w = 0, h = 0, channels = 0;
  TORCH_CHECK(stbi_info_from_memory(data, size, &w, &h, &channels), what,
              " not a PNG, JPEG, BMP, GIF or PPM image (", stbi_failure_reason(), ")");
  TORCH_CHECK(w > 0 && h > 0 && static_cast<int64_t>(w) * h <= kMaxPixels, what, " image size ", w, "x", h,
              " is out of range");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, size, &w, &h, &channels, 3),
                                                   stbi_image_free);
  TORCH_CHECK(pixels, what, " cannot decode (", stbi_failure_reason(), ")");
  out.width = w;
  out.height = h;
  out.rgb.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * 3);
  return out;
}

Image resize(const Image& in, int64_t width, int64_t height, const std::string& filter) {
  TORCH_CHECK(width > 0 && height > 0 && in.width > 0 && in.height > 0, "[resize] sizes must be positive, got ",
              in.width, "x", in.height, " -> ", width, "x", height);
  TORCH_CHECK(filter == "bicubic" || filter == "bilinear", "[resize] filter must be 'bicubic' or 'bilinear', got '",
              filter, "'");
  if (width == in.width && height == in.height) return in;
  auto* fn = filter == "bicubic" ? bicubic : triangle;
  const double support = filter == "bicubic" ? 2.0 : 1.0;
  const auto horiz = precompute(static_cast<int>(in.width), static_cast<int>(width), fn, support);
  auto vert = precompute(static_cast<int>(in.height), static_cast<int>(height), fn, support);
  // ref: ImagingResampleInner: a horizontal pass over the rows the vertical pass needs, then a
  // vertical pass; each only when that dimension changes
  const bool need_horizontal = width != in.width, need_vertical = height != in.height;
  Image temp;
  if (need_horizontal) {
    const int first = vert.bounds[0];
    const int last = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1];
    for (int64_t i = 0; i < height; ++i) vert.bounds[i * 2] -= first;
    temp.width = width;
    temp.height = last - first;
    temp.rgb.resize(static_cast<size_t>(temp.width * temp.height * 3));
    for (int64_t y = 0; y < temp.height; ++y) {
      const uint8_t* row = in.rgb.data() + (y + first) * in.width * 3;
      for (int64_t x = 0; x < width; ++x) {
        const int xmin = horiz.bounds[x * 2], xmax = horiz.bounds[x * 2 + 1];
        const int32_t* k = &horiz.k[x * horiz.ksize];
        int32_t ss[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
        for (int i = 0; i < xmax; ++i)
          for (int c = 0; c < 3; ++c) ss[c] += row[(i + xmin) * 3 + c] * k[i];
        for (int c = 0; c < 3; ++c) temp.rgb[(y * width + x) * 3 + c] = clip8(ss[c]);
      }
    }
    if (!need_vertical) return temp;
  }
  const Image& src = need_horizontal ? temp : in;
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y) {
    const int ymin = vert.bounds[y * 2], ymax = vert.bounds[y * 2 + 1];
    const int32_t* k = &vert.k[y * vert.ksize];
    for (int64_t x = 0; x < width; ++x) {
      int32_t ss[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
      for (int i = 0; i < ymax; ++i)
        for (int c = 0; c < 3; ++c) ss[c] += src.rgb[((i + ymin) * width + x) * 3 + c] * k[i];
      for (int c = 0; c < 3; ++c) out.rgb[(y * width + x) * 3 + c] = clip8(ss[c]);
    }
  }
  return out;
}

torch::Tensor preprocess(const Image& image, const PretrainedCfg& cfg) {
  check_options(cfg, "[preprocess] pretrained_cfg");  // crop_mode center, crop_pct in [0.1, 1], std > 0, ...
  const int64_t H = cfg.input_size()[1], W = cfg.input_size()[2];
  // ref: timm transforms_imagenet_eval: scale_size = floor(img_size / crop_pct), then Resize of the
  // shorter side (torchvision: long side = int(size * long / short)), CenterCrop, ToTensor, Normalize
  const auto scale_h = static_cast<int64_t>(std::floor(H / cfg.crop_pct()));
  const auto scale_w = static_cast<int64_t>(std::floor(W / cfg.crop_pct()));
  int64_t new_w, new_h;
  if (cfg.crop_mode() == "squash") {  // ref: Resize((scale_h, scale_w)), aspect ratio not kept, then CenterCrop
    new_w = scale_w;
    new_h = scale_h;
  } else if (scale_h != scale_w) {
    TORCH_CHECK(false, "[preprocess] non-square input sizes (ResizeKeepRatio) are not supported yet");
  } else if (image.width <= image.height) {
    new_w = scale_w;
    new_h = static_cast<int64_t>(static_cast<double>(scale_w) * image.height / image.width);
  } else {
    new_h = scale_h;
    new_w = static_cast<int64_t>(static_cast<double>(scale_h) * image.width / image.height);
  }
  const auto resized = resize(image, new_w, new_h, cfg.interpolation());
  TORCH_CHECK(resized.width >= W && resized.height >= H, "[preprocess] resized image ", resized.width, "x",
              resized.height, " is smaller than the crop ", W, "x", H);
  // ref: crop_top = int(round((h - th) / 2.0)), Python's round half to even
  const auto top = static_cast<int64_t>(std::nearbyint((resized.height - H) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((resized.width - W) / 2.0));
  return to_tensor(crop(resized, left, top, W, H), cfg);
}

Image crop(const Image& image, int64_t left, int64_t top, int64_t width, int64_t height) {
  TORCH_CHECK(left >= 0 && top >= 0 && width > 0 && height > 0 && left + width <= image.width && top + height <= image.height,
              "[crop] the box ", width, "x", height, " at (", left, ", ", top, ") is not inside the ", image.width, "x",
              image.height, " image");
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y)
    std::memcpy(out.rgb.data() + y * width * 3, image.rgb.data() + ((top + y) * image.width + left) * 3,
                static_cast<size_t>(width * 3));
  return out;
}

Image flip_left_right(const Image& image) {
  Image out = image;
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x)
      std::memcpy(out.rgb.data() + (y * image.width + x) * 3, image.rgb.data() + (y * image.width + image.width - 1 - x) * 3, 3);
  return out;
}

torch::Tensor to_tensor(const Image& image, const PretrainedCfg& cfg) {
  TORCH_CHECK(image.width > 0 && image.height > 0 && image.rgb.size() == static_cast<size_t>(image.width * image.height * 3),
              "[to_tensor] not an RGB image of ", image.width, "x", image.height);
  auto pixels = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3}, torch::kUInt8);
  auto x = pixels.permute({2, 0, 1}).to(torch::kFloat32).div(255);
  const auto mean = torch::tensor({cfg.mean()[0], cfg.mean()[1], cfg.mean()[2]}, torch::kFloat32).view({3, 1, 1});
  const auto std = torch::tensor({cfg.std()[0], cfg.std()[1], cfg.std()[2]}, torch::kFloat32).view({3, 1, 1});
  return x.sub(mean).div(std).contiguous();
}

Image to_image(const torch::Tensor& pixels, const PretrainedCfg& cfg) {
  TORCH_CHECK(pixels.dim() == 3 && pixels.size(0) == 3, "[to_image] expected pixels (3, H, W), got ", pixels.sizes());
  const auto mean = torch::tensor({cfg.mean()[0], cfg.mean()[1], cfg.mean()[2]}, torch::kFloat32).view({3, 1, 1});
  const auto std = torch::tensor({cfg.std()[0], cfg.std()[1], cfg.std()[2]}, torch::kFloat32).view({3, 1, 1});
  const auto rgb = (pixels.to(torch::kCPU, torch::kFloat32) * std + mean).mul(255).round().clamp(0, 255).to(torch::kUInt8);
  Image out;
  out.height = pixels.size(1);
  out.width = pixels.size(2);
  const auto hwc = rgb.permute({1, 2, 0}).contiguous();
  out.rgb.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return out;
}

Image overlay_heatmap(const Image& image, const torch::Tensor& heat, double alpha) {
  TORCH_CHECK(heat.dim() == 2 && heat.numel() > 0, "[overlay_heatmap] expected a heat map (h, w), got ", heat.sizes());
  TORCH_CHECK(alpha >= 0. && alpha <= 1., "[overlay_heatmap] alpha must be in [0, 1], got ", alpha);
  TORCH_CHECK(image.width > 0 && image.height > 0 && static_cast<int64_t>(image.rgb.size()) == image.width * image.height * 3,
              "[overlay_heatmap] the image is empty or inconsistent");
  namespace F = torch::nn::functional;
  auto h = heat.to(torch::kCPU, torch::kFloat32).unsqueeze(0).unsqueeze(0);
  h = F::interpolate(h, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{image.height, image.width})
                            .mode(torch::kBilinear)
                            .align_corners(false))
          .squeeze();
  h = (h - h.min()) / (h.max() - h.min()).clamp_min(1e-12);
  // a blue -> cyan -> yellow -> red ramp
  const auto r = (1.5 - (4 * h - 3).abs()).clamp(0, 1), g = (1.5 - (4 * h - 2).abs()).clamp(0, 1),
             b = (1.5 - (4 * h - 1).abs()).clamp(0, 1);
  const auto colour = torch::stack({r, g, b}, -1).mul(255);
  const auto base = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3}, torch::kUInt8)
                        .to(torch::kFloat32);
  const auto blended = (base * (1 - alpha) + colour * alpha).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  Image out{image.width, image.height, {}};
  out.rgb.assign(blended.data_ptr<uint8_t>(), blended.data_ptr<uint8_t>() + blended.numel());
  return out;
}

void write_png(const std::string& path, const Image& image) {
  TORCH_CHECK(image.width > 0 && image.height > 0 && image.width <= 65535 && image.height <= 65535 &&
                  static_cast<int64_t>(image.rgb.size()) == image.width * image.height * 3,
              "[write_png] '", path, "': the image is empty or inconsistent");
  const int ok = stbi_write_png(path.c_str(), static_cast<int>(image.width), static_cast<int>(image.height), 3,
                                image.rgb.data(), static_cast<int>(image.width * 3));
  TORCH_CHECK(ok != 0, "[write_png] '", path, "': cannot write the file");
}

}  // namespace vit
