/* libFuzzer: urt-http's request-head parser (perf/http_parse.c) and its
 * /files/ name decoder. Invariants: never reads past len (ASan); a
 * complete head has 0 < head_len <= len, a target inside it that starts
 * with '/', minor 0 or 1; every shorter prefix of a complete head is
 * "need more" (0), never an error or a different head; the result does
 * not depend on bytes after the head; a decoded file name is
 * NUL-terminated, fits, and cannot leave the directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../perf/http_parse.h"

static void fail(const char *why)
{
	fprintf(stderr, "http_parse: %s\n", why);
	abort();
}

static void check_name(const http_req *rq)
{
	char out[64];
	int r = http_file_name(rq->target, rq->target_len, out, sizeof out);
	if (r != 1)
		return;
	size_t n = strnlen(out, sizeof out);
	if (n == sizeof out || n == 0)
		fail("file name not terminated or empty");
	if (strchr(out, '\\'))
		fail("backslash in a file name");
	/* no segment may be empty (absolute path, "//"), "." or ".." */
	for (const char *seg = out;;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && !memcmp(seg, "..", 2)))
			fail("file name leaves the directory");
		if (!end)
			break;
		seg = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	/* an exact-size heap copy, so ASan sees any read past len */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	size_t max_head = 8192;
	http_req rq;
	memset(&rq, 0xa5, sizeof rq);
	int r = http_parse(buf, size, max_head, &rq);
	if (r > 0) {
		if ((size_t)r > size || (size_t)r != rq.head_len)
			fail("head_len out of range");
		if (!rq.target || rq.target < buf || rq.target + rq.target_len > buf + r ||
		    rq.target_len == 0 || rq.target[0] != '/')
			fail("target outside the head");
		if (rq.minor != 0 && rq.minor != 1)
			fail("minor version");
		if (rq.method < HTTP_GET || rq.method > HTTP_OTHER)
			fail("method");
		check_name(&rq);
		/* prefixes of a complete head are incomplete */
		size_t cuts[2] = {(size_t)r - 1, (size_t)r / 2};
		for (int i = 0; i < 2; i++) {
			http_req p;
			int q = http_parse(buf, cuts[i], max_head, &p);
			if (q != 0)
				fail("a prefix of a valid head is not 'need more'");
		}
		/* bytes after the head do not change it */
		http_req again;
		if (http_parse(buf, (size_t)r, max_head, &again) != r ||
		    again.target_len != rq.target_len || again.content_length != rq.content_length ||
		    again.keep_alive != rq.keep_alive)
			fail("the head alone parses differently");
	} else if (r == 0) {
		if (size >= max_head)
			fail("need more past max_head");
	} else if (r != HTTP_ERR_BAD && r != HTTP_ERR_TOO_LARGE && r != HTTP_ERR_NOT_IMPL &&
		   r != HTTP_ERR_VERSION) {
		fail("unknown result");
	}
	free(buf);
	return 0;
}
