/* Text lines: "<RFC 3339 UTC µs> LEVEL loop/task name fields message".
 * Outside a task loop/task print as "-" and name as "tid:<thread id>".
 * Control characters, DEL and backslash are escaped (\n, \t, \r, \\,
 * \xHH), so one record is always exactly one line. */
#include <stdio.h>
#include <string.h>
#include "log_internal.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero if any byte of x is zero (exact, not just a hint). */
static inline uint64_t has_zero(uint64_t x)
{
	return (x - ONES) & ~x & HIGHS;
}

/* Nonzero if one of 8 bytes needs escaping: < 0x20, DEL, backslash, or a
 * quote when quoting. Bytes >= 0x80 pass as they are. */
static inline uint64_t needs_escape8(uint64_t x, bool quote)
{
	uint64_t m = ((x - 0x20 * ONES) & ~x & HIGHS) | has_zero(x ^ (0x7f * ONES)) |
		     has_zero(x ^ ('\\' * ONES));
	if (quote)
		m |= has_zero(x ^ ('"' * ONES));
	return m;
}

static void put_escaped(struct urt_log_buf *b, const char *s, size_t n, bool quote)
{
	static const char hex[] = "0123456789abcdef";
	if (!urt__log_buf_reserve(b, n + 2))
		return;
	if (quote)
		urt__log_buf_put(b, "\"", 1);
	size_t run = 0; /* bytes copied as they are, flushed in one go */
	for (size_t i = 0; i < n; i++) {
		/* 8 bytes at a time while none needs escaping (the common case) */
		while (i + 8 <= n) {
			uint64_t x;
			memcpy(&x, s + i, 8);
			if (needs_escape8(x, quote))
				break;
			i += 8;
			run += 8;
		}
		if (i >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f && c != '\\' && !(quote && c == '"')) {
			run++;
			continue;
		}
		urt__log_buf_put(b, s + i - run, run);
		run = 0;
		char e[4] = {'\\', 0, 0, 0};
		size_t el = 2;
		switch (c) {
		case '\n': e[1] = 'n'; break;
		case '\t': e[1] = 't'; break;
		case '\r': e[1] = 'r'; break;
		case '\\': e[1] = '\\'; break;
		case '"': e[1] = '"'; break;
		default: e[1] = 'x'; e[2] = hex[c >> 4]; e[3] = hex[c & 15]; el = 4;
		}
		urt__log_buf_put(b, e, el);
	}
	urt__log_buf_put(b, s + n - run, run);
	if (quote)
		urt__log_buf_put(b, "\"", 1);
}

static bool needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '"' || s[i] == '=')
			return true;
	return false;
}

static void put_u64(struct urt_log_buf *b, uint64_t v)
{
	urt__log_buf_put_uint(b, v, 1); /* not snprintf: this is on every line */
}

void urt__log_format_text(struct urt_log_buf *b, struct urt_log_buf *tmp,
			  const struct urt_log_rec *rec, pid_t tid)
{
	urt__log_format_time(b, urt__log_clock_ns(rec->ts));
	urt__log_buf_put(b, " ", 1);
	const char *lvl = urt__log_level_name(rec->level);
	urt__log_buf_put(b, lvl, strlen(lvl));
	urt__log_buf_put(b, " ", 1);
	if (rec->loop_id) put_u64(b, rec->loop_id); else urt__log_buf_put(b, "-", 1);
	urt__log_buf_put(b, "/", 1);
	if (rec->task_id) put_u64(b, rec->task_id); else urt__log_buf_put(b, "-", 1);
	urt__log_buf_put(b, " ", 1);
	if (rec->task_id) {
		const char *name = (const char *)(rec + 1);
		put_escaped(b, name, rec->name_len, needs_quotes(name, rec->name_len));
	} else {
		urt__log_buf_put(b, "tid:", 4);
		put_u64(b, (uint64_t)tid);
	}
	urt__log_buf_put(b, " ", 1);
	const unsigned char *f = urt__log_rec_fields(rec);
	for (unsigned i = 0; i < rec->nfields; i++) {
		const char *k;
		const struct urt_log_field_hdr *h;
		const void *v;
		f = urt__log_field_next(f, &k, &h, &v);
		put_escaped(b, k, h->klen, false);
		urt__log_buf_put(b, "=", 1);
		if (h->type == URT_LOG_KV_STR) {
			put_escaped(b, v, h->vlen, needs_quotes(v, h->vlen));
		} else if (h->type == URT_LOG_KV_DOUBLE) {
			double d;
			memcpy(&d, v, 8);
			char s[40];
			int n = snprintf(s, sizeof s, "%g", d);
			urt__log_buf_put(b, s, (size_t)n);
		} else if (h->type == URT_LOG_KV_UINT) {
			uint64_t x;
			memcpy(&x, v, 8);
			urt__log_buf_put_uint(b, x, 1);
		} else {
			int64_t x;
			memcpy(&x, v, 8);
			urt__log_buf_put_int(b, x);
		}
		urt__log_buf_put(b, " ", 1);
	}
	tmp->len = 0;
	urt__log_format_msg(tmp, rec);
	put_escaped(b, tmp->p, tmp->len, false);
	urt__log_buf_put(b, "\n", 1);
}

void urt__log_format_drops(struct urt_log_buf *b, int format, uint64_t n, pid_t tid)
{
	char s[160];
	int len;
	if (format == URT_LOG_FMT_JSON)
		len = snprintf(s, sizeof s, "{\"level\":\"WARN\",\"tid\":%d,\"dropped\":%llu,"
			       "\"msg\":\"%llu records dropped\"}\n",
			       (int)tid, (unsigned long long)n, (unsigned long long)n);
	else
		len = snprintf(s, sizeof s, "%llu records dropped (tid:%d)\n",
			       (unsigned long long)n, (int)tid);
	urt__log_buf_put(b, s, (size_t)len);
}

bool urt__log_line_is_record(const char *line, size_t n, int format)
{
	/* a record's line starts with its time ("2025-01-02T..." or
	 * {"ts":...); a drops line with a count ("12 records dropped") or
	 * {"level":... (urt__log_format_drops above) */
	if (format == URT_LOG_FMT_JSON)
		return n > 6 && memcmp(line, "{\"ts\":", 6) == 0;
	return n > 4 && line[4] == '-';
}
