#!/usr/bin/env bash
# Installs the Debian packages flashmem builds against, only when one is missing.
# Idempotent: a machine that has everything runs no apt command at all. `apt-get update` runs at
# most once per invocation, and only when something has to be installed.
set -euo pipefail

packages=(
  cmake ninja-build g++ make pkg-config
  libabsl-dev            # Status/StatusOr, flat_hash_map, Span, Mutex, StrFormat (20220623, no absl/log)
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev
  nlohmann-json3-dev
  libcli11-dev
  libimgui-dev libglfw3-dev libgl-dev   # profiler-ui (ImGui 1.86 with GLFW + OpenGL3 backends)
  xvfb xauth libgl1-mesa-dri           # ui tests: a real window under Xvfb + Mesa
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "flashmem setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "flashmem setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
