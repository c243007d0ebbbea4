#!/bin/sh
# Count the instructions of urt_ctxvar_get under callgrind: collect only
# inside that function over N calls, divide. Fails above the limit.
# usage: ctx_callgrind.sh VALGRIND BENCH_CTX LIMIT
set -eu
vg=$1 bench=$2 limit=$3 n=100000
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$vg" --tool=callgrind --callgrind-out-file="$out" --toggle-collect=urt_ctxvar_get \
	"$bench" --get-loop $n >/dev/null 2>&1
total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
per=$(( (total + n - 1) / n ))
echo "urt_ctxvar_get: $total instructions over $n calls = $per per call (limit $limit)"
[ "$per" -le "$limit" ]
