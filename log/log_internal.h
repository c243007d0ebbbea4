/* log's private contract: the record layout in a ring, the per-thread ring,
 * the logger, and the jobs of each file (ring.c, record.c, clock.c,
 * writer.c, format_*.c, sink_file.c, crash.c, logger.c). */
#ifndef URT_LOG_INTERNAL_H
#define URT_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "urt_log.h"
#include "fault.h" /* allocation and ring set-up seams (testing builds) */

#define URT_LOG_LIKELY(x) __builtin_expect(!!(x), 1)
#define URT_LOG_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define URT_LOG_MAX_ARGS 24         /* = sizeof(site->types) */
#define URT_LOG_MAX_FIELDS 16       /* call fields + context fields kept per record */
#define URT_LOG_NAME_MAX 32         /* task name bytes kept (incl. NUL) */
#define URT_LOG_DEFAULT_RING (256u << 10)
#define URT_LOG_MIN_RING (16u << 10)
#define URT_LOG_OUT_CAP (256u << 10) /* writer batch size that triggers a write */
#define URT_LOG_RING_WRITE_MIN (64u << 10) /* smaller batches: plain writev (writer.c) */
#define URT_LOG_WRITE_TRIES 3       /* attempts per batch before it is given up */
#define URT_LOG_MAX_ROTATE 1000     /* rotate_count limit (urt_log.h) */
#define URT_LOG_MAX_WIDTH 4096      /* printf width / precision cap (urt_log.h) */

/* Kinds of printf arguments, as the call site reads them from its va_list. */
enum urt_log_arg {
	URT_LOG_A_INT,     /* int (and everything promoted to it) */
	URT_LOG_A_LONG,    /* long, size_t, ptrdiff_t */
	URT_LOG_A_LLONG,   /* long long, intmax_t */
	URT_LOG_A_DOUBLE,  /* double (float promoted) */
	URT_LOG_A_LDOUBLE, /* long double */
	URT_LOG_A_PTR,     /* %p and %n's pointer (never dereferenced) */
	URT_LOG_A_STR,     /* %s: copied */
	URT_LOG_A_ERRNO,   /* %m: errno at the call, no argument consumed */
};

/* Site cache states (site->state). */
enum { URT_LOG_SITE_NEW, URT_LOG_SITE_PARSING, URT_LOG_SITE_READY };

/* A record in a ring: this header, the task name (name_len bytes, padded),
 * the fields, then the arguments in format order; every part 8-aligned. */
struct urt_log_rec {
	uint32_t size;            /* whole record in bytes, multiple of 8; 0 = wrap marker */
	uint8_t level;            /* URT_LOG_LVL_* */
	uint8_t nfields;          /* encoded fields (context first, then call fields) */
	uint8_t name_len;         /* task name bytes (no NUL); 0 outside a task */
	uint8_t nargs;            /* encoded arguments */
	uint64_t ts;              /* raw clock (TSC ticks or ns), see clock.c */
	const char *fmt;          /* the format literal */
	const struct urt_log_site *site; /* file and line */
	uint64_t task_id;         /* 0 outside a task */
	uint64_t loop_id;         /* 0 outside a loop thread */
	uint64_t drops_before;    /* records this thread dropped just before this one */
};

/* One encoded field: this header, key bytes, value (8 bytes or vlen bytes
 * + NUL), padded to 8. */
struct urt_log_field_hdr {
	uint16_t klen;            /* key bytes */
	uint16_t type;            /* enum urt_log_kv_type */
	uint32_t vlen;            /* string value bytes (no NUL); 0 for numbers */
};

/* A per-thread single-producer single-consumer ring. Positions count bytes
 * forever; the offset is pos & mask. A record never straddles the end: a
 * wrap marker (size 0) sends the reader back to offset 0.
 * Layout: everything the producer's hot path reads or writes is in the first
 * cache line (a log call after the thread slept misses on each line it
 * touches); the writer writes only its own line, and reads the first. */
struct urt_log_ring {
	/* producer line */
	_Atomic uint64_t head;       /* next write position (release-published) */
	uint64_t tail_cache;         /* producer's last view of tail */
	unsigned char *buf;          /* cap bytes (read-only after set-up) */
	uint64_t mask;               /* cap - 1 (read-only after set-up) */
	_Atomic uint64_t produced;   /* records accepted (producer-written) */
	_Atomic uint64_t dropped;    /* records dropped (producer-written) */
	_Atomic uint64_t pending_drops; /* drops not yet reported; claimed by exchange */
	char pad1[64 - 7 * 8];
	/* writer line */
	_Atomic uint64_t tail;       /* next read position (release-published) */
	uint64_t drops_reported;     /* writer: sum of reported drops */
	char pad2[64 - 2 * 8];
	/* fixed */
	uint64_t cap;                /* power of two */
	pid_t tid;                   /* owning thread */
	_Atomic int dead;            /* the thread exited: free once drained */
	struct urt_log_ring *next;   /* logger's list (under urt__log_lock) */
};

/* A growable (or, in a signal handler, fixed) output buffer. */
struct urt_log_buf {
	char *p;                     /* bytes */
	size_t len, cap;             /* used, allocated */
	bool fixed;                  /* never realloc: truncate instead */
};

struct urt_logger {
	urt_log_config cfg;          /* effective config (path points to path_copy) */
	char *path_copy;
	int fd;                      /* the sink */
	bool own_fd;                 /* close fd at the end (not for stderr) */
	uint64_t gen;                /* identifies this logger to thread rings */
	struct urt_log_ring *rings;  /* registered rings (urt__log_lock) */
	unsigned nrings;
	pthread_t thread;            /* the writer */
	bool thread_started;
	_Atomic int stop;            /* 1: close requested; 2: the writer stops (ring.c) */
	_Atomic uint32_t wake;       /* futex: bumped to wake the writer */
	_Atomic int writer_sleeping; /* the writer is (about to be) in futex wait */
	_Atomic uint32_t room;       /* futex: bumped when the writer freed ring room */
	_Atomic int room_waiters;    /* plain threads waiting for room */
	_Atomic uint32_t flush_req;  /* flush requests issued */
	_Atomic uint32_t flush_done; /* futex: last request fully served */
	_Atomic int busy;            /* writer is consuming rings (crash hand-over) */
	/* counters (stats) */
	_Atomic uint64_t written, failed, bytes, sink_errors, rotations;
	_Atomic uint64_t retired_produced, retired_dropped; /* of freed rings */
	bool error_reported;         /* the sink failure line was printed */
	bool line_open;              /* a batch given up ended inside a line */
	uint64_t file_size;          /* FILE sink: bytes in the current file */
	struct urt_log_buf out;      /* formatted batch */
	struct urt_log_buf spare;    /* the other batch buffer: in flight or empty */
	bool inflight;               /* spare is being written by an io_uring SQE */
	_Atomic bool out_writing;    /* writer: a synchronous write is under way (crash.c) */
	struct iovec *inflight_iov;  /* the SQE's iovec (lives until its CQE) */
	uint64_t inflight_records;   /* records in the in-flight batch */
	struct urt_log_buf msg;      /* one message before escaping */
	uint64_t batch_records;      /* records in out */
	void *uring;                 /* struct io_uring *, NULL: plain writev */
	void *snap;                  /* writer: per-ring drain positions */
	unsigned snap_cap;
	bool forked;                 /* this is a forked child's inherited copy */
	char tsc_cache_text[32];     /* "YYYY-MM-DDTHH:MM:SS" of tsc_cache_sec */
	int64_t tsc_cache_sec;
};

/* ---- logger.c ----------------------------------------------------------- */
extern pthread_mutex_t urt__log_lock;       /* ring list, open/close */
/* What every log call reads, in a cache line of its own (logger.c): padded,
 * since otherwise the linker put urt__log_lock, which the writer takes on
 * every pass, into the same line (no gain above the noise measured here;
 * kept since it cannot hurt). */
struct urt__log_hot {
	bool use_tsc;                /* records carry TSC ticks (clock.c) */
	struct urt_logger *_Atomic g; /* the default logger */
	uint64_t gen;                /* g's generation (set before g is published) */
	char pad[64 - 3 * 8];
};
extern struct urt__log_hot urt__log_hot;
#define urt__log_g urt__log_hot.g
/* Whether the logger of generation gen is still the open one (no pointer
 * to it is read: after a task slept, it may have been closed and freed by
 * another task of the same loop). */
static inline bool urt__log_gen_open(uint64_t gen)
{
	return atomic_load(&urt__log_hot.g) && urt__log_hot.gen == gen;
}
/* A task waiting on the logger (for room, for a flush) naps so its loop
 * runs on: urt_sleep(*delay) (*slept: its result), *delay grows from
 * URT_LOG_NAP_FIRST to 1 ms. Returns whether the logger of generation gen
 * is still open: close cannot wait for the task (it holds the task's loop
 * thread), so another task of the loop may have closed and freed it. */
#define URT_LOG_NAP_FIRST 20000
static inline bool urt__log_task_nap(uint64_t *delay, uint64_t gen, int *slept)
{
	*slept = urt_sleep(*delay);
	*delay = *delay * 2 > 1000000 ? 1000000 : *delay * 2;
	return urt__log_gen_open(gen);
}
void urt__log_wake_writer(struct urt_logger *lg);

/* ---- clock.c: raw timestamps and their conversion ------------------------ */
void urt__log_clock_init(void);
#define urt__log_use_tsc urt__log_hot.use_tsc
uint64_t urt__log_clock_raw_slow(void); /* CLOCK_REALTIME ns */
/* Inline: a cold log call (after the thread slept) pays a cache and TLB
 * miss for every code page and data line it touches, so the hot path
 * stays in record.c's code and a few data lines. */
static inline uint64_t urt__log_clock_raw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (URT_LOG_LIKELY(urt__log_use_tsc))
		return __builtin_ia32_rdtsc();
#endif
	return urt__log_clock_raw_slow();
}
/* raw -> ns since the epoch (CLOCK_REALTIME) */
int64_t urt__log_clock_ns(uint64_t raw);
/* writer: refresh the calibration now and then */
void urt__log_clock_recalibrate(void);

/* ---- site.c: format parsing ---------------------------------------------- */
/* Parse fmt's arguments into types[]; returns their count (at most max: extra ones are not kept). */
int urt__log_parse_fmt(const char *fmt, unsigned char *types, unsigned max);

/* One printf conversion spec. The call site (site.c, which decides what to
 * copy from the va_list) and the writer (format_msg.c, which expands the
 * copies) both read specs with urt__log_spec_parse: if they disagreed on
 * the arguments of one conversion, the writer would read every later
 * argument as another kind (an int as a string's length). */
struct urt_log_spec {
	const char *end;        /* past the conversion character */
	const char *width;      /* width digits without leading zeros, or NULL */
	const char *prec;       /* precision digits without leading zeros, or NULL */
	unsigned char wlen, plen; /* digits at width / prec (plen 0 with has_prec: ".0") */
	unsigned char flags;    /* URT_LOG_F_* seen (each printed once) */
	bool has_prec;          /* a '.' was given */
	bool plain;             /* no flags, width or precision */
	bool star_w, star_p;    /* '*' width / precision: an int argument each, in that order */
	char lenmod;            /* 0, 'H' (hh), 'h', 'l', 'L' (ll, q, L), 'j', 'z', 't' */
	char conv;              /* conversion character; 0: the format ends inside the spec */
	signed char kind;       /* enum urt_log_arg of the value; -1: none (%%, unknown) */
};
enum { URT_LOG_F_MINUS = 1, URT_LOG_F_PLUS = 2, URT_LOG_F_SPACE = 4, URT_LOG_F_HASH = 8,
       URT_LOG_F_ZERO = 16, URT_LOG_F_QUOTE = 32, URT_LOG_F_I = 64 };

/* The digits at p without leading zeros; *n their count. */
static inline const char *urt__log_spec_digits(const char *p, const char **end, unsigned char *n)
{
	while (*p == '0')
		p++;
	const char *d = p;
	while (*p >= '0' && *p <= '9')
		p++;
	*end = p;
	*n = (unsigned char)(p - d > 255 ? 255 : p - d);
	return d;
}

/* Parse the spec at p ('%'). What each conversion consumes:
 * d i o u x X: an integer of lenmod's size; c C (and lc): an int (wint_t);
 * e f g a (E F G A): a double, or a long double with L; s: a string
 * (copied); S and ls: a pointer (wide strings are not supported: the spec
 * is printed); p n: a pointer (%n is not supported: printed); m: errno at
 * the call, no argument; %: nothing. An unknown conversion consumes
 * nothing, not even its '*' arguments, and is printed as it is. */
static inline void urt__log_spec_parse(const char *p, struct urt_log_spec *sp)
{
	memset(sp, 0, sizeof *sp);
	p++;
	for (;; p++) {
		switch (*p) {
		case '-': sp->flags |= URT_LOG_F_MINUS; continue;
		case '+': sp->flags |= URT_LOG_F_PLUS; continue;
		case ' ': sp->flags |= URT_LOG_F_SPACE; continue;
		case '#': sp->flags |= URT_LOG_F_HASH; continue;
		case '0': sp->flags |= URT_LOG_F_ZERO; continue;
		case '\'': sp->flags |= URT_LOG_F_QUOTE; continue;
		case 'I': sp->flags |= URT_LOG_F_I; continue;
		}
		break;
	}
	if (*p == '*') {
		sp->star_w = true;
		p++;
	} else if (*p >= '1' && *p <= '9') {
		sp->width = urt__log_spec_digits(p, &p, &sp->wlen);
	}
	if (*p == '.') {
		sp->has_prec = true;
		p++;
		if (*p == '*') {
			sp->star_p = true;
			p++;
		} else {
			sp->prec = urt__log_spec_digits(p, &p, &sp->plen);
		}
	}
	if (p[0] == 'h' && p[1] == 'h') { sp->lenmod = 'H'; p += 2; }
	else if (p[0] == 'l' && p[1] == 'l') { sp->lenmod = 'L'; p += 2; }
	else if (*p == 'h' || *p == 'l' || *p == 'j' || *p == 'z' || *p == 't') sp->lenmod = *p++;
	else if (*p == 'Z') { sp->lenmod = 'z'; p++; }
	else if (*p == 'L' || *p == 'q') { sp->lenmod = 'L'; p++; }
	sp->plain = !sp->flags && !sp->star_w && !sp->wlen && !sp->has_prec;
	sp->conv = *p;
	sp->end = *p ? p + 1 : p;
	switch (*p) {
	case 'd': case 'i': case 'o': case 'u': case 'x': case 'X':
		sp->kind = sp->lenmod == 'l' || sp->lenmod == 'z' || sp->lenmod == 't' ? URT_LOG_A_LONG
			 : sp->lenmod == 'L' || sp->lenmod == 'j' ? URT_LOG_A_LLONG : URT_LOG_A_INT;
		break;
	case 'c': case 'C':
		sp->kind = URT_LOG_A_INT;
		break;
	case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
		sp->kind = sp->lenmod == 'L' ? URT_LOG_A_LDOUBLE : URT_LOG_A_DOUBLE;
		break;
	case 's':
		sp->kind = sp->lenmod == 'l' ? URT_LOG_A_PTR : URT_LOG_A_STR;
		break;
	case 'S': case 'p': case 'n':
		sp->kind = URT_LOG_A_PTR;
		break;
	case 'm':
		sp->kind = URT_LOG_A_ERRNO;
		break;
	default: /* '%', unknown, or the end of the format */
		sp->kind = -1;
		sp->star_w = sp->star_p = false;
	}
}

/* ---- ring.c -------------------------------------------------------------- */
/* This thread's ring and the logger generation it belongs to. initial-exec:
 * one load from the thread pointer, no __tls_get_addr on the hot path. */
extern __thread struct urt_log_ring *urt__log_tls_ring __attribute__((tls_model("initial-exec")));
extern __thread uint64_t urt__log_tls_gen __attribute__((tls_model("initial-exec")));
/* Where this thread's next record will likely go (set at each publish): the
 * log call prefetches it for writing first thing, so the cache misses of a
 * call after the thread slept overlap instead of adding up. A hint only. */
extern __thread unsigned char *urt__log_tls_next __attribute__((tls_model("initial-exec")));
/* Register a ring for this thread; NULL on ENOMEM or a closing logger. */
struct urt_log_ring *urt__log_ring_attach(struct urt_logger *lg) __attribute__((cold));
/* Past half full: wake the writer if it sleeps (out of line, rare). */
void urt__log_ring_half_full(struct urt_log_ring *r, uint64_t head) __attribute__((cold));

/* This thread's ring for lg, registering one on first use; NULL on ENOMEM. */
static inline struct urt_log_ring *urt__log_ring_get(struct urt_logger *lg)
{
	struct urt_log_ring *r = urt__log_tls_ring;
	if (URT_LOG_LIKELY(r && urt__log_tls_gen == urt__log_hot.gen))
		return r; /* lg is the logger of urt__log_hot.gen (no close races a log call) */
	return urt__log_ring_attach(lg);
}

/* Reserve size bytes (8-aligned); NULL when full. *pos: the record's
 * position, to publish it with urt__log_ring_publish(r, *pos + size). */
static inline void *urt__log_ring_reserve(struct urt_log_ring *r, uint32_t size, uint64_t *pos)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t cap = r->mask + 1, off = head & r->mask;
	uint64_t need = off + size > cap ? (cap - off) + size : size;
	if (head + need - r->tail_cache > cap) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + need - r->tail_cache > cap)
			return NULL;
	}
	if (need != size) { /* wrap: marker now, published with the record */
		struct urt_log_rec *m = (struct urt_log_rec *)(r->buf + off);
		m->size = 0;
		head += cap - off;
	}
	*pos = head;
	return r->buf + (head & r->mask);
}

/* Publish the records up to head (a reservation's position + size). */
static inline void urt__log_ring_publish(struct urt_log_ring *r, uint64_t head)
{
	atomic_store_explicit(&r->produced,
			      atomic_load_explicit(&r->produced, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&r->head, head, memory_order_release);
	urt__log_tls_next = r->buf + (head & r->mask);
	if (URT_LOG_UNLIKELY(head - r->tail_cache > (r->mask + 1) / 2))
		urt__log_ring_half_full(r, head);
}
/* Wait for room per policy. Returns a reservation or NULL (dropped: counted,
 * and the log_drop probe fires with level; or, for a task, the logger was
 * closed while it slept: lg and r are gone, nothing is counted). *waiter
 * true: a plain thread that waited, still counted in lg->room_waiters; the
 * caller decrements that once the record is published (close frees the
 * rings, and the writer stops, only when no thread is counted there). */
void *urt__log_ring_wait_room(struct urt_logger *lg, struct urt_log_ring *r, uint32_t size,
			      int level, uint64_t *pos, bool *waiter) __attribute__((cold));
/* Consumer: the record at pos (skipping a wrap marker, *pos updated), or NULL if pos == end. */
struct urt_log_rec *urt__log_ring_peek(struct urt_log_ring *r, uint64_t *pos, uint64_t end);
void urt__log_ring_free(struct urt_log_ring *r);

/* ---- format_*.c ---------------------------------------------------------- */
bool urt__log_buf_reserve(struct urt_log_buf *b, size_t n);
/* Append n bytes (grow, or truncate a fixed buffer): the out-of-line path. */
void urt__log_buf_put_slow(struct urt_log_buf *b, const char *s, size_t n);
/* Append n bytes. Inline: the writer appends many short pieces per record,
 * and a call plus a variable-size memcpy per piece was ~10 % of its time. */
static inline void urt__log_buf_put(struct urt_log_buf *b, const char *s, size_t n)
{
	if (__builtin_expect(b->len + n <= b->cap, 1)) {
		if (n) /* b->p may still be NULL: memcpy(NULL, s, 0) is undefined */
			memcpy(b->p + b->len, s, n);
		b->len += n;
		return;
	}
	urt__log_buf_put_slow(b, s, n);
}
/* Append v in decimal, zero-padded to at least width digits. */
void urt__log_buf_put_uint(struct urt_log_buf *b, uint64_t v, int width);
/* Append v in decimal, as printf's %lld. */
void urt__log_buf_put_int(struct urt_log_buf *b, int64_t v);
/* Expand the record's printf format and arguments into b (raw bytes). */
void urt__log_format_msg(struct urt_log_buf *b, const struct urt_log_rec *rec);
/* RFC 3339 UTC with microseconds, e.g. 2025-01-02T03:04:05.123456Z (27 bytes). */
void urt__log_format_time(struct urt_log_buf *b, int64_t ns);
const char *urt__log_level_name(int level);
/* One whole line (with '\n') for rec; tid is the producing thread. */
void urt__log_format_text(struct urt_log_buf *b, struct urt_log_buf *tmp,
			  const struct urt_log_rec *rec, pid_t tid);
void urt__log_format_json(struct urt_log_buf *b, struct urt_log_buf *tmp,
			  const struct urt_log_rec *rec, pid_t tid);
/* The "N records dropped" line in the logger's format. */
void urt__log_format_drops(struct urt_log_buf *b, int format, uint64_t n, pid_t tid);
/* Whether line (n bytes, no '\n') is a record's line, not a drops line. */
bool urt__log_line_is_record(const char *line, size_t n, int format);
/* Walk a record's parts. */
const unsigned char *urt__log_rec_fields(const struct urt_log_rec *rec);
const unsigned char *urt__log_field_next(const unsigned char *f, const char **key,
					 const struct urt_log_field_hdr **h, const void **val);

/* ---- sink_file.c --------------------------------------------------------- */
/* Open the sink of cfg into lg->fd. Returns 0 or -errno. */
int urt__log_sink_open(struct urt_logger *lg);
void urt__log_sink_close(struct urt_logger *lg);
/* Rotate the file now. Returns 0 or -errno (logging goes on in the old file). */
int urt__log_sink_rotate(struct urt_logger *lg);

/* ---- writer.c ------------------------------------------------------------ */
void *urt__log_writer_main(void *arg);
/* Set up / tear down the writer's io_uring (falls back to writev). */
void urt__log_io_init(struct urt_logger *lg);
void urt__log_io_fini(struct urt_logger *lg);

/* ---- crash.c ------------------------------------------------------------- */
void urt__log_crash_install(struct urt_logger *lg);
void urt__log_crash_uninstall(void);
extern _Atomic int urt__log_crashing; /* a fatal signal is being handled */

/* ---- futex helpers (logger.c) -------------------------------------------- */
void urt__log_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns);
void urt__log_futex_wake(_Atomic uint32_t *addr);

#endif
