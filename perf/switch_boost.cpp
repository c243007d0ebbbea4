// The Boost.Context peer of bench_switch: a raw fcontext ping-pong, the
// fastest stackful switch Boost offers (no scheduler, no bookkeeping).
// Compiled into bench_switch when libboost-context-dev is present.
#include <boost/context/detail/fcontext.hpp>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace bctx = boost::context::detail;

namespace {

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// The other side of the ping-pong: jump straight back, forever.
void pong(bctx::transfer_t t)
{
	for (;;)
		t = bctx::jump_fcontext(t.fctx, nullptr);
}

} // namespace

// Nanoseconds per switch over iters round trips (two switches each);
// a negative value if the stack cannot be allocated.
extern "C" double perf_boost_switch_ns(long iters)
{
	const std::size_t size = 64 * 1024;
	void *stack = std::malloc(size);
	if (!stack)
		return -1;
	bctx::fcontext_t ctx = bctx::make_fcontext(static_cast<char *>(stack) + size, size, pong);
	bctx::transfer_t t = bctx::jump_fcontext(ctx, nullptr); // warm up, enter pong
	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++)
		t = bctx::jump_fcontext(t.fctx, nullptr);
	uint64_t t1 = now_ns();
	std::free(stack); // pong is parked for good: its stack is never resumed
	return double(t1 - t0) / double(2 * iters);
}
