#!/usr/bin/env bash
# Builds and runs the whole vitcpp test suite on Debian trixie: LibTorch 2.6, oneDNN 3.x, gcc 14 and
# python3-torch 2.6 for the goldens. Trixie lives in a debootstrap chroot cached outside the repo
# (VITCPP_TRIXIE_ROOT, default /var/cache/vitcpp-trixie); its first run downloads and installs it,
# later runs reuse it and its build directory (/build-trixie inside the chroot, with ccache).
# The checkout is bind-mounted at /src inside the chroot. Needs root (or sudo).
#
#   bash scripts/test-trixie.sh            # set up if needed, build, ctest
#   bash scripts/test-trixie.sh --shell    # an interactive shell in the chroot, checkout mounted
#   bash scripts/test-trixie.sh --setup    # only set up the chroot
#   bash scripts/test-trixie.sh --bench    # only set up the chroot, with benchmarks/compare.py's peers
#                                          # (ONNX Runtime, onnx); the plain run builds vit
#   bash scripts/test-trixie.sh --exec CMD ARGS...  # run a command in the set-up chroot (benchmarks/compare.py);
#                                          # OMP_NUM_THREADS and glibc's MALLOC_* variables pass through
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
root=${VITCPP_TRIXIE_ROOT:-/var/cache/vitcpp-trixie}
mirror=${VITCPP_TRIXIE_MIRROR:-http://deb.debian.org/debian}
mode=test
case "${1:-}" in
  "") ;;
  --exec) mode=exec; shift ;;
  --shell) mode=shell ;;
  --bench) mode=bench ;;
  --setup) mode=setup ;;
  *) echo "test-trixie.sh: unknown argument '$1' (expected --shell, --bench, --setup or --exec)" >&2; exit 2 ;;
esac
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ "$mode" = exec ] && [ ! -f "$root/.vitcpp-bootstrapped" ]; then
  echo "test-trixie.sh: no chroot at $root (run it with --bench first)" >&2
  exit 1
fi
if [ ! -f "$root/.vitcpp-bootstrapped" ]; then
  command -v debootstrap >/dev/null || {
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  echo "test-trixie.sh: debootstrapping Debian trixie into $root"
  $sudo mkdir -p "$root"
  $sudo debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
  $sudo touch "$root/.vitcpp-bootstrapped"
fi
$sudo cp /etc/resolv.conf "$root/etc/resolv.conf"

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do $sudo umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET
  $sudo mkdir -p "$2"
  if ! mountpoint -q "$2"; then
    $sudo mount --bind "$1" "$2"
    mounted+=("$2")
  fi
}
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
bind /proc "$root/proc"
bind /sys "$root/sys"
bind "$src" "$root/src"

passed=()
for v in OMP_NUM_THREADS MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_ MALLOC_ARENA_MAX; do
  [ -n "${!v:-}" ] && passed+=("$v=${!v}")
done
in_chroot() { $sudo chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 CCACHE_DIR=/var/cache/ccache "${passed[@]}" "$@"; }
if [ "$mode" = exec ]; then
  in_chroot "$@"
  exit
fi

# The same package list as bookworm (scripts/install-deps.sh), with trixie's versions, plus
# python3-setuptools, without which torch.compile fails.
in_chroot bash /src/scripts/install-deps.sh
extra=(python3-setuptools)
[ "$mode" = bench ] && extra+=(python3-onnxruntime python3-onnx python3-numpy)
missing=$(in_chroot dpkg-query -W -f='${Package} ${Status}\n' "${extra[@]}" 2>/dev/null | grep -c -v "install ok installed" || true)
if [ "$missing" != 0 ] || ! in_chroot dpkg-query -W "${extra[@]}" >/dev/null 2>&1; then
  in_chroot bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${extra[*]} >/dev/null"
fi

[ "$mode" = setup ] || [ "$mode" = bench ] && exit
if [ "$mode" = shell ]; then
  in_chroot bash -c 'cd /src && exec bash -i'
  exit
fi
echo "test-trixie.sh: $(in_chroot bash -c 'g++ --version | head -1; dpkg-query -W -f="LibTorch \${Version}\n" libtorch-dev; dpkg-query -W -f="oneDNN \${Version}\n" libdnnl-dev' | paste -sd ' ')"
in_chroot bash -c 'cd /src && VITCPP_BUILD_DIR=/build-trixie bash scripts/test.sh'
