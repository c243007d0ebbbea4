#!/usr/bin/env bash
# Consumer build check: install urt from a build tree into a temporary
# prefix, then build a tiny program against the *installed* headers and
# libraries three ways (pkg-config as C, pkg-config as C++, and CMake's
# find_package), run each, and check what it prints.
# Usage: script_consumer.sh <source dir> <build dir>
set -euo pipefail

src=${1:?usage: $0 <source dir> <build dir>}
build=${2:?usage: $0 <source dir> <build dir>}
consumer=$src/tests/consumer
tmp=$(mktemp -d /tmp/urt-consumer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# A sanitized library needs the same runtime in the consumer.
san=$(sed -n 's/^URT_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")
sanflags=${san:+-fsanitize=$san}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pcdir=$(dirname "$(find "$tmp/prefix" -name urt.pc -print -quit)")
libdir=$(dirname "$(find "$tmp/prefix" -name 'liburt.so*' -print -quit)")
[ -n "$pcdir" ] || { echo "urt.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$pcdir
expected="urt $(pkg-config --modversion urt)"

check() { # name, program
	local out
	out=$(LD_LIBRARY_PATH=$libdir "$2")
	if [ "$out" != "$expected" ]; then
		echo "$1: printed '$out', expected '$expected'"
		exit 1
	fi
	echo "$1: ok ($out)"
}

# pkg-config, as C and as C++ (installed headers must be C++-clean)
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror $sanflags -o "$tmp/c" "$consumer/consumer.c" \
	$(pkg-config --cflags --libs urt)
check "pkg-config C" "$tmp/c"
# shellcheck disable=SC2046
g++ -x c++ -std=c++17 -Wall -Wextra -Werror $sanflags -o "$tmp/cxx" "$consumer/consumer.c" \
	$(pkg-config --cflags --libs urt)
check "pkg-config C++" "$tmp/cxx"
# static linking through pkg-config (Requires.private / Libs.private)
# shellcheck disable=SC2046
gcc -std=c11 $sanflags -o "$tmp/cstatic" "$consumer/consumer.c" $(pkg-config --cflags urt) \
	"$libdir/liburt.a" $(pkg-config --static --libs urt | sed 's/-lurt\b//')
check "pkg-config static" "$tmp/cstatic"

# CMake package
cmake -S "$consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
	-DURT_CONSUMER_LINK_FLAGS="$sanflags" >/dev/null
cmake --build "$tmp/cm" >/dev/null
for t in consumer_shared consumer_static consumer_cxx; do
	check "cmake $t" "$tmp/cm/$t"
done
echo "consumer build check passed"
