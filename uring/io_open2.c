/* openat2(2) through IORING_OP_OPENAT2: the RESOLVE_* flags let a server
 * open paths strictly beneath a directory. */
#include "net_internal.h"

#include <errno.h>
#include <linux/openat2.h>

int urt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
	if (!path)
		return -EFAULT;
	struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
	/* how stays on this frame until the CQE: the task is parked here */
	URT_IO_CALL("openat2", io_uring_prep_openat2(sqe, dirfd, path, &how));
}
