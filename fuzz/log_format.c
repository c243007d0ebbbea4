/* libFuzzer: the logger's text escaping and JSON encoder. The input is
 * split on 0xff bytes into a task name, field keys and values and the
 * message argument (any bytes: newlines, quotes, control characters,
 * broken UTF-8); the record is built as record.c lays it out and
 * formatted both ways. Invariants: a text line and a JSON line each end
 * in exactly one '\n' and hold no other raw newline; the JSON line is
 * one valid JSON object (strict: no raw control characters, only valid
 * escapes, valid UTF-8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log_internal.h"

#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

/* ---- a strict JSON checker (RFC 8259) ---------------------------------- */
struct js { const unsigned char *p, *end; };

static void ws(struct js *j) { while (j->p < j->end && strchr(" \t\r\n", *j->p) && *j->p) j->p++; }
static int value(struct js *j, int depth);

static int utf8(struct js *j)
{
	unsigned c = *j->p, n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (j->end - j->p <= (long)n)
		return 0;
	unsigned cp = c & (0x3f >> n);
	for (unsigned i = 1; i <= n; i++) {
		if ((j->p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (j->p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	j->p += n + 1;
	return 1;
}

static int string(struct js *j)
{
	if (j->p >= j->end || *j->p != '"')
		return 0;
	j->p++;
	while (j->p < j->end) {
		unsigned c = *j->p;
		if (c == '"') { j->p++; return 1; }
		if (c < 0x20) return 0;
		if (c == '\\') {
			if (++j->p >= j->end) return 0;
			c = *j->p++;
			if (c == 'u') {
				for (int i = 0; i < 4; i++, j->p++)
					if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
						return 0;
			} else if (!strchr("\"\\/bfnrt", (int)c) || !c) {
				return 0;
			}
		} else if (c >= 0x80) {
			if (!utf8(j)) return 0;
		} else {
			j->p++;
		}
	}
	return 0;
}

static int number(struct js *j)
{
	const unsigned char *s = j->p;
	if (j->p < j->end && *j->p == '-') j->p++;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
	while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || strchr(".eE+-", *j->p)) && *j->p) j->p++;
	return j->p > s;
}

static int lit(struct js *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return 0;
	j->p += n;
	return 1;
}

static int value(struct js *j, int depth)
{
	ws(j);
	if (j->p >= j->end || depth > 8) return 0;
	int ok;
	if (*j->p == '{') {
		j->p++; ws(j);
		if (j->p < j->end && *j->p == '}') { j->p++; return 1; }
		for (;;) {
			ws(j);
			if (!string(j)) return 0;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':') return 0;
			if (!value(j, depth + 1)) return 0;
			ws(j);
			if (j->p >= j->end) return 0;
			if (*j->p == '}') { j->p++; return 1; }
			if (*j->p++ != ',') return 0;
		}
	}
	if (*j->p == '"') ok = string(j);
	else if (*j->p == 'n') ok = lit(j, "null");
	else if (*j->p == 't') ok = lit(j, "true");
	else if (*j->p == 'f') ok = lit(j, "false");
	else ok = number(j);
	ws(j);
	return ok;
}

/* ---- building a record -------------------------------------------------- */
struct part { const uint8_t *p; size_t n; };

static size_t split(const uint8_t *d, size_t n, struct part *out, size_t max)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n && k < max; i++)
		if (i == n || d[i] == 0xff) {
			out[k++] = (struct part){d + start, i - start};
			start = i + 1;
		}
	return k;
}

static unsigned char *put_str_field(unsigned char *q, struct part k, struct part v)
{
	struct urt_log_field_hdr h = {(uint16_t)k.n, URT_LOG_KV_STR, (uint32_t)v.n};
	memcpy(q, &h, sizeof h);
	q += sizeof h;
	memcpy(q, k.p, k.n);
	q[k.n] = 0;
	q += PAD8(k.n + 1);
	memcpy(q, v.p, v.n);
	q[v.n] = 0;
	return q + PAD8(v.n + 1);
}

static void check_line(const struct urt_log_buf *b, int json)
{
	if (b->len == 0 || b->p[b->len - 1] != '\n' || memchr(b->p, '\n', b->len - 1)) {
		fprintf(stderr, "%s line is not exactly one line: %.*s\n", json ? "JSON" : "text",
			(int)b->len, b->p);
		abort();
	}
	if (json) {
		struct js j = {(const unsigned char *)b->p, (const unsigned char *)b->p + b->len - 1};
		if (*j.p != '{' || !value(&j, 0) || j.p != j.end) {
			fprintf(stderr, "invalid JSON at byte %ld: %.*s\n",
				(long)(j.p - (const unsigned char *)b->p), (int)b->len, b->p);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int clock_ready;
	if (!clock_ready) {
		urt__log_clock_init();
		clock_ready = 1;
	}
	if (size > 4096)
		return 0;
	struct part pt[6] = {{0}};
	size_t np = split(data, size, pt, 6);
	struct part name = pt[0], arg = np > 5 ? pt[5] : pt[0];
	if (name.n > 255)
		name.n = 255;
	size_t cap = sizeof(struct urt_log_rec) + 8 * size + 256;
	unsigned char *mem = aligned_alloc(8, PAD8(cap));
	struct urt_log_rec *rec = (struct urt_log_rec *)mem;
	static struct urt_log_site site = {.file = "fuzz/log_format.c", .line = 1};
	*rec = (struct urt_log_rec){.level = (uint8_t)(1 + size % 4), .name_len = (uint8_t)name.n,
				    .fmt = "m=%s", .site = &site, .task_id = size & 1 ? 7 : 0,
				    .loop_id = size & 2 ? 1 : 0, .ts = urt__log_clock_raw()};
	unsigned char *q = mem + sizeof *rec;
	memcpy(q, name.p, name.n);
	q += PAD8(name.n);
	for (size_t i = 1; i + 1 < np && i < 5; i += 2) {
		q = put_str_field(q, pt[i], pt[i + 1]);
		rec->nfields++;
	}
	uint64_t len = arg.n; /* one "%s" argument: length, bytes, NUL, padded */
	memcpy(q, &len, 8);
	memcpy(q + 8, arg.p, arg.n);
	q[8 + arg.n] = 0;
	q += 8 + PAD8(arg.n + 1);
	rec->nargs = 1;
	rec->size = (uint32_t)(q - mem);

	struct urt_log_buf out = {0}, tmp = {0};
	urt__log_format_text(&out, &tmp, rec, 42);
	check_line(&out, 0);
	out.len = 0;
	urt__log_format_json(&out, &tmp, rec, 42);
	check_line(&out, 1);
	free(out.p);
	free(tmp.p);
	free(mem);
	return 0;
}
