#!/usr/bin/env bash
# Installs vitcpp's build and test dependencies from Debian (bookworm) packages.
set -euo pipefail
packages=(
  g++ cmake make ccache
  libtorch-dev           # LibTorch 1.13 (CPU), found by find_package(Torch)
  libopenblas0-openmp    # without it Debian's torch falls back to the reference BLAS (~30x slower)
  libdnnl-dev            # oneDNN 2.6, the fast CPU backend of InferenceModel (LibTorch uses the same library)
  libgloo-dev            # Gloo headers, which LibTorch's c10d ProcessGroupGloo needs: data parallelism over processes
  ocl-icd-opencl-dev     # ... whose CMake package requires OpenCL
  libbenchmark-dev       # Google Benchmark programs in benchmarks/
  nlohmann-json3-dev     # JSON for safetensors headers and configs
  libcli11-dev           # the vit tool's command-line parser
  libjpeg62-turbo-dev    # JPEG decoding, the same decoder PIL uses
  libstb-dev             # PNG, BMP, GIF decoding (stb_image)
  zlib1g-dev             # gzip-compressed idx datasets (vit/data.h)
  dataset-fashion-mnist  # Fashion-MNIST for vit train and its tests (/usr/share/datasets/fashion-mnist)
  libgtest-dev           # unit tests
  python3-torch          # the Python reference that regenerates the test goldens (/usr/bin/python3)
  python3-pil            # ... and its image preprocessing (timm's eval transform runs on PIL images)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "dependencies ready"
