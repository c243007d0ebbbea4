/* urt_strerror and urt_version. */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *urt_strerror(int err)
{
	if (err >= 0)
		return "success";
	switch (-err) {
	case ETIME: return "deadline expired";
	case ECANCELED: return "task cancelled";
	case ESHUTDOWN: return "loop is closing or closed";
	case EDEADLK: return "would deadlock (join self, or every task waits forever)";
	case ENOSYS: return "io_uring is not available in this kernel";
	case EPERM: return "not permitted (called outside a task; or io_uring refused by seccomp or kernel.io_uring_disabled)";
	case ECHILD: return "no such child, or a loop inherited over fork";
	}
	const char *s = strerrordesc_np(-err);
	return s ? s : "unknown error";
}

const char *urt_version(void) { return URT_VERSION_STRING; }

void urt__fatal(const char *what, int err)
{
	fprintf(stderr, "urt: fatal: %s: %s\n", what, urt_strerror(err));
	abort();
}
