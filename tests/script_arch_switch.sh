#!/usr/bin/env bash
# Cross-check the aarch64 context switch (core/arch/aarch64.S + make.c)
# under qemu-user on this x86_64 machine, and the native one the same way.
# Skips (exit 0 with a message) when the cross compiler or qemu is missing.
# Usage: tests/script_arch_switch.sh <source dir> <build dir>
set -euo pipefail
src=$1 build=$2
out=$build/arch-switch
mkdir -p "$out"
check=$src/tests/arch/switch_check.c
arch=$src/core/arch

case "$(uname -m)" in
x86_64) native=x86_64.S ;;
aarch64) native=aarch64.S ;;
*) native= ;;
esac
if [ -n "$native" ]; then
	cc -O2 -I"$arch" "$check" "$arch/make.c" "$arch/$native" -o "$out/native"
	"$out/native"
fi

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
	echo "skip aarch64: gcc-aarch64-linux-gnu or qemu-user-static not installed"
	exit 0
fi
aarch64-linux-gnu-gcc -O2 -static -I"$arch" "$check" "$arch/make.c" "$arch/aarch64.S" -o "$out/aarch64"
qemu-aarch64-static "$out/aarch64"
