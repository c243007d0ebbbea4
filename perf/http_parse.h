/* A strict, allocation-free HTTP/1.x request-head parser for urt-http,
 * kept apart so that it can be unit-tested (tests/test_http_parse.c) and
 * fuzzed. It parses a whole head at once from a buffer that grows as
 * bytes arrive; it never reads past len and keeps no state between calls. */
#ifndef PERF_HTTP_PARSE_H
#define PERF_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum http_method { HTTP_GET = 1, HTTP_HEAD = 2, HTTP_OTHER = 3 };

/* Outcomes besides a complete head (> 0) and "need more" (0): the HTTP
 * status to answer with, negated. */
enum {
	HTTP_ERR_BAD = -400,       /* malformed request line or header */
	HTTP_ERR_TOO_LARGE = -431, /* no end of head within max_head bytes */
	HTTP_ERR_NOT_IMPL = -501,  /* Transfer-Encoding (chunked bodies) */
	HTTP_ERR_VERSION = -505,   /* HTTP/2.0 and other majors */
};

typedef struct http_req {
	enum http_method method;
	const char *target;     /* request target (origin form, starts with '/'); points into buf */
	size_t target_len;
	int minor;              /* HTTP/1.minor: 0 or 1 */
	int keep_alive;         /* 1: the connection stays open after the response */
	uint64_t content_length; /* body bytes following the head (0 if none) */
	size_t head_len;        /* bytes of request line + headers + the blank line */
} http_req;

/* Parse one request head at buf[0..len). Returns head_len (> 0) and fills
 * *req; 0 when the head is incomplete and len < max_head; or an HTTP_ERR_*
 * value (answer with that status and close). */
int http_parse(const char *buf, size_t len, size_t max_head, http_req *req);

/* For a target "/files/<name>": decode %XX escapes of name into
 * out[0..cap) (NUL-terminated) and return 1; return 0 if the target is not
 * under /files/; HTTP_ERR_BAD for a name that is empty, too long, has a NUL,
 * a bad escape, a query string, or could leave the directory ("..", an
 * absolute path, an empty or "." segment, a backslash). */
int http_file_name(const char *target, size_t len, char *out, size_t cap);

#endif
