/* urt net: io_uring's networking features as task-level calls.
 *
 *   buffer rings   provided buffers the kernel picks from when data arrives
 *   multishot      one accept / one recv request that keeps producing
 *   zero-copy send send without copying, waiting for the kernel's release
 *   fixed files    a per-loop table of registered (direct) descriptors
 *   fixed buffers  registered memory for file reads and writes
 *   openat2        open beneath a directory (RESOLVE_BENEATH ...)
 *
 * Objects here belong to the loop (thread) that created them: use them
 * from that loop's tasks only, and close them before the loop ends. Every
 * call that waits is a blocking call (see urt_core.h: -EPERM outside a
 * task, -ECANCELED, -ETIME). Closing a multishot object cancels it and
 * waits for the kernel's final completion, even in a cancelled task, so
 * its memory is never released while the kernel may still use it.
 */
#ifndef URT_NET_H
#define URT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- provided buffer rings --------------------------------------------- */

typedef struct urt_bufring urt_bufring;

/* One received buffer, lent to the task until urt_bufring_release. */
typedef struct urt_buf {
	char *data;   /* the received bytes */
	size_t len;   /* how many */
	unsigned id;  /* buffer id (private to the ring) */
} urt_buf;

/* Register a ring of nbufs (a power of two, 1..32768) buffers of bufsize
 * bytes (1..1 MiB) with the current loop's io_uring. Returns 0 and *out;
 * -EPERM outside a loop thread; -EINVAL for bad sizes or NULL out;
 * -ENOMEM; -EOPNOTSUPP if the kernel has no buffer rings. */
URT_API int urt_bufring_create(urt_bufring **out, unsigned nbufs, size_t bufsize);

/* Give a received buffer back to the kernel (b is then invalid).
 * Returns 0; -EINVAL (NULL, or not a buffer of br that is lent out). */
URT_API int urt_bufring_release(urt_bufring *br, urt_buf *b);

/* Buffers the kernel can fill right now (0..nbufs); -EINVAL for NULL. */
URT_API int urt_bufring_available(const urt_bufring *br);

/* Unregister and free. Returns 0; -EINVAL (NULL, another loop's ring);
 * -EBUSY while a receive uses it or a buffer is still lent out. */
URT_API int urt_bufring_destroy(urt_bufring *br);

/* ---- multishot receive -------------------------------------------------- */

typedef struct urt_msrecv urt_msrecv;

/* Flags for urt_msrecv_open and urt_acceptor_open. */
enum {
	URT_NET_FIXED = 1u << 0, /* fd is an index into the loop's fixed-file table */
};

/* Start receiving from socket fd into buffers of br (the request is armed
 * on the first urt_msrecv_next). flags: URT_NET_FIXED or 0. Returns 0;
 * -EPERM outside a loop thread; -EINVAL (NULL, bad flags, another loop's
 * ring); -ENOMEM. */
URT_API int urt_msrecv_open(urt_msrecv **out, int fd, urt_bufring *br, unsigned flags);

/* The next received buffer, in arrival order: returns its length (> 0)
 * and fills *b (give it back with urt_bufring_release); 0 at end of
 * stream; -errno from the kernel (-ECONNRESET ...), sticky like the end.
 * When the kernel ends the multishot (it ran out of buffers: -ENOBUFS,
 * counted in urt_loop_stats.enobufs) it is re-armed here, after waiting
 * for a buffer to come back if none is free. -EBUSY while another task
 * is in urt_msrecv_next on r (one reader at a time); plus blocking-call
 * errors. */
URT_API ssize_t urt_msrecv_next(urt_msrecv *r, urt_buf *b);

/* Cancel, wait for the final completion, give queued buffers back, free.
 * Works in a cancelled task. Returns 0; -EINVAL (NULL, another loop's);
 * -EPERM outside a task while the request is still armed; -EBUSY while
 * another task is in urt_msrecv_next on r (cancel and join it first):
 * nothing is freed then. */
URT_API int urt_msrecv_close(urt_msrecv *r);

/* ---- multishot accept --------------------------------------------------- */

typedef struct urt_acceptor urt_acceptor;

/* Accept on listening socket lfd with one multishot request; sock_flags
 * (SOCK_CLOEXEC, SOCK_NONBLOCK) apply to the new sockets; flags:
 * URT_NET_FIXED: new connections become fixed files (the loop's table,
 * see urt_files_register) and urt_acceptor_next returns their index.
 * Returns 0; -EPERM outside a loop thread; -EINVAL; -ENOMEM. */
URT_API int urt_acceptor_open(urt_acceptor **out, int lfd, int sock_flags, unsigned flags);

/* The next accepted connection: its fd (or fixed index); -errno for an
 * accept the kernel failed (-EMFILE ...; the next call re-arms); -EBUSY
 * while another task is in urt_acceptor_next on a; plus blocking-call
 * errors. */
URT_API int urt_acceptor_next(urt_acceptor *a);

/* Cancel, wait for the final completion, close connections accepted but
 * not taken, free. Works in a cancelled task. Returns 0; -EINVAL;
 * -EPERM outside a task while still armed; -EBUSY while another task is
 * in urt_acceptor_next on a (nothing freed). */
URT_API int urt_acceptor_close(urt_acceptor *a);

/* ---- zero-copy send ------------------------------------------------------ */

/* send(2) without copying buf (IORING_OP_SEND_ZC): returns the bytes sent
 * (may be short) once the kernel has also released buf (its notification
 * arrived), so the caller may reuse buf at once. Worth it for large
 * payloads (tens of KiB and more). flags: MSG_*. -EOPNOTSUPP / -EINVAL
 * without kernel support. */
URT_API ssize_t urt_send_zc(int fd, const void *buf, size_t len, int flags);

/* ---- fixed (direct) files ----------------------------------------------- */

/* Give the current loop a table of n fixed-file slots (sparse), used by
 * URT_NET_FIXED accepts and the *_fixed calls. Returns 0; -EPERM outside a
 * loop thread; -EINVAL (n == 0); -EBUSY if a table exists; kernel errors. */
URT_API int urt_files_register(unsigned n);
/* Put fd into slot idx (the table keeps its own reference; close fd if
 * it is no longer needed). Returns 0; -EPERM; -ENXIO without a table;
 * kernel errors (-EINVAL for a bad idx). */
URT_API int urt_files_set(unsigned idx, int fd);
/* Drop the current loop's table. Returns 0; -EPERM; -ENXIO without one;
 * the kernel's error (the table is still registered and usable). */
URT_API int urt_files_unregister(void);
/* recv(2) / send(2) on fixed file idx: bytes, 0 at EOF for recv. */
URT_API ssize_t urt_recv_fixed(unsigned idx, void *buf, size_t len, int flags);
URT_API ssize_t urt_send_fixed(unsigned idx, const void *buf, size_t len, int flags);
/* Close fixed file idx (frees the slot): 0. */
URT_API int urt_close_fixed(unsigned idx);

/* ---- registered buffers for file I/O ------------------------------------- */

/* Register n buffers (iov) with the current loop's ring (pinned: counts
 * against RLIMIT_MEMLOCK). Returns 0; -EPERM; -EINVAL; -EBUSY if buffers
 * are registered already; kernel errors (-ENOMEM, -EFAULT). */
URT_API int urt_buffers_register(const struct iovec *iov, unsigned n);
/* Unregister them. Returns 0; -EPERM; -ENXIO if none are registered; the
 * kernel's error (they are still registered and usable). */
URT_API int urt_buffers_unregister(void);
/* pread/pwrite into/from registered buffer buf_index; [buf, buf+len) must
 * lie within it. Bytes transferred; -EFAULT outside the buffer. */
URT_API ssize_t urt_read_fixed(int fd, void *buf, size_t len, uint64_t off, unsigned buf_index);
URT_API ssize_t urt_write_fixed(int fd, const void *buf, size_t len, uint64_t off,
				unsigned buf_index);

/* ---- opening beneath a directory ----------------------------------------- */

/* openat2(2) through IORING_OP_OPENAT2: flags/mode as openat, resolve as
 * struct open_how's RESOLVE_* (e.g. RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
 * refuses "..", absolute paths and symlinks leading out of dirfd with
 * -EXDEV). Returns the fd. */
URT_API int urt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
			uint64_t resolve);

#ifdef __cplusplus
}
#endif
#endif
