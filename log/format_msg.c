/* Writer side of deferred formatting: walk a record's format again and
 * expand each conversion with its copied argument (one snprintf per
 * conversion, so width, precision and flags mean what printf says). Also
 * the output buffer, the timestamp and the walk over a record's parts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include "log_internal.h"

#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

bool urt__log_buf_reserve(struct urt_log_buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return true;
	if (b->fixed)
		return false;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	char *p = urt__fault(URT_FAULT_ALLOC) ? NULL : realloc(b->p, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

void urt__log_buf_put_slow(struct urt_log_buf *b, const char *s, size_t n)
{
	if (!n)
		return; /* b->p may still be NULL: memcpy(NULL, s, 0) is undefined */
	if (!urt__log_buf_reserve(b, n))
		n = b->cap - b->len; /* fixed buffer: truncate */
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

const char *urt__log_level_name(int level)
{
	static const char *names[] = {"?", "DEBUG", "INFO", "WARN", "ERROR"};
	return level >= 1 && level <= 4 ? names[level] : "?";
}

/* "00" .. "99": two digits per division halves the work per number */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

void urt__log_buf_put_uint(struct urt_log_buf *b, uint64_t v, int width)
{
	char s[24]; /* digits written from the end: no reversal pass */
	char *e = s + sizeof s, *d = e;
	while (v >= 10) {
		d -= 2;
		memcpy(d, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v || d == e)
		*--d = (char)('0' + v);
	if (width > 20)
		width = 20;
	while (e - d < width)
		*--d = '0';
	urt__log_buf_put(b, d, (size_t)(e - d));
}

void urt__log_buf_put_int(struct urt_log_buf *b, int64_t v)
{
	if (v < 0)
		urt__log_buf_put(b, "-", 1);
	urt__log_buf_put_uint(b, v < 0 ? -(uint64_t)v : (uint64_t)v, 1);
}

/* days since 1970-01-01 -> civil date (proleptic Gregorian) */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400) + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS." of one second, per thread: the writer formats
 * thousands of records per second, so the date is computed once a second.
 * sec is INT64_MIN while text is rewritten: the crash handler (which may
 * interrupt this thread) then formats without the cache. */
static __thread struct { int64_t sec; char text[20]; } time_cache
	__attribute__((tls_model("initial-exec"))) = {INT64_MIN, {0}};

static void put_digits(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

static void second_text(char *t, int64_t sec)
{
	int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
	int64_t sod = sec - days * 86400;
	int y;
	unsigned m, d;
	civil(days, &y, &m, &d);
	put_digits(t, (uint64_t)(y < 0 ? 0 : y) % 10000, 4);
	t[4] = '-';
	put_digits(t + 5, m, 2);
	t[7] = '-';
	put_digits(t + 8, d, 2);
	t[10] = 'T';
	put_digits(t + 11, (uint64_t)sod / 3600, 2);
	t[13] = ':';
	put_digits(t + 14, (uint64_t)sod / 60 % 60, 2);
	t[16] = ':';
	put_digits(t + 17, (uint64_t)sod % 60, 2);
	t[19] = '.';
}

void urt__log_format_time(struct urt_log_buf *b, int64_t ns)
{
	int64_t sec = ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000;
	int64_t us = (ns - sec * 1000000000) / 1000;
	char t[27];
	if (time_cache.sec == sec && sec != INT64_MIN) {
		memcpy(t, time_cache.text, 20);
	} else {
		second_text(t, sec);
		time_cache.sec = INT64_MIN;
		atomic_signal_fence(memory_order_seq_cst);
		memcpy(time_cache.text, t, 20);
		atomic_signal_fence(memory_order_seq_cst);
		time_cache.sec = sec;
	}
	put_digits(t + 20, (uint64_t)us, 6);
	t[26] = 'Z';
	urt__log_buf_put(b, t, 27);
}

const unsigned char *urt__log_rec_fields(const struct urt_log_rec *rec)
{
	return (const unsigned char *)(rec + 1) + PAD8(rec->name_len);
}

const unsigned char *urt__log_field_next(const unsigned char *f, const char **key,
					 const struct urt_log_field_hdr **h, const void **val)
{
	*h = (const struct urt_log_field_hdr *)f;
	*key = (const char *)(f + sizeof **h);
	*val = f + sizeof **h + PAD8((*h)->klen + 1u);
	if ((*h)->type == URT_LOG_KV_STR)
		return (const unsigned char *)*val + PAD8((*h)->vlen + 1u);
	return (const unsigned char *)*val + 8;
}

/* Plain "%f" (6 decimals) without printf for |v| < 1e6: v * 1e6 is off
 * the exact product by at most 6e-5, so unless its fraction is within 1e-3
 * of a tie the rounding is the one printf would make. false: use printf. */
static bool put_f6(struct urt_log_buf *b, double v)
{
	double t = v < 0 ? -v : v;
	if (!(t < 1e6))
		return false;
	t *= 1e6;
	double fl = __builtin_floor(t), frac = t - fl;
	if (frac > 0.499 && frac < 0.501)
		return false;
	uint64_t r = (uint64_t)fl + (frac > 0.5);
	if (__builtin_signbit(v)) /* printf prints -1e-9 and -0.0 as "-0.000000" too */
		urt__log_buf_put(b, "-", 1);
	urt__log_buf_put_uint(b, r / 1000000, 1);
	urt__log_buf_put(b, ".", 1);
	urt__log_buf_put_uint(b, r % 1000000, 6);
	return true;
}

static void put_hex(struct urt_log_buf *b, uint64_t v, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char t[16];
	char *e = t + sizeof t, *d = e;
	do {
		*--d = digits[v & 15];
		v >>= 4;
	} while (v);
	urt__log_buf_put(b, d, (size_t)(e - d));
}

/* %d %i %u %x %X with only a length modifier (bits: what it selects), as
 * printf prints them; false for any other conversion. */
static bool put_int(struct urt_log_buf *b, int64_t v, char conv, int bits)
{
	uint64_t u = (uint64_t)v;
	if (conv == 'd' || conv == 'i') {
		urt__log_buf_put_int(b, bits == 8 ? (signed char)v : bits == 16 ? (short)v
					: bits == 32 ? (int)v : v);
		return true;
	}
	if (bits < 64)
		u &= ((uint64_t)1 << bits) - 1;
	if (conv == 'u')
		urt__log_buf_put_uint(b, u, 1);
	else if (conv == 'x' || conv == 'X')
		put_hex(b, u, conv == 'X');
	else
		return false;
	return true;
}

/* snprintf one conversion straight into b */
#define PUT_FMT(b, spec, ...) do { \
	if (!urt__log_buf_reserve(b, 64)) break; \
	size_t room_ = (b)->cap - (b)->len; \
	int n_ = snprintf((b)->p + (b)->len, room_, spec, __VA_ARGS__); \
	if (n_ > 0 && (size_t)n_ >= room_ && urt__log_buf_reserve(b, (size_t)n_ + 1)) \
		n_ = snprintf((b)->p + (b)->len, (size_t)n_ + 1, spec, __VA_ARGS__); \
	if (n_ > 0) \
		(b)->len += (size_t)n_ < (b)->cap - (b)->len ? (size_t)n_ : (b)->cap - (b)->len - 1; \
	} while (0)

/* The same with the spec's '*' arguments first (nstar of them in star[]) */
#define PUT_STARS(b, spec, nstar, star, v) do { \
	if ((nstar) == 2) PUT_FMT(b, spec, (int)(star)[0], (int)(star)[1], v); \
	else if ((nstar) == 1) PUT_FMT(b, spec, (int)(star)[0], v); \
	else PUT_FMT(b, spec, v); \
	} while (0)

/* Width and precision are capped at URT_LOG_MAX_WIDTH (urt_log.h): padded
 * as printf would, one argument ("%*d", 100000000) made a line of that
 * many bytes, and the writer's buffers kept that size until close. A
 * precision of %s only cuts the string: it is kept. */
static bool caps_prec(char conv) { return conv != 's'; }

/* The n digits at d (n <= 9), capped */
static unsigned spec_num(const char *d, unsigned n)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v * 10 + (unsigned)(d[i] - '0');
	return v > URT_LOG_MAX_WIDTH ? URT_LOG_MAX_WIDTH : v;
}

/* '*' arguments (nstar in star[], width first), capped */
static void cap_stars(int64_t *star, const struct urt_log_spec *sp, char conv)
{
	const int64_t m = URT_LOG_MAX_WIDTH;
	if (sp->star_w) /* negative: '-' flag and its magnitude */
		star[0] = star[0] > m ? m : star[0] < -m ? -m : star[0];
	if (sp->star_p && caps_prec(conv)) { /* negative: no precision */
		int64_t *p = &star[sp->star_w];
		*p = *p > m ? m : *p;
	}
}

/* The spec as snprintf gets it: '%', each flag once, width and precision
 * ('*' or their value, capped), then len and conv. A printf spec may be
 * any length ("%.000000000000000000000000000000001d"); this one is at most
 * 24 bytes. false for a width or precision of more than 9 digits: printf
 * fails on those (EOVERFLOW), the spec is printed instead. */
static bool make_spec(char o[40], const struct urt_log_spec *sp, const char *len, char conv)
{
	static const char flag_chars[] = "-+ #0'I"; /* in URT_LOG_F_* bit order */
	if (sp->wlen > 9 || sp->plen > 9)
		return false;
	size_t k = 0;
	o[k++] = '%';
	for (int i = 0; i < 7; i++)
		if (sp->flags & (1 << i))
			o[k++] = flag_chars[i];
	if (sp->star_w)
		o[k++] = '*';
	else if (sp->wlen) /* width is NULL without digits */
		k += (size_t)snprintf(o + k, 12, "%u", spec_num(sp->width, sp->wlen));
	if (sp->has_prec) {
		o[k++] = '.';
		if (sp->star_p)
			o[k++] = '*';
		else if (!sp->plen)
			o[k++] = '0';
		else if (caps_prec(conv))
			k += (size_t)snprintf(o + k, 12, "%u", spec_num(sp->prec, sp->plen));
		else
			for (unsigned i = 0; i < sp->plen; i++)
				o[k++] = sp->prec[i];
	}
	while (*len)
		o[k++] = *len++;
	o[k++] = conv;
	o[k] = 0;
	return true;
}

/* The next 8 bytes of arguments into v; false (and no arguments left) when
 * the record has none: never past the record's own bytes. */
static inline bool next_arg(const unsigned char **a, const unsigned char *end, unsigned *left,
			    void *v, size_t n)
{
	if (!*left || (size_t)(end - *a) < n) {
		*left = 0;
		return false;
	}
	memcpy(v, *a, n);
	*a += n;
	(*left)--;
	return true;
}

void urt__log_format_msg(struct urt_log_buf *b, const struct urt_log_rec *rec)
{
	const unsigned char *a = urt__log_rec_fields(rec);
	const unsigned char *end = (const unsigned char *)rec + rec->size;
	for (unsigned i = 0; i < rec->nfields; i++) {
		const char *k;
		const struct urt_log_field_hdr *h;
		const void *v;
		a = urt__log_field_next(a, &k, &h, &v);
	}
	unsigned left = rec->nargs;
	if (a > end)
		left = 0;
	const char *p = rec->fmt, *lit = p;
	char spec[40];
	while (*p) {
		if (*p != '%') { /* skip the literal text in one scan */
			const char *q = strchr(p, '%');
			if (!q)
				break;
			p = q;
		}
		urt__log_buf_put(b, lit, (size_t)(p - lit));
		if (p[1] == '%') { urt__log_buf_put(b, "%", 1); p += 2; lit = p; continue; }
		const char *s = p;
		struct urt_log_spec sp;
		urt__log_spec_parse(s, &sp);
		if (!sp.conv) { lit = s; break; }
		p = lit = sp.end;
		size_t slen = (size_t)(p - s);
		int64_t star[2] = {0, 0};
		int nstar = 0;
		if (sp.star_w)
			next_arg(&a, end, &left, &star[nstar++], 8);
		if (sp.star_p)
			next_arg(&a, end, &left, &star[nstar++], 8);
		char conv = sp.conv;
		cap_stars(star, &sp, conv);
		if (sp.kind < 0) { /* "%5%" prints '%'; an unknown conversion itself */
			if (conv == '%')
				urt__log_buf_put(b, "%", 1);
			else
				urt__log_buf_put(b, s, slen);
			continue;
		}
		if (sp.kind == URT_LOG_A_ERRNO) { /* errno captured at the call */
			int64_t e = 0;
			next_arg(&a, end, &left, &e, 8);
			char eb[128];
			const char *es = strerror_r((int)e, eb, sizeof eb);
			urt__log_buf_put(b, es, strlen(es));
			continue;
		}
		if (sp.kind == URT_LOG_A_STR) {
			uint64_t len;
			if (!next_arg(&a, end, &left, &len, 8) || len >= (size_t)(end - a) || a[len]) {
				left = 0; /* a length past the record: nothing after it is trusted */
				urt__log_buf_put(b, s, slen);
				continue;
			}
			const char *str = (const char *)a;
			a += PAD8(len + 1);
			if (sp.plain && !nstar)
				urt__log_buf_put(b, str, len); /* plain %s */
			else if (make_spec(spec, &sp, "", 's'))
				PUT_STARS(b, spec, nstar, star, str);
			else
				urt__log_buf_put(b, s, slen);
			continue;
		}
		if (sp.kind == URT_LOG_A_LDOUBLE) {
			long double v = 0;
			unsigned char raw[16];
			if (!next_arg(&a, end, &left, raw, 16)) {
				urt__log_buf_put(b, s, slen);
				continue;
			}
			memcpy(&v, raw, sizeof v < 16 ? sizeof v : 16);
			if (make_spec(spec, &sp, "L", conv))
				PUT_STARS(b, spec, nstar, star, v);
			else
				urt__log_buf_put(b, s, slen);
			continue;
		}
		int64_t v;
		if (!next_arg(&a, end, &left, &v, 8)) {
			urt__log_buf_put(b, s, slen);
			continue;
		}
		if (sp.kind == URT_LOG_A_DOUBLE) {
			double d;
			memcpy(&d, &v, 8);
			if (sp.plain && !sp.lenmod && conv == 'f' && put_f6(b, d))
				continue;
			if (make_spec(spec, &sp, "", conv))
				PUT_STARS(b, spec, nstar, star, d);
			else
				urt__log_buf_put(b, s, slen);
			continue;
		}
		if (sp.kind == URT_LOG_A_PTR) { /* %p; %ls, %S and %n are not supported */
			void *ptr;
			memcpy(&ptr, &v, 8);
			if (conv == 'p' && make_spec(spec, &sp, "", 'p'))
				PUT_STARS(b, spec, nstar, star, ptr);
			else
				urt__log_buf_put(b, s, slen);
			continue;
		}
		if (conv == 'c' || conv == 'C') { /* %lc and %C: a wint_t */
			bool wide = conv == 'C' || sp.lenmod == 'l';
			if (!make_spec(spec, &sp, wide ? "l" : "", 'c'))
				urt__log_buf_put(b, s, slen);
			else if (wide)
				PUT_STARS(b, spec, nstar, star, (wint_t)v);
			else
				PUT_STARS(b, spec, nstar, star, (int)v);
			continue;
		}
		/* integers: what the length modifier selects, then as long long */
		bool sgn = conv == 'd' || conv == 'i';
		int bits = sp.lenmod == 'H' ? 8 : sp.lenmod == 'h' ? 16 : !sp.lenmod ? 32 : 64;
		if (sp.plain && put_int(b, v, conv, bits))
			continue;
		long long x = bits == 8 ? (sgn ? (signed char)v : (unsigned char)v)
			    : bits == 16 ? (sgn ? (short)v : (unsigned short)v)
			    : bits == 32 ? (sgn ? (int)v : (int64_t)(unsigned)v) : v;
		if (make_spec(spec, &sp, "ll", conv))
			PUT_STARS(b, spec, nstar, star, x);
		else
			urt__log_buf_put(b, s, slen);
	}
	urt__log_buf_put(b, lit, strlen(lit));
}
