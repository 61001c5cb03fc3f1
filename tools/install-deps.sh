#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages lightreasoner builds and tests with.
# Does nothing when they are all present; uses sudo when not root.
set -euo pipefail
pkgs=(cmake make gcc g++ pkg-config git
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libopenblas-dev libcjson-dev libpcre2-dev libyaml-dev libsleef-dev
      python3 python3-h5py python3-numpy python3-pandas python3-matplotlib
      slurmctld slurmd slurm-client munge iproute2 util-linux
      cppcheck clang-tidy
      clang libclang-rt-dev libomp-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
