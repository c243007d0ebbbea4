/* urt log: a batched asynchronous logger.
 *
 * A log call checks the level, then copies a compact record (timestamp,
 * level, call site, the printf arguments by value, the context's log
 * fields, task id/name, loop id) into a per-thread ring: no system call,
 * no lock, no allocation on that path. One writer thread per logger drains
 * every ring, merges records in timestamp order, formats them (text or
 * JSON lines) and writes large batches through its own io_uring.
 *
 * The format string of a log call must be a string literal (or outlive the
 * logger): only its address is queued; it is expanded on the writer thread.
 * %s arguments are copied at the call. Not supported (the spec is printed
 * as it is and its argument skipped): %n, and wide strings (%ls, %S: only a
 * pointer could be queued). %lc and %C print the wide character as printf
 * does in the process's locale. A width or precision above 4096 (written
 * or given by '*') is taken as 4096, so one argument cannot make a line of
 * megabytes; the precision of %s, which only cuts, is kept. Functions
 * return >= 0 or -errno; none sets errno.
 */
#ifndef URT_LOG_H
#define URT_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- levels ------------------------------------------------------------ */

enum urt_log_level {
	URT_LOG_LVL_DEBUG = 1,
	URT_LOG_LVL_INFO = 2,
	URT_LOG_LVL_WARN = 3,
	URT_LOG_LVL_ERROR = 4,
	URT_LOG_LVL_OFF = 5, /* runtime level only: log nothing */
};

/* Calls below this level compile to nothing. Define before including. */
#ifndef URT_LOG_MIN_LEVEL
#define URT_LOG_MIN_LEVEL URT_LOG_LVL_DEBUG
#endif

/* ---- configuration ----------------------------------------------------- */

enum urt_log_sink {
	URT_LOG_SINK_STDERR = 0, /* fd 2 (not closed by the logger) */
	URT_LOG_SINK_FILE = 1,   /* path: O_APPEND, mode 0640, created if missing */
	URT_LOG_SINK_FD = 2,     /* fd: an open descriptor, dup'ed at open */
};

enum urt_log_format {
	URT_LOG_FMT_TEXT = 0, /* "<RFC 3339 UTC µs> LEVEL loop/task name fields message" */
	URT_LOG_FMT_JSON = 1, /* one JSON object per line */
};

enum urt_log_policy {
	URT_LOG_BLOCK = 0, /* full buffer: the caller waits (a task parks; the loop runs on) */
	URT_LOG_DROP = 1,  /* full buffer: the record is dropped and counted */
};

/* Logger settings; a zeroed struct means: stderr, text, INFO, 256 KiB per
 * thread, block, no rotation, crash flush on. */
typedef struct urt_log_config {
	enum urt_log_sink sink;     /* where records go */
	const char *path;           /* URT_LOG_SINK_FILE: file path (copied) */
	int fd;                     /* URT_LOG_SINK_FD: descriptor (dup'ed) */
	enum urt_log_format format; /* text or JSON lines */
	int level;                  /* runtime minimum level (enum urt_log_level); 0 = INFO */
	size_t buffer_size;         /* per-thread ring bytes; 0 = 256 KiB, min 16 KiB, max 1 GiB */
	enum urt_log_policy policy; /* what a full ring does */
	uint64_t rotate_size;       /* FILE: rotate before the file would pass this; 0 = never */
	unsigned rotate_count;      /* FILE: rotated files kept (path.1 .. path.N); 0 = 5, max 1000 */
	int no_crash_flush;         /* nonzero: install no fatal-signal flush */
	uint64_t writer_cpus;       /* CPUs the writer thread may run on (bit i = CPU i,
	                             * 0-63), e.g. away from latency-critical threads;
	                             * 0 = not pinned (it inherits the caller's) */
} urt_log_config;

/* ---- the default logger ------------------------------------------------ */

/* Open the process-wide logger that the URT_LOG_* macros use and start its
 * writer thread. Returns 0; -EINVAL (NULL cfg, bad enum, level outside
 * 0..OFF, FILE without path, FD with fd < 0, buffer_size above 1 GiB,
 * rotate_count above 1000, writer_cpus with no usable CPU); -EALREADY if
 * one is open; -errno of open(2) for a bad path (of fcntl(2) for a bad
 * FD); -ENOMEM; -EAGAIN if the thread cannot start. */
URT_API int urt_log_open(const urt_log_config *cfg);

/* Drain everything queued, write it, stop the writer, close the sink.
 * Log calls on other threads must have ended first (a call still running
 * may touch the freed logger). Close does let a plain thread it finds
 * waiting for room (block policy) finish: its record is written, or
 * dropped and counted if the writer was already stopping. A task of the
 * calling thread's own loop that waits for room or in urt_log_flush
 * cannot run until close returns: it then finds the logger closed (its
 * record is not written, its flush returns 0: close wrote everything
 * before). Returns 0; -ENOENT if no logger is
 * open; -ECHILD in a forked child (the inherited logger is then released
 * without writing, and its crash handlers removed; open a new one). */
URT_API int urt_log_close(void);

/* Return once every record logged (by any thread) before the call has been
 * written to the sink (or given up after the sink failed). A task parks
 * while it waits. Returns 0; -ENOENT if no logger is open; -ECHILD in a
 * forked child. */
URT_API int urt_log_flush(void);

/* Set the runtime minimum level. Returns the previous level; -EINVAL for a
 * level outside DEBUG..OFF. Works with no logger open (then nothing logs). */
URT_API int urt_log_set_level(int level);

/* The runtime minimum level now (URT_LOG_LVL_OFF while no logger is open). */
URT_API int urt_log_get_level(void);

/* Counters of the default logger (monotonic since urt_log_open). */
typedef struct urt_log_stats {
	uint64_t produced;    /* records accepted by log calls past the level check */
	uint64_t written;     /* records written to the sink */
	uint64_t dropped;     /* records dropped for a full ring (drop policy, cancelled task) */
	uint64_t failed;      /* records given up after the sink kept failing */
	uint64_t bytes;       /* bytes written to the sink */
	uint64_t sink_errors; /* failed write attempts and failed rotations */
	uint64_t rotations;   /* file rotations */
} urt_log_stats;

/* Copy the counters into *out. Returns 0; -EINVAL for NULL; -ENOENT if no
 * logger is open. produced == written + dropped + failed + queued. */
URT_API int urt_log_stats_get(urt_log_stats *out);

/* ---- structured fields ------------------------------------------------- */

enum urt_log_kv_type { URT_LOG_KV_INT, URT_LOG_KV_DOUBLE, URT_LOG_KV_STR, URT_LOG_KV_UINT };

/* One key=value field of a log call; build with URT_KV(). */
typedef struct urt_log_kv {
	const char *key;           /* a string literal (only its address is kept) */
	enum urt_log_kv_type type; /* which member of v is used */
	union {
		int64_t i;
		uint64_t u;        /* URT_LOG_KV_UINT: printed unsigned */
		double d;
		const char *s;     /* copied at the call */
	} v;
} urt_log_kv;

static inline urt_log_kv urt__kv_i(const char *k, int64_t v)
{ urt_log_kv f = {k, URT_LOG_KV_INT, {.i = v}}; return f; }
static inline urt_log_kv urt__kv_u(const char *k, uint64_t v)
{ urt_log_kv f = {k, URT_LOG_KV_UINT, {.u = v}}; return f; }
static inline urt_log_kv urt__kv_d(const char *k, double v)
{ urt_log_kv f = {k, URT_LOG_KV_DOUBLE, {.d = v}}; return f; }
static inline urt_log_kv urt__kv_s(const char *k, const char *v)
{ urt_log_kv f = {k, URT_LOG_KV_STR, {.s = v}}; return f; }

#ifndef __cplusplus
/* A typed field: URT_KV("user", name), URT_KV("n", 3), URT_KV("ms", 1.5).
 * Strings are copied; float, double and long double are kept as a double;
 * unsigned int, long and long long as uint64_t (printed unsigned, also
 * above INT64_MAX); every other integer type as int64_t. */
#define URT_KV(k, v) _Generic((v), char *: urt__kv_s, const char *: urt__kv_s, \
	double: urt__kv_d, float: urt__kv_d, long double: urt__kv_d, \
	unsigned int: urt__kv_u, unsigned long: urt__kv_u, unsigned long long: urt__kv_u, \
	default: urt__kv_i)((k), (v))
/* A list of fields for the *_KV macros: URT_FIELDS(URT_KV(..), URT_KV(..)). */
#define URT_FIELDS(...) ((const urt_log_kv[]){__VA_ARGS__}), \
	(unsigned)(sizeof((const urt_log_kv[]){__VA_ARGS__}) / sizeof(urt_log_kv))
#endif

/* ---- log calls ---------------------------------------------------------- */

/* private: one per call site; caches the parsed format. One cache line:
 * the log call reads it on every call. */
struct urt_log_site {
	const char *file;          /* __FILE__ */
	int line;                  /* __LINE__ */
	int state;                 /* 0 new, 1 parsing, 2 ready (atomic) */
	const char *fmt;           /* the format the cache was built from */
	unsigned char nargs;       /* arguments the format consumes */
	unsigned char fast;        /* all arguments are 8-byte scalars (no %s, %Lf, %m) */
	unsigned char types[24];   /* their kinds (log_internal.h) */
} __attribute__((aligned(64)));

/* private: the runtime level, read by the macros before anything else */
URT_API extern int urt__log_level;

/* private: queue one record (use the macros). */
URT_API void urt__log_emit(struct urt_log_site *site, int level, const urt_log_kv *kv,
			   unsigned nkv, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define URT__LOG(lvl, kv, nkv, ...) do { \
	if ((lvl) >= URT_LOG_MIN_LEVEL && \
	    __builtin_expect((lvl) >= __atomic_load_n(&urt__log_level, __ATOMIC_RELAXED), 0)) { \
		static struct urt_log_site urt__site_ = {__FILE__, __LINE__, 0, 0, 0, 0, {0}}; \
		urt__log_emit(&urt__site_, (lvl), (kv), (nkv), __VA_ARGS__); \
	} } while (0)

/* Log a printf-style message: URT_LOG_INFO("request %d took %f ms", id, ms). */
#define URT_LOG_DEBUG(...) URT__LOG(URT_LOG_LVL_DEBUG, NULL, 0, __VA_ARGS__)
#define URT_LOG_INFO(...) URT__LOG(URT_LOG_LVL_INFO, NULL, 0, __VA_ARGS__)
#define URT_LOG_WARN(...) URT__LOG(URT_LOG_LVL_WARN, NULL, 0, __VA_ARGS__)
#define URT_LOG_ERROR(...) URT__LOG(URT_LOG_LVL_ERROR, NULL, 0, __VA_ARGS__)

/* The same with fields: URT_LOG_INFO_KV(URT_FIELDS(URT_KV("user", u)), "login").
 * At most 16 fields are kept. */
#define URT_LOG_DEBUG_KV(fields, ...) URT__LOG_KV(URT_LOG_LVL_DEBUG, fields, __VA_ARGS__)
#define URT_LOG_INFO_KV(fields, ...) URT__LOG_KV(URT_LOG_LVL_INFO, fields, __VA_ARGS__)
#define URT_LOG_WARN_KV(fields, ...) URT__LOG_KV(URT_LOG_LVL_WARN, fields, __VA_ARGS__)
#define URT_LOG_ERROR_KV(fields, ...) URT__LOG_KV(URT_LOG_LVL_ERROR, fields, __VA_ARGS__)
#define URT__LOG_KV(lvl, fields, ...) URT__LOG_KV2(lvl, fields, __VA_ARGS__)
#define URT__LOG_KV2(lvl, kv, nkv, ...) URT__LOG(lvl, kv, nkv, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
