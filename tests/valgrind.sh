#!/usr/bin/env bash
# valgrind memcheck over a subset of the tests (a release build, no
# sanitizers): definite leaks and memory errors fail. Coroutine stacks are
# registered with valgrind (core/stack.c, VALGRIND_STACK_REGISTER), so
# switching stacks is not reported. Criterion runs each test in a forked
# worker: --trace-children follows them.
# Usage: tests/valgrind.sh <build-dir> [test ...]
set -euo pipefail
build=$1
shift
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(task sleep chan mutex event deadline cancel io_file io_cancel ctx_tasks fork)
fail=0
run_one() {
	local t=$1 log
	log=$(mktemp)
	# a hang is a failure, not CI's 90-minute limit
	if timeout 900 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no \
		"$build/tests/test_$t" --jobs=1 -q >"$log" 2>&1; then
		echo "valgrind: $t clean"
	else
		echo "valgrind: $t FAILED" >&2
		tail -40 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}
pids=()
for t in "${tests[@]}"; do
	run_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$(nproc)" ]; then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
