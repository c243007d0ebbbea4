/* The hot path: encode one record into the calling thread's ring.
 * Level was checked by the macro. Here: no lock, no allocation (after the
 * thread's first record), no system call unless the ring is full.
 *
 * Two paths. The fast one (a cached site whose arguments are all 8-byte
 * scalars, no call fields, no context fields, room in the ring) is small
 * and straight: a call after the thread slept misses in the caches and TLBs
 * on every code line and data line it touches, and that first call is the
 * p99.9 of bursty logging. Everything else (first call of a site, %s, %Lf,
 * %m, fields, a full ring, the thread's first record) takes the general
 * path, which is out of line and cold. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include "log_internal.h"
#if __has_include("ctx_internal.h")
#include "ctx_internal.h"
#define URT_LOG_HAVE_CTX 1
#endif

#define PAD8(n) (((n) + 7u) & ~(size_t)7u)
#define URT_LOG_NOSTR "(null)"

struct enc_field {           /* a field about to be encoded */
	const char *key;
	size_t klen;
	int type;
	int64_t i;
	double d;
	const char *s;
	size_t slen;
};

/* Ask for a line about to be written, in a state that allows writing
 * (PREFETCHW: the writer on another core may hold it shared, and a plain
 * prefetch would leave the write an upgrade miss). Never faults. x86-64
 * processors without PREFETCHW execute it as a NOP. */
static inline void prefetch_w(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw (%0)" : : "r"(p)); /* p may be NULL: no C dereference */
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* The argument kinds for fmt at this site, cached after the first call. */
static int site_types(struct urt_log_site *site, const char *fmt, unsigned char *local,
		      const unsigned char **types)
{
	if (__atomic_load_n(&site->state, __ATOMIC_ACQUIRE) == URT_LOG_SITE_READY && site->fmt == fmt) {
		*types = site->types;
		return site->nargs;
	}
	int n = urt__log_parse_fmt(fmt, local, URT_LOG_MAX_ARGS);
	*types = local;
	int expect = URT_LOG_SITE_NEW;
	if (__atomic_compare_exchange_n(&site->state, &expect, URT_LOG_SITE_PARSING, false,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		memcpy(site->types, local, (size_t)n);
		site->nargs = (unsigned char)n;
		bool fast = true;
		for (int i = 0; i < n; i++)
			fast &= local[i] == URT_LOG_A_INT || local[i] == URT_LOG_A_LONG ||
				local[i] == URT_LOG_A_LLONG || local[i] == URT_LOG_A_DOUBLE ||
				local[i] == URT_LOG_A_PTR;
		site->fast = fast;
		site->fmt = fmt;
		__atomic_store_n(&site->state, URT_LOG_SITE_READY, __ATOMIC_RELEASE);
	}
	return n;
}

static unsigned collect_fields(struct enc_field *f, const urt_log_kv *kv, unsigned nkv)
{
	unsigned n = 0;
#ifdef URT_LOG_HAVE_CTX
	struct urt_ctx_field cf[URT_LOG_MAX_FIELDS];
	unsigned nc = urt__ctx_log_fields(cf, URT_LOG_MAX_FIELDS);
	for (unsigned i = 0; i < nc && n < URT_LOG_MAX_FIELDS; i++, n++) {
		f[n].key = cf[i].name ? cf[i].name : "?";
		if (cf[i].kind == URT_CTXVAR_LOG_STRING) {
			f[n].type = URT_LOG_KV_STR;
			f[n].s = cf[i].value ? (const char *)cf[i].value : URT_LOG_NOSTR;
		} else {
			f[n].type = URT_LOG_KV_INT;
			f[n].i = (int64_t)cf[i].value;
		}
	}
#endif
	for (unsigned i = 0; kv && i < nkv && n < URT_LOG_MAX_FIELDS; i++, n++) {
		f[n].key = kv[i].key ? kv[i].key : "?";
		f[n].type = kv[i].type;
		if (kv[i].type == URT_LOG_KV_STR)
			f[n].s = kv[i].v.s ? kv[i].v.s : URT_LOG_NOSTR;
		else if (kv[i].type == URT_LOG_KV_DOUBLE)
			f[n].d = kv[i].v.d;
		else if (kv[i].type == URT_LOG_KV_UINT)
			f[n].i = (int64_t)kv[i].v.u; /* the same 8 bytes, printed unsigned */
		else {
			f[n].type = URT_LOG_KV_INT;
			f[n].i = kv[i].v.i;
		}
	}
	return n;
}

/* Clamp string lengths so the record stays under limit bytes. */
static void clamp_strings(size_t *total, size_t limit, size_t **lens, unsigned nlens)
{
	if (*total <= limit || nlens == 0)
		return;
	size_t strs = 0;
	for (unsigned i = 0; i < nlens; i++)
		strs += *lens[i];
	size_t fixed = *total - strs;
	size_t each = limit > fixed ? (limit - fixed) / nlens : 0;
	for (unsigned i = 0; i < nlens; i++) {
		if (*lens[i] > each) {
			*total -= *lens[i] - each;
			*lens[i] = each;
		}
	}
}

static unsigned char *put_field(unsigned char *p, const struct enc_field *f)
{
	struct urt_log_field_hdr h = {(uint16_t)f->klen, (uint16_t)f->type,
				      f->type == URT_LOG_KV_STR ? (uint32_t)f->slen : 0};
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	memcpy(p, f->key, f->klen);
	p[f->klen] = 0;
	p += PAD8(f->klen + 1);
	if (f->type == URT_LOG_KV_STR) {
		memcpy(p, f->s, f->slen);
		p[f->slen] = 0;
		return p + PAD8(f->slen + 1);
	}
	if (f->type == URT_LOG_KV_DOUBLE)
		memcpy(p, &f->d, 8);
	else
		memcpy(p, &f->i, 8);
	return p + 8;
}

/* Everything a record holds before its fields and arguments (both paths);
 * returns where the fields go. The caller sets rec->size. */
static inline unsigned char *put_head(struct urt_log_rec *rec, struct urt_log_ring *r, int level,
				      unsigned nfields, unsigned nargs, uint64_t ts, const char *fmt,
				      struct urt_log_site *site, urt_task *t, urt_loop *loop,
				      const char *name, size_t name_len)
{
	rec->level = (uint8_t)level;
	rec->nfields = (uint8_t)nfields;
	rec->name_len = (uint8_t)name_len;
	rec->nargs = (uint8_t)nargs;
	rec->ts = ts;
	rec->fmt = fmt;
	rec->site = site;
	rec->task_id = t ? urt_task_id(t) : 0;
	rec->loop_id = loop ? urt_loop_id(loop) : 0;
	rec->drops_before = 0;
	if (URT_LOG_UNLIKELY(atomic_load_explicit(&r->pending_drops, memory_order_relaxed)))
		rec->drops_before = atomic_exchange_explicit(&r->pending_drops, 0, memory_order_relaxed);
	unsigned char *p = (unsigned char *)(rec + 1);
	if (name_len)
		memcpy(p, name, name_len);
	return p + PAD8(name_len);
}

/* The general path: any site, arguments, fields; waits for room (block
 * policy). errno is as the caller left it (the fast path does not touch it). */
__attribute__((noinline, cold)) static void emit_slow(struct urt_log_site *site, int level,
						      const urt_log_kv *kv, unsigned nkv,
						      const char *fmt, va_list ap)
{
	struct urt_logger *lg = atomic_load_explicit(&urt__log_g, memory_order_acquire);
	if (URT_LOG_UNLIKELY(!lg || !fmt))
		return;
	int saved_errno = errno;
	struct urt_log_ring *r = urt__log_ring_get(lg);
	if (URT_LOG_UNLIKELY(!r))
		return;
	uint64_t ts = urt__log_clock_raw();

	unsigned char local[URT_LOG_MAX_ARGS];
	const unsigned char *types;
	int nargs = site_types(site, fmt, local, &types);

	urt_task *t = urt_self();
	const char *name = t ? urt_task_name(t) : NULL;
	size_t name_len = name ? strnlen(name, URT_LOG_NAME_MAX - 1) : 0;
	urt_loop *loop = urt_loop_current();

	struct enc_field f[URT_LOG_MAX_FIELDS];
	unsigned nf = collect_fields(f, kv, nkv);

	/* pass 1: sizes */
	size_t slen[URT_LOG_MAX_ARGS];
	size_t *lens[URT_LOG_MAX_ARGS + URT_LOG_MAX_FIELDS];
	unsigned nlens = 0;
	size_t total = sizeof(struct urt_log_rec) + PAD8(name_len);
	for (unsigned i = 0; i < nf; i++) {
		f[i].klen = strnlen(f[i].key, 255);
		total += sizeof(struct urt_log_field_hdr) + PAD8(f[i].klen + 1);
		if (f[i].type == URT_LOG_KV_STR) {
			f[i].slen = strlen(f[i].s);
			total += 1 + 7; /* NUL and worst-case padding, fixed below */
			total += f[i].slen;
			lens[nlens++] = &f[i].slen;
		} else
			total += 8;
	}
	va_list ap2;
	va_copy(ap2, ap);
	for (int i = 0; i < nargs; i++) {
		switch (types[i]) {
		case URT_LOG_A_INT: (void)va_arg(ap2, int); total += 8; break;
		case URT_LOG_A_LONG: (void)va_arg(ap2, long); total += 8; break;
		case URT_LOG_A_LLONG: (void)va_arg(ap2, long long); total += 8; break;
		case URT_LOG_A_DOUBLE: (void)va_arg(ap2, double); total += 8; break;
		case URT_LOG_A_LDOUBLE: (void)va_arg(ap2, long double); total += 16; break;
		case URT_LOG_A_PTR: (void)va_arg(ap2, void *); total += 8; break;
		case URT_LOG_A_ERRNO: total += 8; break;
		case URT_LOG_A_STR: {
			const char *s = va_arg(ap2, const char *);
			slen[i] = strlen(s ? s : URT_LOG_NOSTR);
			total += 8 + slen[i] + 1 + 7;
			lens[nlens++] = &slen[i];
			break;
		}
		}
	}
	va_end(ap2);
	clamp_strings(&total, (size_t)(r->cap / 4), lens, nlens);
	uint32_t size = (uint32_t)PAD8(total);

	uint64_t pos;
	bool waiter = false; /* counted in lg->room_waiters until published */
	unsigned char *p = urt__log_ring_reserve(r, size, &pos);
	if (URT_LOG_UNLIKELY(!p)) {
		p = urt__log_ring_wait_room(lg, r, size, level, &pos, &waiter);
		if (!p) {
			errno = saved_errno;
			return;
		}
	}
	struct urt_log_rec *rec = (struct urt_log_rec *)p;
	p = put_head(rec, r, level, nf, (unsigned)nargs, ts, fmt, site, t, loop, name, name_len);
	for (unsigned i = 0; i < nf; i++)
		p = put_field(p, &f[i]);
	for (int i = 0; i < nargs; i++) {
		switch (types[i]) {
		case URT_LOG_A_INT: { int64_t v = va_arg(ap, int); memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_LONG: { int64_t v = va_arg(ap, long); memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_LLONG: { int64_t v = va_arg(ap, long long); memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_DOUBLE: { double v = va_arg(ap, double); memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_LDOUBLE: { long double v = va_arg(ap, long double); memset(p, 0, 16); memcpy(p, &v, sizeof v < 16 ? sizeof v : 16); p += 16; break; }
		case URT_LOG_A_PTR: { void *v = va_arg(ap, void *); memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_ERRNO: { int64_t v = saved_errno; memcpy(p, &v, 8); p += 8; break; }
		case URT_LOG_A_STR: {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = URT_LOG_NOSTR;
			uint64_t len = slen[i];
			memcpy(p, &len, 8);
			p += 8;
			memcpy(p, s, len);
			p[len] = 0;
			p += PAD8(len + 1);
			break;
		}
		}
	}
	rec->size = (uint32_t)(p - (unsigned char *)rec);
	urt__log_ring_publish(r, pos + rec->size);
	if (URT_LOG_UNLIKELY(waiter)) /* done with r: close may free it now */
		atomic_fetch_sub(&lg->room_waiters, 1);
	errno = saved_errno;
}

/* The fast path (see the top of the file); false: nothing was done or
 * consumed, take the general path. Plain threads make one call into core
 * (urt_loop_current: no loop, no task), and one into ctx only if some
 * variable is a log field. */
static inline bool emit_fast(struct urt_log_ring *r, struct urt_log_site *site, int level,
			     const char *fmt, va_list ap)
{
	uint64_t ts = urt__log_clock_raw();
	urt_loop *loop = urt_loop_current();
	urt_task *t = loop ? urt_self() : NULL; /* a task runs on a loop thread */
	const char *name = t ? urt_task_name(t) : NULL;
	size_t name_len = 0;
	if (name)
		while (name_len < URT_LOG_NAME_MAX - 1 && name[name_len])
			name_len++;
#ifdef URT_LOG_HAVE_CTX
	struct urt_ctx_field cf;
	if (urt__ctx_has_log_fields() && urt__ctx_log_fields(&cf, 1)) /* the general path encodes them */
		return false;
#endif
	unsigned nargs = site->nargs;
	uint32_t size = (uint32_t)(sizeof(struct urt_log_rec) + PAD8(name_len) + 8 * nargs);
	uint64_t pos;
	unsigned char *p = urt__log_ring_reserve(r, size, &pos);
	if (URT_LOG_UNLIKELY(!p))
		return false;
	struct urt_log_rec *rec = (struct urt_log_rec *)p;
	rec->size = size;
	p = put_head(rec, r, level, 0, nargs, ts, fmt, site, t, loop, name, name_len);
	const unsigned char *types = site->types;
	for (unsigned i = 0; i < nargs; i++, p += 8) {
		if (types[i] == URT_LOG_A_DOUBLE) {
			double v = va_arg(ap, double);
			memcpy(p, &v, 8);
		} else if (types[i] == URT_LOG_A_INT) {
			int64_t v = va_arg(ap, int);
			memcpy(p, &v, 8);
		} else { /* LONG, LLONG, PTR: 8 bytes from the same registers */
			int64_t v = va_arg(ap, long long);
			memcpy(p, &v, 8);
		}
	}
	urt__log_ring_publish(r, pos + size);
	return true;
}

/* hot: in .text.hot, on one code page with the core accessors it calls
 * (urt_loop_current, urt_self, ...; hot too): a log call after the thread
 * slept takes one instruction-TLB and cache miss for them, not three
 * (bench_log --only latency, five interleaved runs: p99.9 590 -> 561 ns
 * with one producer, 601 -> 551 ns with two). */
__attribute__((hot)) void urt__log_emit(struct urt_log_site *site, int level, const urt_log_kv *kv, unsigned nkv,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct urt_logger *lg = atomic_load_explicit(&urt__log_g, memory_order_acquire);
	struct urt_log_ring *r = urt__log_tls_ring;
	/* the lines this call will write, requested now so that their misses
	 * overlap with the calls into core and ctx below (prefetches never
	 * fault: a stale hint is harmless) */
	unsigned char *next = urt__log_tls_next;
	prefetch_w(r);
	prefetch_w(next); /* a record of a few arguments spans up to 3 lines */
	prefetch_w(next + 64);
	prefetch_w(next + 128);
	if (URT_LOG_LIKELY(lg && !kv && r && urt__log_tls_gen == urt__log_hot.gen && fmt &&
			   __atomic_load_n(&site->state, __ATOMIC_ACQUIRE) == URT_LOG_SITE_READY &&
			   site->fast && site->fmt == fmt) &&
	    emit_fast(r, site, level, fmt, ap)) {
		va_end(ap);
		return;
	}
	emit_slow(site, level, kv, nkv, fmt, ap);
	va_end(ap);
}
