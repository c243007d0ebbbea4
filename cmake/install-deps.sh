#!/usr/bin/env bash
# Install what urt's build, tests and benchmarks need on Debian 12, as root.
# Skips apt entirely when everything is present (so it also works offline).
# Usage: cmake/install-deps.sh [extra-package ...]
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config liburing-dev libcriterion-dev
      valgrind libuv1-dev libboost-context-dev libspdlog-dev libevent-dev
      systemtap-sdt-dev python3 wrk nginx gnuplot-nox clang-14 libclang-rt-14-dev
      gcc-aarch64-linux-gnu qemu-user-static "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "urt: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "urt: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
