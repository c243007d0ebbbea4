/* urt I/O: task-level calls, each one io_uring operation.
 *
 * Each call parks only the calling task until the kernel's completion
 * arrives and returns the CQE result: >= 0 on success, -errno on failure
 * (the kernel's errors, e.g. -EBADF, pass straight through). They are
 * blocking calls (see urt_core.h): -EPERM outside a task, -ECANCELED after
 * cancellation, -ETIME after the deadline. A cancelled or timed-out call
 * returns only after the kernel has finished with its buffer; if the
 * operation completed anyway, its real result is returned instead.
 * A NULL buffer with a non-zero length is -EFAULT. */
#ifndef URT_IO_H
#define URT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <linux/stat.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Use the file position (for read/write on streams and files). */
#define URT_POS_CURRENT ((uint64_t)-1)

/* ---- files ------------------------------------------------------------- */
/* read(2)/pread(2): bytes read, 0 at EOF. off = URT_POS_CURRENT for read(2). */
URT_API ssize_t urt_read(int fd, void *buf, size_t len, uint64_t off);
/* write(2)/pwrite(2): bytes written (may be short). */
URT_API ssize_t urt_write(int fd, const void *buf, size_t len, uint64_t off);
/* preadv(2) / pwritev(2). -EINVAL for iovcnt < 0 or > IOV_MAX. */
URT_API ssize_t urt_readv(int fd, const struct iovec *iov, int iovcnt, uint64_t off);
URT_API ssize_t urt_writev(int fd, const struct iovec *iov, int iovcnt, uint64_t off);
/* openat(2): the new fd. */
URT_API int urt_openat(int dirfd, const char *path, int flags, mode_t mode);
/* close(2): 0. */
URT_API int urt_close(int fd);
/* statx(2) into *out: 0. */
URT_API int urt_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out);
/* fsync(2), or fdatasync(2) with datasync != 0: 0. */
URT_API int urt_fsync(int fd, int datasync);
/* fallocate(2): 0. */
URT_API int urt_fallocate(int fd, int mode, uint64_t off, uint64_t len);
/* unlinkat(2) (flags may be AT_REMOVEDIR): 0. */
URT_API int urt_unlinkat(int dirfd, const char *path, int flags);
/* renameat2(2): 0. */
URT_API int urt_renameat(int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath, unsigned flags);
/* mkdirat(2): 0. */
URT_API int urt_mkdirat(int dirfd, const char *path, mode_t mode);

/* ---- sockets ----------------------------------------------------------- */
/* socket(2): the new fd. */
URT_API int urt_socket(int domain, int type, int protocol);
/* bind(2) and listen(2): never block, so plain system calls: 0. */
URT_API int urt_bind(int fd, const struct sockaddr *addr, socklen_t len);
URT_API int urt_listen(int fd, int backlog);
/* accept4(2): the new fd. addr/len may be NULL. */
URT_API int urt_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/* connect(2): 0. */
URT_API int urt_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* recv(2) / send(2): bytes, 0 for recv at EOF. */
URT_API ssize_t urt_recv(int fd, void *buf, size_t len, int flags);
URT_API ssize_t urt_send(int fd, const void *buf, size_t len, int flags);
/* recvmsg(2) / sendmsg(2): bytes. */
URT_API ssize_t urt_recvmsg(int fd, struct msghdr *msg, int flags);
URT_API ssize_t urt_sendmsg(int fd, const struct msghdr *msg, int flags);
/* shutdown(2): 0. */
URT_API int urt_shutdown(int fd, int how);

/* ---- sends that do not wait ---------------------------------------------
 * A sender hands data to one connected stream socket and returns at once,
 * like a write into a kernel socket buffer: the buffer belongs to urt
 * until the kernel has sent all of it (short sends are continued by urt),
 * then its done callback runs (or, for a buffer-ring buffer, the buffer
 * goes back to its ring). A task that answers and then waits for the next
 * request so never waits for its send's completion: the send and the next
 * receive share one tick (urt_send waits for the completion first).
 *
 * Order: sends go out in call order, one io_uring send at a time per
 * sender. Errors are sticky: once a send fails (-EPIPE, -ECONNRESET ...),
 * the rest of the queue is dropped (each done still runs) and every later
 * call on the sender returns that error (a failed call takes nothing: the
 * buffer stays the caller's and done never runs for it). Each buffer is
 * first tried without waiting for socket space, so that try completes
 * within the tick's one io_uring_enter, which then goes on to wait for
 * other work; what did not fit is sent by a send that waits. The flags
 * given at open apply to every send (MSG_NOSIGNAL is advisable;
 * MSG_DONTWAIT is ignored). The socket should be in blocking mode (urt's
 * default): on an O_NONBLOCK socket a full buffer may end in -EAGAIN.
 *
 * done(arg, buf, len) runs exactly once per accepted send, on the loop's
 * thread, from completion processing (not in a task): it must not block
 * and must not use the sender; it may free or reuse buf. Sends without a
 * done callback (and buffer-ring buffers) are the cheapest: their first
 * try's completion wakes nothing, so the io_uring_enter that submits them
 * goes on to wait for other work in the same call. A sender belongs
 * to the loop that opened it; an unfinished send keeps the loop running,
 * and the sender must be closed before the loop ends. */
typedef struct urt_sender urt_sender;
struct urt_bufring;
struct urt_buf;
typedef void (*urt_send_done_fn)(void *arg, const void *buf, size_t len);

/* A sender on socket fd (not taken: close fd yourself after the sender).
 * flags: MSG_* for every send. Returns 0 and *out; -EPERM outside a loop
 * thread; -EINVAL (NULL out, fd < 0); -ENOMEM. */
URT_API int urt_sender_open(urt_sender **out, int fd, int flags);
/* Queue len bytes of buf; done (may be NULL) runs when the kernel is done
 * with buf. len == 0 runs done at once. Usable outside tasks. Returns 0;
 * the sticky error; -EINVAL (NULL sender, another loop's); -EFAULT (NULL
 * buf with len > 0); -ENOMEM (the queue could not grow). */
URT_API int urt_sender_send(urt_sender *s, const void *buf, size_t len, urt_send_done_fn done,
			    void *arg);
/* Queue a received buffer-ring buffer (b->data, b->len <= its size) and
 * give it back to br once sent: the caller must not release it (b is then
 * cleared). Returns as urt_sender_send; -EINVAL also for a b that is not
 * a lent-out buffer of br, or a br of another loop. */
URT_API int urt_sender_send_buf(urt_sender *s, struct urt_bufring *br, struct urt_buf *b);
/* Bytes accepted and not sent yet (>= 0); -EINVAL for NULL. To bound
 * memory when the peer reads slowly, flush when this grows too large. */
URT_API ssize_t urt_sender_pending(const urt_sender *s);
/* Wait until everything queued has been sent. Returns 0; the sticky error;
 * -EINVAL; -EBADF once urt_sender_close has begun (it waits instead);
 * plus blocking-call errors (the sends go on). */
URT_API int urt_sender_flush(urt_sender *s);
/* Send what is queued (waiting like flush), then free the sender. If the
 * wait is cut short (cancel, deadline) or the task is cancelled already,
 * the send in flight is cancelled and the queue dropped (every done still
 * runs) before the sender is freed. Returns 0; the sticky error; the
 * interruption (-ECANCELED, -ETIME); -EINVAL (NULL, another loop's, a
 * close already under way); -EPERM outside a task while sends are
 * unfinished; -EBUSY while another task is in urt_sender_flush on s
 * (nothing freed in either case). */
URT_API int urt_sender_close(urt_sender *s);

/* ---- misc -------------------------------------------------------------- */
/* Wait for poll(2) events on fd: the revents mask (> 0). */
URT_API int urt_poll(int fd, unsigned events);
/* splice(2): bytes moved. off = URT_POS_CURRENT for pipes. */
URT_API ssize_t urt_splice(int fd_in, uint64_t off_in, int fd_out, uint64_t off_out,
			   size_t len, unsigned flags);

/* ---- convenience ------------------------------------------------------- */
/* Write all of buf, looping over short writes (sockets: send). Returns len,
 * or the first error (bytes already written are lost to the caller). */
URT_API ssize_t urt_write_all(int fd, const void *buf, size_t len);
/* A TCP listener on ip (dotted quad; NULL = 127.0.0.1)
 * and port (0 = any; see getsockname). SO_REUSEADDR set, SO_REUSEPORT when
 * reuseport != 0. Returns the fd, or -errno. Usable outside tasks. */
URT_API int urt_tcp_listen(const char *ip, uint16_t port, int backlog, int reuseport);
/* Connect a TCP socket to ip:port. Returns the fd, or -errno. */
URT_API int urt_tcp_connect(const char *ip, uint16_t port);

#ifdef __cplusplus
}
#endif
#endif
