#!/usr/bin/env bash
# Installs the Debian packages nkscape needs, and only those that are missing.
# Idempotent and quiet when everything is present. Run as root or with sudo available.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libudunits2-dev libudunits2-data libexpat1-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsundials-dev libsuitesparse-dev libeigen3-dev librandom123-dev libboost-dev
  valgrind
  openmpi-bin libopenmpi-dev
  libnlopt-dev libnlopt-cxx-dev
  libhdf5-dev libpng-dev python3-h5py python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "nkscape: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "nkscape: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Package lists on a fresh machine may be empty or stale: refresh before installing.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "nkscape: packages installed."
