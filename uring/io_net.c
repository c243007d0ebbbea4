/* Socket calls. bind and listen never block: plain system calls. */
#include "uring_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

int urt_socket(int domain, int type, int protocol)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t); /* the fallback too: cancelled, past the deadline, forked */
	if (r < 0)
		return r;
	if (!l->backend->op_socket) {
		int fd = socket(domain, type, protocol);
		return fd < 0 ? -errno : fd;
	}
	URT_IO_CALL("socket", io_uring_prep_socket(sqe, domain, type, protocol, 0));
}

int urt_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return bind(fd, addr, len) < 0 ? -errno : 0;
}

int urt_listen(int fd, int backlog)
{
	return listen(fd, backlog) < 0 ? -errno : 0;
}

int urt_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (addr && !len)
		return -EFAULT;
	URT_IO_CALL("accept", io_uring_prep_accept(sqe, fd, addr, len, flags));
}

int urt_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!addr)
		return -EFAULT;
	URT_IO_CALL("connect", io_uring_prep_connect(sqe, fd, addr, len));
}

ssize_t urt_recv(int fd, void *buf, size_t len, int flags)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("recv", io_uring_prep_recv(sqe, fd, buf, urt__len32(len), flags));
}

ssize_t urt_send(int fd, const void *buf, size_t len, int flags)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("send", io_uring_prep_send(sqe, fd, buf, urt__len32(len), flags));
}

ssize_t urt_recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!msg)
		return -EFAULT;
	URT_IO_CALL("recvmsg", io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags));
}

ssize_t urt_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!msg)
		return -EFAULT;
	URT_IO_CALL("sendmsg", io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags));
}

int urt_shutdown(int fd, int how)
{
	URT_IO_CALL("shutdown", io_uring_prep_shutdown(sqe, fd, how));
}

static int ipv4(const char *ip, uint16_t port, struct sockaddr_in *sa)
{
	*sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
	return inet_pton(AF_INET, ip ? ip : "127.0.0.1", &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

int urt_tcp_listen(const char *ip, uint16_t port, int backlog, int reuseport)
{
	struct sockaddr_in sa;
	if (ipv4(ip, port, &sa) < 0)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int urt_tcp_connect(const char *ip, uint16_t port)
{
	struct sockaddr_in sa;
	if (ipv4(ip, port, &sa) < 0)
		return -EINVAL;
	int fd = urt_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	int r = urt_connect(fd, (struct sockaddr *)&sa, sizeof sa);
	if (r < 0) {
		close(fd); /* not urt_close: it must work even when cancelled */
		return r;
	}
	return fd;
}
