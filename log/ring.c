/* Per-thread single-producer single-consumer rings: allocation on a
 * thread's first record, registration with the logger, reservation, and
 * waiting for room when full (the block policy). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "log_internal.h"
#include "probes.h"

__thread struct urt_log_ring *urt__log_tls_ring __attribute__((tls_model("initial-exec")));
__thread uint64_t urt__log_tls_gen __attribute__((tls_model("initial-exec")));
__thread unsigned char *urt__log_tls_next __attribute__((tls_model("initial-exec")));
#define tls_ring urt__log_tls_ring
#define tls_gen urt__log_tls_gen
static pthread_key_t ring_key;                 /* runs ring_thread_exit */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Thread exit: hand the ring to the writer, which frees it once drained.
 * A ring of a logger that was closed meanwhile is already gone. */
static void ring_thread_exit(void *p)
{
	struct urt_log_ring *r = p;
	pthread_mutex_lock(&urt__log_lock);
	struct urt_logger *lg = atomic_load(&urt__log_g);
	if (lg && lg->gen == tls_gen && r == tls_ring)
		atomic_store_explicit(&r->dead, 1, memory_order_release);
	tls_ring = NULL;
	pthread_mutex_unlock(&urt__log_lock);
}

static void key_init(void) { pthread_key_create(&ring_key, ring_thread_exit); }

static struct urt_log_ring *ring_new(size_t cap)
{
	void *mem, *buf;
	if (urt__fault(URT_FAULT_ALLOC) || posix_memalign(&mem, 64, sizeof(struct urt_log_ring)) != 0)
		return NULL;
	struct urt_log_ring *r = mem;
	memset(r, 0, sizeof *r);
	if (urt__fault(URT_FAULT_ALLOC) || posix_memalign(&buf, 64, cap) != 0) {
		free(r);
		return NULL;
	}
	r->buf = buf;
	memset(buf, 0, cap); /* fault the pages in now, not on the hot path */
	r->cap = cap;
	r->mask = cap - 1;
	r->tid = (pid_t)syscall(SYS_gettid);
	return r;
}

void urt__log_ring_free(struct urt_log_ring *r)
{
	free(r->buf);
	free(r);
}

/* The log call does not save errno on its fast path: this (rare) path
 * leaves it as it was. */
static struct urt_log_ring *ring_attach(struct urt_logger *lg)
{
	pthread_once(&key_once, key_init);
	struct urt_log_ring *r = ring_new(lg->cfg.buffer_size);
	if (!r)
		return NULL;
	pthread_mutex_lock(&urt__log_lock);
	if (atomic_load(&urt__log_g) != lg || atomic_load(&lg->stop)) {
		pthread_mutex_unlock(&urt__log_lock);
		urt__log_ring_free(r);
		return NULL;
	}
	r->next = lg->rings;
	lg->rings = r;
	lg->nrings++;
	tls_ring = r;
	tls_gen = lg->gen;
	pthread_mutex_unlock(&urt__log_lock);
	pthread_setspecific(ring_key, r);
	return r;
}

struct urt_log_ring *urt__log_ring_attach(struct urt_logger *lg)
{
	int e = errno;
	struct urt_log_ring *r = ring_attach(lg);
	errno = e;
	return r;
}

void urt__log_ring_half_full(struct urt_log_ring *r, uint64_t head)
{
	struct urt_logger *lg = atomic_load_explicit(&urt__log_g, memory_order_relaxed);
	if (lg && atomic_load_explicit(&lg->writer_sleeping, memory_order_relaxed)) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->tail_cache > r->cap / 2) {
			int e = errno; /* the log call does not save it on its fast path */
			urt__log_wake_writer(lg);
			errno = e;
		}
	}
}

static void *drop(struct urt_log_ring *r, int level)
{
	URT_PROBE1(log_drop, level);
	atomic_store_explicit(&r->dropped,
			      atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_fetch_add_explicit(&r->pending_drops, 1, memory_order_relaxed);
	atomic_store_explicit(&r->produced,
			      atomic_load_explicit(&r->produced, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return NULL;
}

void *urt__log_ring_wait_room(struct urt_logger *lg, struct urt_log_ring *r, uint32_t size,
			      int level, uint64_t *pos, bool *waiter)
{
	if (size > r->cap / 2 || lg->cfg.policy == URT_LOG_DROP || atomic_load(&urt__log_crashing))
		return drop(r, level);
	if (urt_self()) {
		/* a task: park with a short growing sleep so its loop runs on */
		uint64_t delay = URT_LOG_NAP_FIRST, gen = lg->gen;
		for (;;) {
			urt__log_wake_writer(lg);
			int e;
			if (!urt__log_task_nap(&delay, gen, &e))
				return NULL; /* closed meanwhile: lg and r are freed */
			if (e < 0) /* cancelled or past its deadline */
				return drop(r, level);
			void *p = urt__log_ring_reserve(r, size, pos);
			if (p)
				return p;
		}
	}
	if (urt_loop_current()) /* the loop thread outside a task never blocks */
		return drop(r, level);
	/* a plain thread: sleep on the writer's room counter (no spinning:
	 * measured worse, the spinner takes the CPU the writer needs). It
	 * stays counted in room_waiters until it is done with r: close frees
	 * the rings only once no thread is counted, and the writer stops only
	 * then, so a record that got room during close is still written. The
	 * writer that is about to stop sets stop to 2, then reads
	 * room_waiters (writer.c); a thread counts itself, then reads stop:
	 * one of the two sees the other, so a thread either drops or has the
	 * writer go on until its record is written. */
	atomic_fetch_add(&lg->room_waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&lg->room);
		if (atomic_load(&lg->stop) == 2) /* the writer stops: no room will come */
			break;
		void *p = urt__log_ring_reserve(r, size, pos);
		if (p) {
			*waiter = true; /* the caller leaves room_waiters after the publish */
			return p;
		}
		urt__log_wake_writer(lg);
		urt__log_futex_wait(&lg->room, seq, 10000000);
	}
	drop(r, level);
	atomic_fetch_sub(&lg->room_waiters, 1);
	return NULL;
}

struct urt_log_rec *urt__log_ring_peek(struct urt_log_ring *r, uint64_t *pos, uint64_t end)
{
	if (*pos == end)
		return NULL;
	struct urt_log_rec *rec = (struct urt_log_rec *)(r->buf + (*pos & r->mask));
	if (rec->size == 0) {
		*pos += r->cap - (*pos & r->mask);
		if (*pos == end)
			return NULL;
		rec = (struct urt_log_rec *)r->buf;
	}
	return rec;
}
