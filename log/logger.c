/* The default logger: open, close, flush, level, stats, fork handling,
 * and the futex helpers the producers and the writer share.
 *
 * fork(): the child inherits a copy of the logger but not its writer
 * thread. In the child the copy is disabled at once: log calls do nothing,
 * urt_log_flush() and urt_log_close() return -ECHILD (close releases the
 * copy and removes the inherited crash handlers), and urt_log_open() may
 * then start a fresh logger. Records queued before the fork are written by
 * the parent only. */
#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "log_internal.h"
#include "stats_provider.h" /* core's registry: the "log" section */

pthread_mutex_t urt__log_lock = PTHREAD_MUTEX_INITIALIZER;
/* The logger pointer, its generation and the clock choice share one cache
 * line: a log call after its thread slept misses on every line it touches.
 * (urt__log_level stays a plain int: an alias into this struct would be one
 * line fewer, but sanitizers take the alias for a 4-byte object.) */
struct urt__log_hot urt__log_hot __attribute__((aligned(64)));
int urt__log_level = URT_LOG_LVL_OFF;
static int configured_level = URT_LOG_LVL_OFF; /* level to restore; under the lock */
static uint64_t next_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool stats_registered; /* "log" stats section is ours (open/close don't race) */

void urt__log_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

void urt__log_futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

void urt__log_wake_writer(struct urt_logger *lg)
{
	atomic_fetch_add(&lg->wake, 1);
	if (atomic_load(&lg->writer_sleeping))
		urt__log_futex_wake(&lg->wake);
}

static void atfork_prepare(void) { pthread_mutex_lock(&urt__log_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&urt__log_lock); }
static void atfork_child(void)
{
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (lg) {
		lg->forked = true;
		__atomic_store_n(&urt__log_level, URT_LOG_LVL_OFF, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&urt__log_lock);
}
static void atfork_init(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

static int stats_section(FILE *out, void *arg);

static int check_cfg(const urt_log_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	if (cfg->sink > URT_LOG_SINK_FD || cfg->format > URT_LOG_FMT_JSON ||
	    cfg->policy > URT_LOG_DROP || cfg->level < 0 || cfg->level > URT_LOG_LVL_OFF)
		return -EINVAL;
	if (cfg->sink == URT_LOG_SINK_FILE && (!cfg->path || !cfg->path[0]))
		return -EINVAL;
	if (cfg->sink == URT_LOG_SINK_FD && cfg->fd < 0)
		return -EINVAL;
	if (cfg->buffer_size > (1u << 30))
		return -EINVAL;
	if (cfg->rotate_count > URT_LOG_MAX_ROTATE) /* each rotation renames them all */
		return -EINVAL;
	return 0;
}

/* Start the writer thread, on cfg.writer_cpus if set. 0, -EINVAL (no
 * usable CPU in the set) or -EAGAIN. */
static int writer_start(struct urt_logger *lg)
{
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return -EAGAIN;
	uint64_t mask = lg->cfg.writer_cpus;
	if (mask) {
		cpu_set_t set;
		CPU_ZERO(&set);
		for (int i = 0; i < 64; i++)
			if (mask >> i & 1)
				CPU_SET(i, &set);
		if (pthread_attr_setaffinity_np(&attr, sizeof set, &set) != 0) {
			pthread_attr_destroy(&attr);
			return -EINVAL;
		}
	}
	int e = pthread_create(&lg->thread, &attr, urt__log_writer_main, lg);
	pthread_attr_destroy(&attr);
	if (e == 0) {
		lg->thread_started = true;
		return 0;
	}
	return e == EINVAL && mask ? -EINVAL : -EAGAIN;
}

static void logger_free(struct urt_logger *lg)
{
	struct urt_log_ring *r = lg->rings;
	while (r) {
		struct urt_log_ring *next = r->next;
		urt__log_ring_free(r);
		r = next;
	}
	urt__log_io_fini(lg);
	urt__log_sink_close(lg);
	free(lg->out.p);
	free(lg->spare.p);
	free(lg->inflight_iov);
	free(lg->msg.p);
	free(lg->snap);
	free(lg->path_copy);
	free(lg);
}

int urt_log_open(const urt_log_config *cfg)
{
	int r = check_cfg(cfg);
	if (r < 0)
		return r;
	pthread_once(&atfork_once, atfork_init);
	urt__log_clock_init();
	struct urt_logger *lg = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *lg);
	if (!lg)
		return -ENOMEM;
	lg->cfg = *cfg;
	lg->fd = -1;
	if (!lg->cfg.level)
		lg->cfg.level = URT_LOG_LVL_INFO;
	size_t want = cfg->buffer_size ? cfg->buffer_size : URT_LOG_DEFAULT_RING;
	size_t cap = URT_LOG_MIN_RING;
	while (cap < want)
		cap *= 2;
	lg->cfg.buffer_size = cap;
	if (!lg->cfg.rotate_count)
		lg->cfg.rotate_count = 5;
	if (cfg->sink == URT_LOG_SINK_FILE) {
		lg->path_copy = urt__fault(URT_FAULT_ALLOC) ? NULL : strdup(cfg->path);
		if (!lg->path_copy) {
			free(lg);
			return -ENOMEM;
		}
		lg->cfg.path = lg->path_copy;
	}
	pthread_mutex_lock(&urt__log_lock);
	if (atomic_load(&urt__log_g)) {
		pthread_mutex_unlock(&urt__log_lock);
		logger_free(lg);
		return -EALREADY;
	}
	r = urt__log_sink_open(lg);
	if (r == 0 && (!urt__log_buf_reserve(&lg->out, URT_LOG_OUT_CAP + 4096) ||
		       !urt__log_buf_reserve(&lg->spare, URT_LOG_OUT_CAP + 4096)))
		r = -ENOMEM;
	if (r == 0) {
		lg->inflight_iov = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof(struct iovec));
		if (!lg->inflight_iov)
			r = -ENOMEM;
	}
	if (r == 0) {
		urt__log_io_init(lg);
		lg->gen = next_gen++;
		urt__log_hot.gen = lg->gen; /* before g is published: ring_get compares with it */
		r = writer_start(lg);
	}
	if (r < 0) {
		pthread_mutex_unlock(&urt__log_lock);
		logger_free(lg);
		return r;
	}
	atomic_store(&urt__log_g, lg);
	configured_level = lg->cfg.level;
	__atomic_store_n(&urt__log_level, lg->cfg.level, __ATOMIC_RELEASE);
	if (!cfg->no_crash_flush)
		urt__log_crash_install(lg);
	pthread_mutex_unlock(&urt__log_lock);
	/* stats are optional: a full registry or a taken name leaves them out */
	stats_registered = urt__stats_provider_register("log", stats_section, lg) == 0;
	return 0;
}

int urt_log_close(void)
{
	/* before anything is freed, and outside urt__log_lock (lock order) */
	if (stats_registered) {
		(void)urt__stats_provider_unregister("log");
		stats_registered = false;
	}
	pthread_mutex_lock(&urt__log_lock);
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (!lg) {
		pthread_mutex_unlock(&urt__log_lock);
		return -ENOENT;
	}
	__atomic_store_n(&urt__log_level, URT_LOG_LVL_OFF, __ATOMIC_RELAXED);
	if (lg->forked) { /* no writer here: release the inherited copy */
		atomic_store(&urt__log_g, NULL);
		urt__log_crash_uninstall(); /* the child inherited the handlers too */
		pthread_mutex_unlock(&urt__log_lock);
		lg->own_fd = lg->cfg.sink != URT_LOG_SINK_STDERR;
		logger_free(lg);
		return -ECHILD;
	}
	atomic_store(&lg->stop, 1);
	pthread_mutex_unlock(&urt__log_lock);
	urt__log_wake_writer(lg);
	urt__log_futex_wake(&lg->wake);
	pthread_join(lg->thread, NULL);
	pthread_mutex_lock(&urt__log_lock);
	atomic_store(&lg->stop, 2);
	atomic_store(&urt__log_g, NULL);
	urt__log_crash_uninstall();
	pthread_mutex_unlock(&urt__log_lock);
	/* the writer stopped once no plain thread waited for room; one that
	 * started waiting since sees stop == 2 and drops: wake it */
	atomic_fetch_add(&lg->room, 1);
	urt__log_futex_wake(&lg->room);
	while (atomic_load(&lg->room_waiters)) /* until they are done with their rings */
		sched_yield();
	logger_free(lg);
	return 0;
}

int urt_log_flush(void)
{
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (!lg)
		return -ENOENT;
	if (lg->forked)
		return -ECHILD;
	uint32_t req = atomic_fetch_add(&lg->flush_req, 1) + 1;
	urt__log_wake_writer(lg);
	urt__log_futex_wake(&lg->wake);
	uint64_t delay = URT_LOG_NAP_FIRST, gen = lg->gen;
	for (;;) {
		uint32_t done = atomic_load(&lg->flush_done);
		if ((int32_t)(done - req) >= 0)
			return 0;
		if (urt_self()) { /* a task parks; its loop keeps running */
			int e;
			if (!urt__log_task_nap(&delay, gen, &e))
				return 0; /* closed meanwhile: close wrote everything */
			if (e < 0)
				urt_yield();
		} else {
			urt__log_futex_wait(&lg->flush_done, done, 10000000);
		}
	}
}

int urt_log_set_level(int level)
{
	if (level < URT_LOG_LVL_DEBUG || level > URT_LOG_LVL_OFF)
		return -EINVAL;
	pthread_mutex_lock(&urt__log_lock);
	int old = configured_level;
	configured_level = level;
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (lg && !lg->forked)
		__atomic_store_n(&urt__log_level, level, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&urt__log_lock);
	return old;
}

int urt_log_get_level(void) { return __atomic_load_n(&urt__log_level, __ATOMIC_RELAXED); }

/* lg's counters into out; urt__log_lock held (the ring list). */
static void stats_collect(struct urt_logger *lg, urt_log_stats *out)
{
	memset(out, 0, sizeof *out);
	out->produced = atomic_load(&lg->retired_produced);
	out->dropped = atomic_load(&lg->retired_dropped);
	for (struct urt_log_ring *r = lg->rings; r; r = r->next) {
		out->produced += atomic_load_explicit(&r->produced, memory_order_relaxed);
		out->dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	}
	out->written = atomic_load(&lg->written);
	out->failed = atomic_load(&lg->failed);
	out->bytes = atomic_load(&lg->bytes);
	out->sink_errors = atomic_load(&lg->sink_errors);
	out->rotations = atomic_load(&lg->rotations);
}

int urt_log_stats_get(urt_log_stats *out)
{
	if (!out)
		return -EINVAL;
	pthread_mutex_lock(&urt__log_lock);
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (!lg) {
		pthread_mutex_unlock(&urt__log_lock);
		return -ENOENT;
	}
	stats_collect(lg, out);
	pthread_mutex_unlock(&urt__log_lock);
	return 0;
}

/* The "log" section of urt_stats_dump_json. Runs under the registry lock,
 * which is always taken before urt__log_lock (open and close
 * (un)register outside urt__log_lock), so this may take it. */
static int stats_section(FILE *out, void *arg)
{
	struct urt_logger *lg = arg;
	urt_log_stats s;
	pthread_mutex_lock(&urt__log_lock);
	stats_collect(lg, &s);
	pthread_mutex_unlock(&urt__log_lock);
	fprintf(out, "{\"produced\":%llu,\"written\":%llu,\"dropped\":%llu,\"bytes\":%llu,"
		     "\"sink_errors\":%llu}",
		(unsigned long long)s.produced, (unsigned long long)s.written,
		(unsigned long long)s.dropped, (unsigned long long)s.bytes,
		(unsigned long long)s.sink_errors);
	return 0;
}
