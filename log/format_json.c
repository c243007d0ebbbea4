/* JSON lines: {"ts":..,"level":..,"tid":..,"loop":..,"task":..,
 * "task_name":..,"src":"file:line","fields":{..},"msg":..}. Always valid
 * JSON: quotes, backslashes and control characters are escaped, invalid
 * UTF-8 becomes U+FFFD, non-finite doubles become null. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "log_internal.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80) return 1;
	if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
	else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; }
	else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
	else return 0;
	if (len > n) return 0;
	unsigned cp = c & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
	return len;
}

static void put_json_str(struct urt_log_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	urt__log_buf_reserve(b, n + 2);
	urt__log_buf_put(b, "\"", 1);
	size_t i = 0, run = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { run++; i++; continue; }
		size_t ul = c >= 0x80 ? utf8_len(s + i, n - i) : 0;
		if (ul) { run += ul; i += ul; continue; }
		urt__log_buf_put(b, str + i - run, run);
		run = 0;
		if (c >= 0x80) urt__log_buf_put(b, "\\ufffd", 6);
		else if (c == '"') urt__log_buf_put(b, "\\\"", 2);
		else if (c == '\\') urt__log_buf_put(b, "\\\\", 2);
		else if (c == '\n') urt__log_buf_put(b, "\\n", 2);
		else if (c == '\t') urt__log_buf_put(b, "\\t", 2);
		else if (c == '\r') urt__log_buf_put(b, "\\r", 2);
		else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			urt__log_buf_put(b, e, 6);
		}
		i++;
	}
	urt__log_buf_put(b, str + n - run, run);
	urt__log_buf_put(b, "\"", 1);
}

#define PUTS(b, s) urt__log_buf_put((b), (s), strlen(s))

static void put_num(struct urt_log_buf *b, const char *fmt, long long v)
{
	char s[32];
	int n = snprintf(s, sizeof s, fmt, v);
	urt__log_buf_put(b, s, (size_t)n);
}

void urt__log_format_json(struct urt_log_buf *b, struct urt_log_buf *tmp,
			  const struct urt_log_rec *rec, pid_t tid)
{
	PUTS(b, "{\"ts\":\"");
	urt__log_format_time(b, urt__log_clock_ns(rec->ts));
	PUTS(b, "\",\"level\":\"");
	PUTS(b, urt__log_level_name(rec->level));
	put_num(b, "\",\"tid\":%lld", tid);
	if (rec->loop_id)
		put_num(b, ",\"loop\":%lld", (long long)rec->loop_id);
	if (rec->task_id) {
		put_num(b, ",\"task\":%lld", (long long)rec->task_id);
		PUTS(b, ",\"task_name\":");
		put_json_str(b, (const char *)(rec + 1), rec->name_len);
	}
	PUTS(b, ",\"src\":");
	tmp->len = 0;
	PUTS(tmp, rec->site->file);
	put_num(tmp, ":%lld", rec->site->line);
	put_json_str(b, tmp->p, tmp->len);
	if (rec->nfields) {
		PUTS(b, ",\"fields\":{");
		const unsigned char *f = urt__log_rec_fields(rec);
		for (unsigned i = 0; i < rec->nfields; i++) {
			const char *k;
			const struct urt_log_field_hdr *h;
			const void *v;
			f = urt__log_field_next(f, &k, &h, &v);
			if (i)
				PUTS(b, ",");
			put_json_str(b, k, h->klen);
			PUTS(b, ":");
			if (h->type == URT_LOG_KV_STR) {
				put_json_str(b, v, h->vlen);
			} else if (h->type == URT_LOG_KV_DOUBLE) {
				double d;
				memcpy(&d, v, 8);
				char s[40];
				int n = isfinite(d) ? snprintf(s, sizeof s, "%.17g", d)
						    : snprintf(s, sizeof s, "null");
				urt__log_buf_put(b, s, (size_t)n);
			} else if (h->type == URT_LOG_KV_UINT) {
				uint64_t x;
				memcpy(&x, v, 8);
				urt__log_buf_put_uint(b, x, 1);
			} else {
				int64_t x;
				memcpy(&x, v, 8);
				put_num(b, "%lld", (long long)x);
			}
		}
		PUTS(b, "}");
	}
	PUTS(b, ",\"msg\":");
	tmp->len = 0;
	urt__log_format_msg(tmp, rec);
	put_json_str(b, tmp->p, tmp->len);
	PUTS(b, "}\n");
}
