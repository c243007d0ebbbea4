#!/usr/bin/env bash
# USDT probes: liburt.so carries a .note.stapsdt note for every probe
# (provider "urt"). Skips when the build has URT_USDT off.
# Usage: script_usdt.sh <source dir> <build dir>
set -euo pipefail
build=${2:?usage: script_usdt.sh <source dir> <build dir>}
if ! grep -q '^URT_USDT:BOOL=ON' "$build/CMakeCache.txt"; then
	echo "skip: URT_USDT is off in this build (install systemtap-sdt-dev)"
	exit 0
fi
command -v readelf >/dev/null || { echo "skip: readelf missing"; exit 0; }
lib=$build/liburt.so
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
notes=$(readelf -n "$lib")
fail=0
for p in task_spawn task_switch task_exit submit complete stall log_drop \
	offload_queue offload_start offload_done; do
	if ! grep -A3 'stapsdt' <<<"$notes" | grep -q "Provider: urt" ||
	   ! grep -A1 'Provider: urt' <<<"$notes" | grep -qx "[[:space:]]*Name: $p"; then
		echo "FAIL: probe urt:$p missing from $lib"
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "ok: urt USDT probes present in $lib"
exit $fail
