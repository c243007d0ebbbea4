/* Readiness: wait until a TCP port accepts connections. */
#include "harness_internal.h"
#include "urt_io.h"

#include <errno.h>
#include <unistd.h>

#define BACKOFF_FIRST (1 * URT_NS_PER_MS)
#define BACKOFF_MAX (50 * URT_NS_PER_MS)

/* Refused or reset: nobody listens yet (or the backlog overflowed). */
static int retryable(int err)
{
	return err == -ECONNREFUSED || err == -ECONNRESET || err == -EAGAIN || err == -ECONNABORTED;
}

int urt_wait_port(const char *ip, uint16_t port, uint64_t timeout_ns)
{
	if (!ip)
		return -EINVAL;
	urt_deadline d;
	int r = urt_deadline_enter(&d, timeout_ns);
	if (r < 0)
		return r;
	uint64_t backoff = BACKOFF_FIRST;
	for (;;) {
		int fd = urt_tcp_connect(ip, port);
		if (fd >= 0) {
			close(fd); /* plain close: works even when cancelled */
			r = 0;
			break;
		}
		if (!retryable(fd)) {
			r = fd;
			break;
		}
		r = urt_sleep(backoff);
		if (r < 0)
			break;
		backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
	}
	urt_deadline_exit(&d);
	return r;
}
