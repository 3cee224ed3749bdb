#!/usr/bin/env bash
# Configures, builds and runs the whole vitcpp test suite (ctest): module tests against the Python
# reference goldens, golden regeneration with python3-torch, and the installed-package consumer.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VITCPP_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVITCPP_BUILD_TESTS=ON -DVITCPP_WARNINGS_AS_ERRORS=ON
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure
