#!/usr/bin/env bash
# Compiles every vitcpp source (library, tool, examples, tests, benchmarks) against LibTorch 2.x
# headers, syntax only: Debian trixie's libtorch-dev .deb is downloaded (not installed) and unpacked
# into a scratch directory. It cannot link or run there (trixie's libraries need a newer glibc), but
# it catches code that only compiles against bookworm's 1.13 and checks the TORCH_VERSION_MAJOR >= 2
# branches. Not part of CI (it fetches from trixie); run it before changing LibTorch-facing code.
# usage: bash scripts/check-libtorch2.sh [scratch dir, default /tmp/vitcpp-libtorch2]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/vitcpp-libtorch2}
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/root" "$work/include/vit"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$work/sources.list"
apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
     -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
if [ ! -f "$work/root/usr/include/torch/csrc/api/include/torch/version.h" ]; then
  apt-get "${apt[@]}" update -qq
  (cd "$work" && apt-get "${apt[@]}" download libtorch-dev >/dev/null)
  dpkg-deb -x "$(ls "$work"/libtorch-dev_*.deb | head -1)" "$work/root"
fi
inc=$work/root/usr/include
grep -h -E "define TORCH_VERSION_(MAJOR|MINOR) " "$inc/torch/csrc/api/include/torch/version.h"
sed -e 's/@PROJECT_VERSION_MAJOR@/0/' -e 's/@PROJECT_VERSION_MINOR@/0/' -e 's/@PROJECT_VERSION_PATCH@/0/' \
    -e 's/@PROJECT_VERSION@/0.0.0/' include/vit/version.h.in >"$work/include/vit/version.h"
flags=(-std=c++17 -fsyntax-only -Wall -Wextra -Werror -fopenmp -DVITCPP_HAVE_ONEDNN
       -isystem "$inc" -isystem "$inc/torch/csrc/api/include" -Iinclude -I"$work/include" -Isrc -Itests
       -DVITCPP_SOURCE_GOLDEN_DIR='""' -DVITCPP_VIT_BINARY='""' -DVITCPP_BUILT_WITH_OPENMP=1)
files=(src/*.cpp src/engine/*.cpp tools/vit/*.cpp examples/*.cpp tests/*.cpp benchmarks/*.cpp)
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -I{} sh -c 'g++ "$@" {} || { echo "FAILED: {}"; exit 255; }' _ "${flags[@]}"
echo "all ${#files[@]} sources compile against LibTorch 2.x headers"
