/* HTTP/1.x request-head parser: see http_parse.h. Strict where leniency
 * has led to request smuggling (bare LF, obs-fold, whitespace before the
 * colon, conflicting Content-Length, Content-Length with Transfer-Encoding). */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar, as a table: header names are scanned a byte at a time. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int is_tchar(unsigned char c)
{
	return tchar[c];
}

/* The end of the head ("\r\n\r\n"), or NULL. */
static const char *head_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	while (end - p >= 4) {
		const char *cr = memchr(p, '\r', (size_t)(end - p - 3));
		if (!cr)
			return NULL;
		if (cr[1] == '\n' && cr[2] == '\r' && cr[3] == '\n')
			return cr + 4;
		p = cr + 1;
	}
	return NULL;
}

static int parse_request_line(const char *p, const char *eol, http_req *req)
{
	const char *m = p;
	while (p < eol && is_tchar((unsigned char)*p))
		p++;
	size_t mlen = (size_t)(p - m);
	if (!mlen || p == eol || *p != ' ')
		return HTTP_ERR_BAD;
	req->method = mlen == 3 && !memcmp(m, "GET", 3) ? HTTP_GET
		      : mlen == 4 && !memcmp(m, "HEAD", 4) ? HTTP_HEAD : HTTP_OTHER;
	const char *t = ++p;
	while (p < eol && *p != ' ') {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f)
			return HTTP_ERR_BAD;
		p++;
	}
	if (p == t || *t != '/' || p == eol)
		return HTTP_ERR_BAD;
	req->target = t;
	req->target_len = (size_t)(p - t);
	p++;
	if (eol - p != 8 || memcmp(p, "HTTP/", 5) || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return HTTP_ERR_BAD;
	if (p[5] != '1')
		return HTTP_ERR_VERSION;
	req->minor = p[7] - '0';
	if (req->minor > 1)
		req->minor = 1; /* HTTP/1.2+: answer as 1.1 */
	return 0;
}

static int has_token(const char *v, size_t len, const char *tok)
{
	size_t tl = strlen(tok);
	const char *end = v + len;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *s = v;
		while (v < end && *v != ',')
			v++;
		const char *e = v;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && !strncasecmp(s, tok, tl))
			return 1;
	}
	return 0;
}

static int parse_length(const char *v, size_t len, uint64_t *out)
{
	if (!len || len > 18)
		return HTTP_ERR_BAD;
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return HTTP_ERR_BAD;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

struct head_state { int have_cl, have_te, have_host, conn_close, conn_keep; };

static int parse_header(const char *p, const char *eol, http_req *req, struct head_state *st)
{
	const char *n = p;
	while (p < eol && is_tchar((unsigned char)*p))
		p++;
	size_t nlen = (size_t)(p - n);
	if (!nlen || p == eol || *p != ':')
		return HTTP_ERR_BAD; /* also obs-fold and "Name :" */
	p++;
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	const char *v = p, *ve = eol;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	for (const char *q = v; q < ve; q++) {
		unsigned char c = (unsigned char)*q;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return HTTP_ERR_BAD;
	}
	size_t vlen = (size_t)(ve - v);
	if (nlen == 14 && !strncasecmp(n, "content-length", 14)) {
		uint64_t cl;
		if (parse_length(v, vlen, &cl) < 0 || (st->have_cl && cl != req->content_length))
			return HTTP_ERR_BAD;
		st->have_cl = 1;
		req->content_length = cl;
	} else if (nlen == 17 && !strncasecmp(n, "transfer-encoding", 17)) {
		st->have_te = 1;
	} else if (nlen == 4 && !strncasecmp(n, "host", 4)) {
		if (st->have_host)
			return HTTP_ERR_BAD;
		st->have_host = 1;
	} else if (nlen == 10 && !strncasecmp(n, "connection", 10)) {
		st->conn_close |= has_token(v, vlen, "close");
		st->conn_keep |= has_token(v, vlen, "keep-alive");
	}
	return 0;
}

int http_parse(const char *buf, size_t len, size_t max_head, http_req *req)
{
	const char *end = head_end(buf, len < max_head ? len : max_head);
	if (!end) {
		/* a bare LF ends nothing here: the client gets 431 or a timeout */
		return len >= max_head ? HTTP_ERR_TOO_LARGE : 0;
	}
	memset(req, 0, sizeof *req);
	struct head_state st = {0};
	const char *p = buf, *eol = memchr(p, '\r', (size_t)(end - p));
	if (eol[1] != '\n' || memchr(p, '\n', (size_t)(eol - p)))
		return HTTP_ERR_BAD;
	int r = parse_request_line(p, eol, req);
	if (r < 0)
		return r;
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (eol[1] != '\n')
			return HTTP_ERR_BAD; /* a CR inside a line */
		if (memchr(p, '\n', (size_t)(eol - p)))
			return HTTP_ERR_BAD; /* a bare LF inside a line */
		r = parse_header(p, eol, req, &st);
		if (r < 0)
			return r;
	}
	if (st.have_te)
		return st.have_cl ? HTTP_ERR_BAD : HTTP_ERR_NOT_IMPL;
	if (req->minor == 1 && !st.have_host)
		return HTTP_ERR_BAD;
	req->keep_alive = req->minor == 1 ? !st.conn_close : (st.conn_keep && !st.conn_close);
	req->head_len = (size_t)(end - buf);
	return (int)req->head_len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_file_name(const char *target, size_t len, char *out, size_t cap)
{
	static const char prefix[] = "/files/";
	if (len < sizeof prefix - 1 || memcmp(target, prefix, sizeof prefix - 1))
		return 0;
	size_t o = 0;
	for (size_t i = sizeof prefix - 1; i < len; i++) {
		char c = target[i];
		if (c == '?' || c == '#')
			return HTTP_ERR_BAD;
		if (c == '%') {
			int hi = i + 2 < len ? hexval(target[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(target[i + 2]) : -1;
			if (lo < 0)
				return HTTP_ERR_BAD;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || c == '\\' || o + 1 >= cap)
			return HTTP_ERR_BAD;
		out[o++] = c;
	}
	out[o] = 0;
	if (!o || out[0] == '/')
		return HTTP_ERR_BAD;
	/* every segment: not empty, not "." or ".." */
	for (const char *s = out; ; ) {
		const char *e = strchr(s, '/');
		size_t sl = e ? (size_t)(e - s) : strlen(s);
		if (!sl || (sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
			return HTTP_ERR_BAD;
		if (!e)
			break;
		s = e + 1;
	}
	return 1;
}
