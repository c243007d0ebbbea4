/* Best-effort flush on a fatal signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
 * SIGILL): the handler takes the rings over from the writer (waiting a
 * bounded time for it to finish its batch; on the writer thread itself, it
 * writes that batch's whole lines first), formats what is queued into
 * static buffers and write(2)s it, then lets the default action run. A
 * handler the application installed first is never replaced. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log_internal.h"

_Atomic int urt__log_crashing;

static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
#define NFATAL (sizeof fatal / sizeof fatal[0])
static struct sigaction saved[NFATAL]; /* what was there before ours */
static bool ours[NFATAL];
static char out_mem[64 << 10], tmp_mem[16 << 10];

static void put_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

static void crash_drain(struct urt_logger *lg)
{
	struct urt_log_buf out = {out_mem, 0, sizeof out_mem, true};
	struct urt_log_buf tmp = {tmp_mem, 0, sizeof tmp_mem, true};
	for (struct urt_log_ring *r = lg->rings; r; r = r->next) {
		uint64_t pos = atomic_load(&r->tail), end = atomic_load_explicit(&r->head, memory_order_acquire);
		struct urt_log_rec *rec;
		while ((rec = urt__log_ring_peek(r, &pos, end)) != NULL) {
			if (out.len > out.cap / 2) {
				put_all(lg->fd, out.p, out.len);
				out.len = 0;
			}
			if (lg->cfg.format == URT_LOG_FMT_JSON)
				urt__log_format_json(&out, &tmp, rec, r->tid);
			else
				urt__log_format_text(&out, &tmp, rec, r->tid);
			if (out.p[out.len - 1] != '\n') { /* truncated: keep lines whole */
				out.len = out.len < out.cap ? out.len : out.cap - 1;
				out.p[out.len++] = '\n';
			}
			pos += rec->size;
			atomic_fetch_add(&lg->written, 1);
		}
		atomic_store(&r->tail, pos);
	}
	put_all(lg->fd, out.p, out.len);
}

/* On the writer thread: the whole lines of the batch it was formatting
 * (their records have left the rings already; a line cut short by the
 * signal has not, and crash_drain formats it again). */
static void put_batch(struct urt_logger *lg)
{
	if (atomic_load_explicit(&lg->out_writing, memory_order_relaxed))
		return; /* interrupted while writing them: some may be out already */
	size_t n = lg->out.len;
	while (n && lg->out.p[n - 1] != '\n')
		n--;
	put_all(lg->fd, lg->out.p, n);
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	int saved_errno = errno;
	if (atomic_exchange(&urt__log_crashing, 1) == 0) {
		struct urt_logger *lg = atomic_load(&urt__log_g);
		if (lg && !lg->forked && lg->thread_started) {
			if (!pthread_equal(pthread_self(), lg->thread)) {
				struct timespec ts = {0, 1000000};
				for (int i = 0; i < 500 && atomic_load(&lg->busy); i++)
					nanosleep(&ts, NULL); /* let the writer finish its batch */
			}
			if (pthread_equal(pthread_self(), lg->thread)) {
				put_batch(lg);
				crash_drain(lg);
			} else if (!atomic_load(&lg->busy)) {
				crash_drain(lg);
			}
		}
	}
	signal(sig, SIG_DFL);
	raise(sig); /* delivered with the default action once we return */
	errno = saved_errno;
}

void urt__log_crash_install(struct urt_logger *lg)
{
	(void)lg;
	for (unsigned i = 0; i < NFATAL; i++) {
		struct sigaction old;
		if (sigaction(fatal[i], NULL, &old) < 0)
			continue;
		if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
			continue; /* the application's own handler stays */
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		if (sigaction(fatal[i], &sa, NULL) == 0) {
			saved[i] = old;
			ours[i] = true;
		}
	}
}

void urt__log_crash_uninstall(void)
{
	for (unsigned i = 0; i < NFATAL; i++) {
		if (!ours[i])
			continue;
		struct sigaction cur;
		if (sigaction(fatal[i], NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == handler)
			sigaction(fatal[i], &saved[i], NULL);
		ours[i] = false;
	}
}
