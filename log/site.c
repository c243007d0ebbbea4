/* Parse a printf format into the kinds of arguments it consumes, so the
 * call site can copy them out of its va_list by value. The same walk on the
 * writer side (format_msg.c) expands them again. */
#include "log_internal.h"

/* A width or precision: '*' takes an int argument, else digits. */
static const char *num_skip(const char *p, unsigned char *types, unsigned *n,
			    unsigned max, bool *over)
{
	if (*p == '*') {
		if (*n < max) types[(*n)++] = URT_LOG_A_INT; else *over = true;
		return p + 1;
	}
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

/* Skip flags, width, precision and length of the spec after '%'; returns a
 * pointer to the conversion char. Star widths/precisions are counted as int
 * arguments into types. lenmod: 0 none, 'H' hh, 'h', 'l', 'L' (ll/q/L), 'j',
 * 'z', 't'. */
static const char *spec_skip(const char *p, unsigned char *types, unsigned *n,
			     unsigned max, int *lenmod, bool *over)
{
	while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '0' || *p == '\'' || *p == 'I')
		p++;
	p = num_skip(p, types, n, max, over);
	if (*p == '.')
		p = num_skip(p + 1, types, n, max, over);
	*lenmod = 0;
	if (p[0] == 'h' && p[1] == 'h') { *lenmod = 'H'; p += 2; }
	else if (p[0] == 'l' && p[1] == 'l') { *lenmod = 'L'; p += 2; }
	else if (*p == 'h' || *p == 'l' || *p == 'j' || *p == 'z' || *p == 'Z' || *p == 't') { *lenmod = *p == 'Z' ? 'z' : *p; p++; }
	else if (*p == 'L' || *p == 'q') { *lenmod = 'L'; p++; }
	return p;
}

static int int_kind(int lenmod)
{
	switch (lenmod) {
	case 'l': case 'z': case 't': return URT_LOG_A_LONG;
	case 'L': case 'j': return URT_LOG_A_LLONG;
	default: return URT_LOG_A_INT;
	}
}

int urt__log_parse_fmt(const char *fmt, unsigned char *types, unsigned max)
{
	unsigned n = 0;
	bool over = false;
	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') { p++; continue; }
		int lenmod;
		p = spec_skip(p + 1, types, &n, max, &lenmod, &over);
		int k;
		switch (*p) {
		case 'd': case 'i': case 'o': case 'u': case 'x': case 'X': k = int_kind(lenmod); break;
		case 'c': k = URT_LOG_A_INT; break;
		case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
			k = lenmod == 'L' ? URT_LOG_A_LDOUBLE : URT_LOG_A_DOUBLE; break;
		case 's': k = lenmod == 'l' ? URT_LOG_A_PTR : URT_LOG_A_STR; break;
		case 'p': case 'n': k = URT_LOG_A_PTR; break;
		case 'm': k = URT_LOG_A_ERRNO; break;
		case '\0': (void)over; return (int)n; /* dangling '%' */
		default: continue;                     /* unknown: printed as is */
		}
		if (n < max) types[n++] = (unsigned char)k; else over = true;
	}
	(void)over; return (int)n;
}
