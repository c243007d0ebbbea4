/* urt-http's request parser (perf/http_parse.c): complete heads,
 * pipelining, split reads, oversized heads, malformed lines, smuggling
 * guards, versions, and /files/ names with path traversal attempts. */
#include <criterion/criterion.h>
#include <string.h>
#include "../perf/http_parse.c"

TestSuite(http_parse);

static int parse(const char *s, http_req *q) { return http_parse(s, strlen(s), 8192, q); }

Test(http_parse, simple_get)
{
	http_req q;
	const char *s = "GET /index HTTP/1.1\r\nHost: a\r\n\r\n";
	cr_assert_eq(parse(s, &q), (int)strlen(s));
	cr_expect_eq(q.method, HTTP_GET);
	cr_expect_eq(q.target_len, 6);
	cr_expect_eq(memcmp(q.target, "/index", 6), 0);
	cr_expect_eq(q.minor, 1);
	cr_expect_eq(q.keep_alive, 1);
	cr_expect_eq(q.content_length, 0);
}

Test(http_parse, keep_alive_rules)
{
	http_req q;
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &q), 0);
	cr_expect_eq(q.keep_alive, 0);
	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", &q), 0);
	cr_expect_eq(q.keep_alive, 0, "1.0 closes by default");
	cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &q), 0);
	cr_expect_eq(q.keep_alive, 1);
	cr_assert_gt(parse("HEAD / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &q), 0);
	cr_expect_eq(q.method, HTTP_HEAD);
	cr_expect_eq(q.keep_alive, 0);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", &q), 0);
	cr_expect_eq(q.method, HTTP_OTHER);
	cr_expect_eq(q.content_length, 12);
}

Test(http_parse, pipelined_requests_parse_one_at_a_time)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTT";
	http_req q;
	size_t off = 0, len = strlen(s);
	const char want[] = {'a', 'b'};
	for (int i = 0; i < 2; i++) {
		int r = http_parse(s + off, len - off, 8192, &q);
		cr_assert_gt(r, 0);
		cr_expect_eq(q.target[1], want[i]);
		off += (size_t)r;
	}
	cr_expect_eq(http_parse(s + off, len - off, 8192, &q), 0, "third is incomplete");
}

Test(http_parse, split_reads_at_every_byte)
{
	const char *s = "GET /split HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n";
	size_t len = strlen(s);
	http_req q;
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(http_parse(s, i, 8192, &q), 0, "prefix of %zu bytes", i);
	cr_assert_eq(http_parse(s, len, 8192, &q), (int)len);
}

Test(http_parse, oversized_head)
{
	char big[10000];
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'x', sizeof big - n - 1);
	big[sizeof big - 1] = 0;
	http_req q;
	cr_expect_eq(http_parse(big, 100, 8192, &q), 0, "short prefix: need more");
	cr_expect_eq(http_parse(big, strlen(big), 8192, &q), HTTP_ERR_TOO_LARGE);
	/* a complete head that ends past the limit is also too large */
	memcpy(big + 8500, "\r\n\r\n", 4);
	cr_expect_eq(http_parse(big, 8504, 8192, &q), HTTP_ERR_TOO_LARGE);
	cr_expect_eq(http_parse(big, 8504, 9000, &q), 8504);
}

Test(http_parse, malformed)
{
	static const char *bad[] = {
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET index HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTX/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",                                /* no Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",                     /* space before colon */
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",           /* obs-fold */
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",                /* bare LF */
		"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",                /* bare CR */
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",         /* control char */
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		http_req q;
		cr_expect_eq(parse(bad[i], &q), HTTP_ERR_BAD, "case %zu: %s", i, bad[i]);
	}
}

Test(http_parse, unsupported)
{
	http_req q;
	cr_expect_eq(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &q), HTTP_ERR_VERSION);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &q),
		     HTTP_ERR_NOT_IMPL);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
			   &q), 0, "repeated equal lengths are fine");
	cr_assert_gt(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &q), 0);
	cr_expect_eq(q.minor, 1);
}

static int name_of(const char *t, char *out)
{
	return http_file_name(t, strlen(t), out, 64);
}

Test(http_parse, file_names)
{
	char out[64];
	cr_expect_eq(name_of("/", out), 0);
	cr_expect_eq(name_of("/other", out), 0);
	cr_expect_eq(name_of("/files", out), 0);
	cr_assert_eq(name_of("/files/a.txt", out), 1);
	cr_expect_str_eq(out, "a.txt");
	cr_assert_eq(name_of("/files/dir/b%20c", out), 1);
	cr_expect_str_eq(out, "dir/b c");
	cr_assert_eq(name_of("/files/..a", out), 1, "a name starting with dots is a name");
}

Test(http_parse, path_traversal_attempts)
{
	static const char *bad[] = {
		"/files/", "/files/..", "/files/../etc/passwd", "/files/a/../../b", "/files/%2e%2e/x",
		"/files/%2E%2E%2Fetc", "/files//etc/passwd", "/files/%2fetc/passwd", "/files/a//b",
		"/files/./a", "/files/a/.", "/files/a%00b", "/files/a%zz", "/files/a%2", "/files/a?x=1",
		"/files/..\\x", "/files/a\\..\\..\\b",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char out[64];
		cr_expect_eq(name_of(bad[i], out), HTTP_ERR_BAD, "%s", bad[i]);
	}
	char small[4];
	cr_expect_eq(http_file_name("/files/abcdef", 13, small, sizeof small), HTTP_ERR_BAD, "too long");
}
