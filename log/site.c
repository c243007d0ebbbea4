/* Parse a printf format into the kinds of arguments it consumes, so the
 * call site can copy them out of its va_list by value. The writer
 * (format_msg.c) expands them again with the same spec parser
 * (urt__log_spec_parse in log_internal.h), so both agree on what each
 * conversion consumes. */
#include "log_internal.h"

int urt__log_parse_fmt(const char *fmt, unsigned char *types, unsigned max)
{
	unsigned n = 0;
	for (const char *p = fmt; *p;) {
		if (*p != '%') {
			p++;
			continue;
		}
		struct urt_log_spec sp;
		urt__log_spec_parse(p, &sp);
		if (!sp.conv) /* dangling '%' */
			break;
		if (sp.star_w && n < max)
			types[n++] = URT_LOG_A_INT;
		if (sp.star_p && n < max)
			types[n++] = URT_LOG_A_INT;
		if (sp.kind >= 0 && n < max)
			types[n++] = (unsigned char)sp.kind;
		p = sp.end;
	}
	return (int)n;
}
