/* Sinks: stderr, an inherited descriptor, or a file opened O_APPEND with
 * mode 0640 and rotated by size (path -> path.1 -> ... -> path.N). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log_internal.h"

static int open_file(struct urt_logger *lg)
{
	int fd = open(lg->cfg.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	struct stat st;
	lg->file_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	lg->fd = fd;
	return 0;
}

int urt__log_sink_open(struct urt_logger *lg)
{
	switch (lg->cfg.sink) {
	case URT_LOG_SINK_STDERR:
		lg->fd = STDERR_FILENO;
		lg->own_fd = false;
		return 0;
	case URT_LOG_SINK_FD: {
		int fd = fcntl(lg->cfg.fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		lg->fd = fd;
		lg->own_fd = true;
		return 0;
	}
	case URT_LOG_SINK_FILE:
		lg->own_fd = true;
		return open_file(lg);
	}
	return -EINVAL;
}

void urt__log_sink_close(struct urt_logger *lg)
{
	if (lg->own_fd && lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
}

int urt__log_sink_rotate(struct urt_logger *lg)
{
	size_t n = strlen(lg->cfg.path) + 16;
	char *from = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(n);
	char *to = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(n);
	if (!from || !to) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	for (unsigned i = lg->cfg.rotate_count; i > 1; i--) {
		snprintf(from, n, "%s.%u", lg->cfg.path, i - 1);
		snprintf(to, n, "%s.%u", lg->cfg.path, i);
		rename(from, to); /* missing older files are fine */
	}
	snprintf(to, n, "%s.1", lg->cfg.path);
	int r = rename(lg->cfg.path, to) < 0 ? -errno : 0;
	free(from);
	free(to);
	if (r < 0 && r != -ENOENT)
		return r;
	int old = lg->fd;
	r = open_file(lg);
	if (r < 0) { /* keep writing to the renamed file */
		lg->fd = old;
		return r;
	}
	close(old);
	atomic_fetch_add(&lg->rotations, 1);
	return 0;
}
