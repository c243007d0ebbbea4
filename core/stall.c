/* The stall detector: one watchdog thread per process (it exists while at
 * least one loop does) samples every registered loop each threshold/2. A
 * loop that is running a task (not the scheduler) and whose switch count
 * has not moved for >= threshold is held by that task: the watchdog sends
 * the loop thread a real-time signal, and the handler, running on that
 * thread where the stalled task is stable, writes the task's id, name and
 * a backtrace taken at that moment, async-signal-safely. One report per
 * stall, at most one per loop per second (the rest are counted).
 *
 * Nothing is added to the switch path but two relaxed atomic stores
 * (l->current and l->stats.switches), which are plain moves on x86. */
#include "core_internal.h"
#include "probes.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define URT_STALL_DEFAULT_NS (100 * URT_NS_PER_MS)
#define URT_STALL_REPORT_GAP_NS URT_NS_PER_SEC /* per loop */
#define URT_STALL_FRAMES 64
#define URT_WD_STACK (256 * 1024) /* at least: the first backtrace() runs dlopen on it */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static urt_loop *wd_loops;      /* registered loops (stall.next) */
static unsigned wd_gen;         /* bumped to stop the running watchdog */
static bool wd_running;
static pthread_t wd_thread;
static void *wd_stack;          /* its stack, ours: glibc would cache its own */
static size_t wd_stack_size;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static bool wd_usable;          /* signal handler installed */

/* The signal: a real-time one, so it queues and cannot collide with the
 * usual ones. If the application already handles it, urt stays away. */
static int stall_signal(void) { return SIGRTMIN + 5; }

/* ---- the report, on the loop thread (async-signal-safe) ------------------ */

static void report(urt_loop *l, urt_task *t, uint64_t held)
{
	char buf[256], *p = buf, *end = buf + sizeof buf - 1;
	p = urt__put_str(p, end, "urt: stall: task ");
	p = urt__put_u64(p, end, t->id);
	p = urt__put_str(p, end, " \"");
	p = urt__put_str(p, end, t->name);
	p = urt__put_str(p, end, "\" has held loop ");
	p = urt__put_u64(p, end, l->id);
	p = urt__put_str(p, end, " for ");
	p = urt__put_u64(p, end, held / URT_NS_PER_MS);
	p = urt__put_str(p, end, " ms");
	if (l->stall.suppressed) {
		p = urt__put_str(p, end, " (");
		p = urt__put_u64(p, end, l->stall.suppressed);
		p = urt__put_str(p, end, " earlier stalls not reported)");
	}
	*p++ = '\n';
	ssize_t w = write(l->stall.fd, buf, (size_t)(p - buf));
	(void)w;
	void *pcs[URT_STALL_FRAMES];
	int n = backtrace(pcs, URT_STALL_FRAMES); /* warmed up: no allocation */
	backtrace_symbols_fd(pcs, n, l->stall.fd);
}

static void on_stall_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	int saved_errno = errno;
	urt_loop *l = si->si_value.sival_ptr;
	/* only a report the watchdog asked for, on the loop's own thread,
	 * while the same stall still lasts (the same task, no switch since) */
	if (si->si_code != SI_QUEUE || !l || !pthread_equal(l->owner, pthread_self()))
		goto out;
	urt_task *t = l->current;
	uint64_t sw = atomic_load_explicit(&l->stall.sig_sw, memory_order_relaxed);
	if (!t || l->stats.switches != sw)
		goto out;
	uint64_t held = atomic_load_explicit(&l->stall.sig_held, memory_order_relaxed);
	l->stats.stalls++;
	URT_PROBE3(stall, l->id, t->id, held);
	uint64_t now = urt__mono_ns(); /* clock_gettime: async-signal-safe */
	if (l->stall.last_report && now - l->stall.last_report < URT_STALL_REPORT_GAP_NS) {
		l->stall.suppressed++;
		goto out;
	}
	report(l, t, held);
	l->stall.last_report = now;
	l->stall.suppressed = 0;
out:
	errno = saved_errno;
}

/* ---- the watchdog thread ------------------------------------------------- */

static void wd_init_once(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&wd_cond, &a);
	pthread_condattr_destroy(&a);
	struct sigaction old;
	if (sigaction(stall_signal(), NULL, &old) != 0 || old.sa_handler != SIG_DFL)
		return; /* the application owns this signal */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_stall_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	/* installed for good: a signal still on its way after the last loop
	 * has gone must not find the default action (terminate) */
	wd_usable = sigaction(stall_signal(), &sa, NULL) == 0;
}

/* Look at one loop; called with wd_lock held (so the loop thread exists). */
static void sample(urt_loop *l, uint64_t now)
{
	struct urt__stall *s = &l->stall;
	uint64_t sw = __atomic_load_n(&l->stats.switches, __ATOMIC_RELAXED);
	urt_task *cur = __atomic_load_n(&l->current, __ATOMIC_RELAXED);
	if (!cur || sw != s->seen_sw) {
		s->seen_sw = sw;
		s->seen_at = now;
		s->signalled = false;
		return;
	}
	if (s->signalled || now - s->seen_at < s->threshold)
		return;
	s->signalled = true; /* once per stall */
	/* backtrace() loads libgcc's unwinder on first use: do it here, not
	 * in the signal handler (and only in processes that do stall) */
	static bool warm;
	if (!warm) {
		void *pc;
		backtrace(&pc, 1);
		warm = true;
	}
	atomic_store_explicit(&s->sig_sw, sw, memory_order_relaxed);
	atomic_store_explicit(&s->sig_held, now - s->seen_at, memory_order_relaxed);
	pthread_sigqueue(l->owner, stall_signal(), (union sigval){.sival_ptr = l});
}

static void *watchdog(void *arg)
{
	unsigned gen = (unsigned)(uintptr_t)arg;
	pthread_mutex_lock(&wd_lock);
	while (gen == wd_gen) {
		uint64_t now = urt__mono_ns(), period = URT_NO_DEADLINE;
		for (urt_loop *l = wd_loops; l; l = l->stall.next) {
			sample(l, now);
			if (l->stall.threshold / 2 < period)
				period = l->stall.threshold / 2;
		}
		if (period < URT_NS_PER_MS)
			period = URT_NS_PER_MS;
		uint64_t until = now + period;
		struct timespec ts = {.tv_sec = (time_t)(until / URT_NS_PER_SEC),
				      .tv_nsec = (long)(until % URT_NS_PER_SEC)};
		pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
	}
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}

/* Start the watchdog thread with every signal blocked (signals for the
 * process must not land on it), on a stack we map and unmap ourselves:
 * glibc keeps the stacks of joined threads mapped for reuse, and a process
 * that used urt should look as it did before. Called with wd_lock held. */
static void wd_start(void)
{
	size_t page = urt__page_size(), size = URT_WD_STACK;
	pthread_attr_t attr;
	/* as large as a default thread stack (virtual memory only): static
	 * TLS lives there too, and sanitizers put a lot of it there */
	if (pthread_getattr_default_np(&attr) == 0) {
		size_t def = 0;
		if (pthread_attr_getstacksize(&attr, &def) == 0 && def > size)
			size = (def + page - 1) & ~(page - 1);
		pthread_attr_destroy(&attr);
	}
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED)
		return;
	mprotect(stack, page, PROT_NONE); /* guard */
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, (char *)stack + page, size - page);
	sigset_t old = urt__block_async_signals(); /* the watchdog inherits it */
	wd_running = pthread_create(&wd_thread, &attr, watchdog, (void *)(uintptr_t)wd_gen) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!wd_running) {
		munmap(stack, size);
		return;
	}
	wd_stack = stack;
	wd_stack_size = size;
	pthread_setname_np(wd_thread, "urt-watchdog");
}

static uint64_t threshold_of(const urt_config *c)
{
	if (c->stall_ns)
		return c->stall_ns;
	const char *env = getenv("URT_STALL_MS");
	if (env && *env) {
		char *end;
		unsigned long long ms = strtoull(env, &end, 10);
		if (*end == '\0')
			return ms == 0 || ms > URT_NO_DEADLINE / URT_NS_PER_MS ? URT_NO_DEADLINE
									   : ms * URT_NS_PER_MS;
	}
	return URT_STALL_DEFAULT_NS;
}

void urt__stall_loop_start(urt_loop *l)
{
	l->stall.threshold = threshold_of(&l->cfg);
	l->stall.fd = l->cfg.stall_fd > 0 ? l->cfg.stall_fd : 2;
	if (l->stall.threshold == URT_NO_DEADLINE)
		return;
	pthread_once(&wd_once, wd_init_once);
	if (!wd_usable) {
		l->stall.threshold = URT_NO_DEADLINE;
		return;
	}
	pthread_mutex_lock(&wd_lock);
	l->stall.seen_sw = l->stats.switches;
	l->stall.seen_at = urt__mono_ns();
	l->stall.next = wd_loops;
	wd_loops = l;
	if (!wd_running)
		wd_start();
	else
		pthread_cond_signal(&wd_cond); /* it may need a shorter period */
	pthread_mutex_unlock(&wd_lock);
}

void urt__stall_loop_stop(urt_loop *l)
{
	if (l->stall.threshold == URT_NO_DEADLINE)
		return;
	bool join = false;
	pthread_t th;
	void *stack = NULL;
	size_t stack_size = 0;
	pthread_mutex_lock(&wd_lock);
	for (urt_loop **pp = &wd_loops; *pp; pp = &(*pp)->stall.next)
		if (*pp == l) {
			*pp = l->stall.next;
			break;
		}
	l->stall.threshold = URT_NO_DEADLINE;
	if (!wd_loops && wd_running) {
		/* the last loop: stop this watchdog; a loop that registers
		 * meanwhile starts a new one (its own generation) */
		wd_gen++;
		wd_running = false;
		th = wd_thread;
		stack = wd_stack;
		stack_size = wd_stack_size;
		join = true;
		pthread_cond_broadcast(&wd_cond);
	}
	pthread_mutex_unlock(&wd_lock);
	if (join) {
		pthread_join(th, NULL); /* no thread outlives the last loop */
		munmap(stack, stack_size);
	}
}
