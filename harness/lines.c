/* A buffered line reader over a fd, and waiting for a line that contains
 * a string. Reads go through urt_read, so they park only the task. */
#include "harness_internal.h"
#include "urt_io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct urt_line_reader {
	int fd;         /* not owned */
	size_t max;     /* longest line kept whole */
	size_t start;   /* first unread byte in buf */
	size_t end;     /* one past the last byte read */
	int eof;        /* the fd reported end of input */
	char *line;     /* scratch line for urt_wait_line (max + 1 bytes) */
	char buf[];     /* max + 2 bytes: a whole line plus its "\r\n" */
};

int urt_line_reader_new(urt_line_reader **out, int fd, size_t max_line)
{
	if (!out || fd < 0)
		return -EINVAL;
	if (!max_line)
		max_line = 4096;
	if (max_line > (1u << 30))
		return -EINVAL;
	urt_line_reader *r = malloc(sizeof *r + max_line + 2);
	if (!r)
		return -ENOMEM;
	r->line = malloc(max_line + 1);
	if (!r->line) {
		free(r);
		return -ENOMEM;
	}
	r->fd = fd;
	r->max = max_line;
	r->start = r->end = 0;
	r->eof = 0;
	*out = r;
	return 0;
}

void urt_line_reader_free(urt_line_reader *r)
{
	if (!r)
		return;
	free(r->line);
	free(r);
}

/* Hand n buffered bytes out and consume skip bytes. A line's trailing '\r'
 * is dropped; a piece of a long line (eol false) keeps it: it is data. */
static ssize_t emit(urt_line_reader *r, size_t n, size_t skip, bool eol, char *out,
		    size_t outlen)
{
	const char *p = r->buf + r->start;
	if (eol && n && p[n - 1] == '\r')
		n--;
	size_t c = n < outlen - 1 ? n : outlen - 1;
	memcpy(out, p, c);
	out[c] = '\0';
	r->start += skip;
	return (ssize_t)n;
}

ssize_t urt_read_line(urt_line_reader *r, char *out, size_t outlen)
{
	if (!r || !out || !outlen)
		return -EINVAL;
	for (;;) {
		size_t have = r->end - r->start;
		const char *p = r->buf + r->start;
		char *nl = memchr(p, '\n', have);
		size_t len = nl ? (size_t)(nl - p) : have; /* the line so far */
		/* longer than max (a '\r' right after max bytes may be the
		 * line's end): a piece. With max bytes, or max and a '\r', and
		 * no '\n' yet, the '\n' may still come in the next read. */
		if (len > r->max + 1 || (len == r->max + 1 && p[r->max] != '\r'))
			return emit(r, r->max, r->max, false, out, outlen);
		if (nl)
			return emit(r, len, len + 1, true, out, outlen);
		if (r->eof)
			return have ? emit(r, have, have, true, out, outlen) : -ENODATA;
		if (r->start) { /* make room at the end */
			memmove(r->buf, r->buf + r->start, have);
			r->start = 0;
			r->end = have;
		}
		ssize_t n = urt_read(r->fd, r->buf + r->end, r->max + 2 - r->end, URT_POS_CURRENT);
		if (n < 0)
			return n;
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
	}
}

ssize_t urt_wait_line(urt_line_reader *r, const char *needle, uint64_t timeout_ns,
		      char *out, size_t outlen)
{
	if (!r || !needle)
		return -EINVAL;
	urt_deadline d;
	bool scoped = timeout_ns != UINT64_MAX;
	ssize_t n = scoped ? urt_deadline_enter(&d, timeout_ns) : 0;
	if (n < 0)
		return n;
	for (;;) {
		n = urt_read_line(r, r->line, r->max + 1);
		if (n < 0)
			break;
		if (strstr(r->line, needle)) {
			if (out && outlen) {
				size_t c = strlen(r->line);
				c = c < outlen - 1 ? c : outlen - 1;
				memcpy(out, r->line, c);
				out[c] = '\0';
			}
			break;
		}
	}
	if (scoped)
		urt_deadline_exit(&d);
	return n;
}
