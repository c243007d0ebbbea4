/* The writer thread: drains every ring, merges records in timestamp order,
 * formats them and writes batches of 64 KiB and more through its own
 * io_uring, left in flight while it drains on (smaller ones, and all of
 * them if io_uring cannot be set up, with plain writev). Sink failures are counted, the
 * first is reported on stderr, a batch is retried a bounded number of
 * times and then given up, so producers never wait on a broken sink. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "signals.h"
#include "log_internal.h"

void urt__log_io_init(struct urt_logger *lg)
{
	struct io_uring *u = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *u);
	if (u && urt__fault(URT_FAULT_RING) == 0 && io_uring_queue_init(4, u, 0) == 0) {
		lg->uring = u;
		return;
	}
	free(u);
	lg->uring = NULL;
}

void urt__log_io_fini(struct urt_logger *lg)
{
	if (lg->uring) {
		io_uring_queue_exit(lg->uring);
		free(lg->uring);
		lg->uring = NULL;
	}
}

/* One write attempt: bytes written or -errno. Only with no batch in
 * flight (its CQE would be taken for this one's). */
static ssize_t io_write(struct urt_logger *lg, const char *p, size_t n)
{
	struct iovec iov = {(void *)p, n};
	struct io_uring *u = lg->uring;
	if (!u || n < URT_LOG_RING_WRITE_MIN || atomic_load(&urt__log_crashing)) {
		ssize_t r = writev(lg->fd, &iov, 1);
		return r < 0 ? -errno : r;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(u);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_writev(sqe, lg->fd, &iov, 1, (uint64_t)-1);
	int r;
	do
		r = io_uring_submit_and_wait(u, 1);
	while (r == -EINTR);
	if (r < 0)
		return r;
	struct io_uring_cqe *cqe;
	do
		r = io_uring_wait_cqe(u, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(u, cqe);
	return r;
}

/* The first sink failure on stderr (what failed and why); later ones are
 * only counted. */
static void report_once(struct urt_logger *lg, const char *what, int err)
{
	if (lg->error_reported)
		return;
	lg->error_reported = true;
	char msg[200];
	int n = snprintf(msg, sizeof msg, "urt log: %s failed: %s "
			 "(failures are counted in urt_log_stats; not reported again)\n",
			 what, strerror(-err));
	ssize_t w = write(STDERR_FILENO, msg, (size_t)n);
	(void)w;
}

/* A non-blocking sink (a pipe, or a stderr someone set O_NONBLOCK on) is
 * full: wait until it takes bytes again, as a blocking one would block in
 * the write. true: retry the write; false (only when crashing: the handler
 * waits for this thread a bounded time) give up. */
static bool wait_writable(struct urt_logger *lg)
{
	struct pollfd pfd = {lg->fd, POLLOUT, 0};
	bool crashing = atomic_load(&urt__log_crashing);
	int r = poll(&pfd, 1, crashing ? 200 : 100);
	return r > 0 || !crashing; /* POLLERR and POLLHUP: the write says what */
}

/* Records (lines that are not "N records dropped" lines) ending in p[0..n). */
static uint64_t whole_records(struct urt_logger *lg, const char *p, size_t n)
{
	uint64_t k = 0;
	for (const char *l = p, *e; l < p + n && (e = memchr(l, '\n', (size_t)(p + n - l))); l = e + 1)
		k += urt__log_line_is_record(l, (size_t)(e - l), lg->cfg.format);
	return k;
}

/* Write p[from..n) (p[0..from) went out already), p holding nrec records;
 * counts them written or failed. A failing sink is retried a bounded
 * number of times; EAGAIN is waited out (wait_writable), not a failure. */
static void out_write_all(struct urt_logger *lg, const char *p, size_t n, size_t from, uint64_t nrec)
{
	size_t off = from;
	int tries = 0;
	if (lg->line_open && from == 0 && off < n) {
		/* the last batch given up ended inside a line: end it, or this
		 * batch's first line would be glued to it */
		ssize_t r;
		do
			r = io_write(lg, "\n", 1);
		while (r == -EINTR || (r == -EAGAIN && wait_writable(lg)));
		if (r == 1) {
			lg->line_open = false;
			atomic_fetch_add_explicit(&lg->bytes, 1, memory_order_relaxed);
			lg->file_size++;
		}
	}
	while (off < n) {
		ssize_t r = io_write(lg, p + off, n - off);
		if (r > 0) {
			off += (size_t)r;
			atomic_fetch_add_explicit(&lg->bytes, (uint64_t)r, memory_order_relaxed);
			lg->file_size += (uint64_t)r;
			continue;
		}
		if (r == -EINTR || (r == -EAGAIN && wait_writable(lg)))
			continue;
		atomic_fetch_add_explicit(&lg->sink_errors, 1, memory_order_relaxed);
		report_once(lg, "writing to the log sink", r == 0 ? -EIO : (int)r);
		if (++tries >= URT_LOG_WRITE_TRIES || atomic_load(&urt__log_crashing)) {
			/* the records whose lines went out whole are written */
			uint64_t done = whole_records(lg, p, off);
			done = done < nrec ? done : nrec;
			atomic_fetch_add_explicit(&lg->written, done, memory_order_relaxed);
			atomic_fetch_add_explicit(&lg->failed, nrec - done, memory_order_relaxed);
			lg->line_open = off && p[off - 1] != '\n';
			return;
		}
		struct timespec ts = {0, 1000000}; /* 1 ms before the retry */
		nanosleep(&ts, NULL);
	}
	atomic_fetch_add_explicit(&lg->written, nrec, memory_order_relaxed);
}

static void out_write_from(struct urt_logger *lg, const char *p, size_t n, size_t from,
			   uint64_t nrec)
{
	/* a crash handler on this thread writes out's whole lines (crash.c):
	 * not while they are being written here */
	atomic_store_explicit(&lg->out_writing, true, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	out_write_all(lg, p, n, from, nrec);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&lg->out_writing, false, memory_order_relaxed);
}

/* Write p[0..n), holding nrec records; counts them written or failed. */
static void out_write(struct urt_logger *lg, const char *p, size_t n, uint64_t nrec)
{
	out_write_from(lg, p, n, 0, nrec);
}

/* Tell plain threads waiting for room that tails moved. */
static void wake_room(struct urt_logger *lg)
{
	if (atomic_load(&lg->room_waiters)) {
		atomic_fetch_add(&lg->room, 1);
		urt__log_futex_wake(&lg->room);
	}
}

/* Wait for the in-flight batch (if any) and account for it; a short or
 * failed write is finished (retried, counted) synchronously. */
static void inflight_complete(struct urt_logger *lg)
{
	if (!lg->inflight)
		return;
	lg->inflight = false;
	struct io_uring_cqe *cqe;
	int r;
	do
		r = io_uring_wait_cqe(lg->uring, &cqe);
	while (r == -EINTR);
	if (r == 0) {
		r = cqe->res;
		io_uring_cqe_seen(lg->uring, cqe);
	}
	size_t len = lg->spare.len, done = r > 0 ? (size_t)r : 0;
	lg->file_size -= len - done; /* counted at submission */
	if (done) {
		atomic_fetch_add_explicit(&lg->bytes, done, memory_order_relaxed);
		if (done == len)
			atomic_fetch_add_explicit(&lg->written, lg->inflight_records, memory_order_relaxed);
	}
	if (done < len) {
		if (r <= 0 && r != -EINTR && r != -EAGAIN) {
			atomic_fetch_add_explicit(&lg->sink_errors, 1, memory_order_relaxed);
			report_once(lg, "writing to the log sink", r == 0 ? -EIO : r);
		}
		out_write_from(lg, lg->spare.p, len, done, lg->inflight_records);
	}
	lg->spare.len = 0;
	lg->inflight_records = 0;
}

/* Hand the batch in out to the sink. With io_uring the write is left in
 * flight (at most one: the previous one is completed first) and out
 * swaps with the spare buffer, so the writer goes on draining rings (and
 * freeing room for producers) while the kernel writes. */
static void out_flush(struct urt_logger *lg)
{
	wake_room(lg); /* records are copied out already: let producers refill while we write */
	if (!lg->out.len) {
		lg->batch_records = 0;
		return;
	}
	inflight_complete(lg);
	/* a small batch is written here and now: buffered file writes that
	 * the kernel punts to an io-wq thread (ext4's) cost two context
	 * switches each, more than the write itself (a server logging a line
	 * per request writes a few KiB per batch) */
	struct io_uring_sqe *sqe = lg->uring && lg->out.len >= URT_LOG_RING_WRITE_MIN &&
					   !atomic_load(&urt__log_crashing) && !lg->line_open
					   ? io_uring_get_sqe(lg->uring) : NULL;
	if (!sqe) {
		out_write(lg, lg->out.p, lg->out.len, lg->batch_records);
	} else {
		*lg->inflight_iov = (struct iovec){lg->out.p, lg->out.len};
		io_uring_prep_writev(sqe, lg->fd, lg->inflight_iov, 1, (uint64_t)-1);
		int r;
		do
			r = io_uring_submit(lg->uring);
		while (r == -EINTR);
		if (r == 1) {
			struct urt_log_buf t = lg->spare;
			lg->spare = lg->out;
			lg->out = t;
			lg->inflight = true;
			lg->inflight_records = lg->batch_records;
			lg->file_size += lg->spare.len;
		} else { /* not submitted: drop the ring (and the queued SQE), use writev */
			urt__log_io_fini(lg);
			out_write(lg, lg->out.p, lg->out.len, lg->batch_records);
		}
	}
	lg->out.len = 0;
	lg->batch_records = 0;
}

static void format_rec(struct urt_logger *lg, const struct urt_log_rec *rec, pid_t tid)
{
	size_t before = lg->out.len;
	if (rec->drops_before)
		urt__log_format_drops(&lg->out, lg->cfg.format, rec->drops_before, tid);
	if (lg->cfg.format == URT_LOG_FMT_JSON)
		urt__log_format_json(&lg->out, &lg->msg, rec, tid);
	else
		urt__log_format_text(&lg->out, &lg->msg, rec, tid);
	if (lg->cfg.sink == URT_LOG_SINK_FILE && lg->cfg.rotate_size &&
	    lg->file_size + lg->out.len > lg->cfg.rotate_size && lg->file_size + before > 0) {
		/* this record would pass the limit: finish the file first */
		inflight_complete(lg);
		out_write(lg, lg->out.p, before, lg->batch_records);
		lg->batch_records = 0;
		int e = urt__log_sink_rotate(lg);
		if (e < 0) {
			/* a sink error like a failed write; logging goes on in
			 * the current file, and the next try waits for another
			 * rotate_size bytes instead of coming before every record */
			atomic_fetch_add_explicit(&lg->sink_errors, 1, memory_order_relaxed);
			report_once(lg, "rotating the log file", e);
			lg->file_size = 0;
		}
		memmove(lg->out.p, lg->out.p + before, lg->out.len - before);
		lg->out.len -= before;
	}
	lg->batch_records++;
}

struct snap { struct urt_log_ring *r; uint64_t pos, end; };

/* Drain what every ring holds now. Returns the records written. */
static size_t drain(struct urt_logger *lg)
{
	pthread_mutex_lock(&urt__log_lock);
	if (lg->snap_cap < lg->nrings) {
		free(lg->snap);
		lg->snap_cap = lg->nrings * 2;
		lg->snap = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(lg->snap_cap * sizeof(struct snap));
		if (!lg->snap)
			lg->snap_cap = 0;
	}
	struct snap *s = lg->snap;
	unsigned scap = lg->snap_cap;
	unsigned n = 0;
	for (struct urt_log_ring *r = lg->rings; r && n < scap; r = r->next) {
		s[n].r = r;
		s[n].pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		s[n].end = atomic_load_explicit(&r->head, memory_order_acquire);
		n++;
	}
	pthread_mutex_unlock(&urt__log_lock);
	size_t done = 0;
	uint64_t freed = 0; /* bytes of rings freed since the last wake_room */
	for (;;) {
		struct urt_log_rec *best = NULL;
		unsigned bi = 0;
		for (unsigned i = 0; i < n; i++) {
			struct urt_log_rec *rec = urt__log_ring_peek(s[i].r, &s[i].pos, s[i].end);
			if (!rec) {
				atomic_store_explicit(&s[i].r->tail, s[i].pos, memory_order_release);
				continue;
			}
			if (!best || (int64_t)(rec->ts - best->ts) < 0) {
				best = rec;
				bi = i;
			}
		}
		if (!best || atomic_load(&urt__log_crashing))
			break;
		format_rec(lg, best, s[bi].r->tid);
		s[bi].r->drops_reported += best->drops_before;
		s[bi].pos += best->size;
		freed += best->size; /* read before the tail store: the slot may be reused then */
		atomic_store_explicit(&s[bi].r->tail, s[bi].pos, memory_order_release);
		done++;
		/* a full ring's producer need not wait for the whole batch, but
		 * a futex wake every few records was ~10 % of the writer's time:
		 * wake once a quarter of that ring is free */
		if (freed >= s[bi].r->cap / 4) {
			wake_room(lg);
			freed = 0;
		}
		if (lg->out.len >= URT_LOG_OUT_CAP)
			out_flush(lg);
	}
	/* drops after the last record of a drained ring: report them here */
	for (unsigned i = 0; i < n; i++) {
		if (s[i].pos != s[i].end)
			continue;
		/* a load first: an exchange would write the producer's line each
		 * pass, and its next log call would then miss on it */
		uint64_t d = atomic_load_explicit(&s[i].r->pending_drops, memory_order_relaxed);
		if (d)
			d = atomic_exchange_explicit(&s[i].r->pending_drops, 0, memory_order_relaxed);
		if (d) {
			urt__log_format_drops(&lg->out, lg->cfg.format, d, s[i].r->tid);
			s[i].r->drops_reported += d;
		}
	}
	out_flush(lg);
	return done;
}

/* Free rings whose thread exited and that are empty. */
static void reclaim(struct urt_logger *lg)
{
	pthread_mutex_lock(&urt__log_lock);
	struct urt_log_ring **pp = &lg->rings;
	while (*pp) {
		struct urt_log_ring *r = *pp;
		if (atomic_load_explicit(&r->dead, memory_order_acquire) &&
		    atomic_load(&r->tail) == atomic_load(&r->head) &&
		    atomic_load(&r->pending_drops) == 0) {
			*pp = r->next;
			lg->nrings--;
			atomic_fetch_add(&lg->retired_produced, atomic_load(&r->produced));
			atomic_fetch_add(&lg->retired_dropped, atomic_load(&r->dropped));
			urt__log_ring_free(r);
		} else
			pp = &r->next;
	}
	pthread_mutex_unlock(&urt__log_lock);
}

static bool rings_empty(struct urt_logger *lg)
{
	bool empty = true;
	pthread_mutex_lock(&urt__log_lock);
	for (struct urt_log_ring *r = lg->rings; r && empty; r = r->next)
		empty = atomic_load(&r->tail) == atomic_load(&r->head) &&
			atomic_load(&r->pending_drops) == 0;
	pthread_mutex_unlock(&urt__log_lock);
	return empty;
}

void *urt__log_writer_main(void *arg)
{
	struct urt_logger *lg = arg;
	/* signals go to the application's threads, not here (SIGPIPE too:
	 * a broken pipe is an EPIPE from the write); but not the synchronous
	 * faults: a fault blocked here kills the process at once, without
	 * the crash flush (crash.c), and a sent one would stay pending */
	urt__block_async_signals();
	uint64_t idle = 1000000;
	for (;;) {
		atomic_store(&lg->busy, 1);
		if (atomic_load(&urt__log_crashing)) {
			inflight_complete(lg); /* lands before what the handler writes */
			atomic_store(&lg->busy, 0);
			for (;;) /* the crash handler owns the rings now */
				pause();
		}
		uint32_t req = atomic_load(&lg->flush_req);
		int stop = atomic_load(&lg->stop);
		size_t n = drain(lg);
		reclaim(lg);
		/* a flush waiter, close, or going idle: the batch must be written;
		 * otherwise it stays in flight while the next drain runs */
		if (n == 0 || stop || atomic_load(&lg->flush_done) != req)
			inflight_complete(lg);
		atomic_store(&lg->busy, lg->inflight); /* crash hand-over waits for it */
		if (atomic_load(&lg->flush_done) != req) {
			atomic_store(&lg->flush_done, req);
			urt__log_futex_wake(&lg->flush_done);
		}
		if (stop) {
			/* a plain thread that got room publishes before it
			 * leaves room_waiters (ring.c): read that first. Then
			 * say "stopping" and read it again: a thread that
			 * counted itself meanwhile either saw the 2 (it drops)
			 * or is seen here (the writer goes on for its record) */
			if (n == 0 && !atomic_load(&lg->room_waiters) && rings_empty(lg)) {
				atomic_store(&lg->stop, 2);
				if (!atomic_load(&lg->room_waiters) && rings_empty(lg))
					break;
				atomic_store(&lg->stop, 1);
			}
			if (n == 0) { /* a waiting thread was slow: do not spin on the lock */
				uint32_t seq = atomic_load(&lg->wake);
				urt__log_futex_wait(&lg->wake, seq, 100000);
			}
			continue;
		}
		urt__log_clock_recalibrate();
		if (n) {
			idle = 1000000;
			continue;
		}
		atomic_store(&lg->writer_sleeping, 1);
		uint32_t seq = atomic_load(&lg->wake);
		if (!rings_empty(lg) || atomic_load(&lg->flush_req) != req || atomic_load(&lg->stop)) {
			atomic_store(&lg->writer_sleeping, 0);
			continue;
		}
		urt__log_futex_wait(&lg->wake, seq, idle);
		atomic_store(&lg->writer_sleeping, 0);
		idle = idle * 2 > 50000000 ? 50000000 : idle * 2;
	}
	return NULL;
}
