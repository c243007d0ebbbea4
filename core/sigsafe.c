/* Async-signal-safe text building for reports written from signal
 * handlers (stack overflow, stall): no stdio, no allocation. */
#include "core_internal.h"

char *urt__put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

char *urt__put_u64(char *p, char *end, uint64_t v)
{
	char tmp[20];
	unsigned n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n && p < end)
		*p++ = tmp[--n];
	return p;
}

sigset_t urt__block_async_signals(void)
{
	static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
	sigset_t set, old;
	sigfillset(&set);
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
		sigdelset(&set, faults[i]);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	return old;
}
