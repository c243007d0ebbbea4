/* Subprocesses: posix_spawn + pidfd, waits through the ring
 * (IORING_OP_WAITID, else a pidfd poll), and a per-loop registry whose
 * reaper kills and reaps every child still running when the loop ends.
 *
 * The reaper is a loop-internal (system) task: it holds no operation in
 * flight (paused time and deadlock detection see nothing) and it is
 * cancelled when the loop closes, which is the hook "the loop's end reaps
 * children" needs. */
#include "uring_internal.h"
#include "urt_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
/* liburing 2.3 predates it; the value is fixed by the kernel ABI (6.7+). */
#define URT_OP_WAITID 50

extern char **environ;

enum { P_RUNNING, P_REAPED };

struct urt_process {
	pid_t pid;                 /* the child's pid (meaningless once reaped) */
	pid_t owner;               /* the process that spawned it (its parent) */
	int pidfd;                 /* owned; -1 once reaped */
	int fds[3];                /* parent's pipe ends, -1 if none / closed */
	int state;                 /* P_RUNNING / P_REAPED */
	bool waiting;              /* a task is parked in a wait on it */
	unsigned flags;            /* URT_PROC_* */
	urt_process_status status; /* valid once reaped */
	uint64_t loop_id;          /* the loop that spawned it; 0 after its end */
	struct urt_process *next, *prev; /* registry list (running children) */
};

/* Per thread: the running children of this thread's current loop. It
 * exists (with its reaper task) only while there may be children to reap. */
struct proc_reg {
	uint64_t loop_id;          /* the loop this registry belongs to */
	urt_process *head;         /* children not yet reaped */
	int has_waitid;            /* IORING_OP_WAITID usable: 1, 0 */
};
static __thread struct proc_reg *reg;

/* ---- reaping ------------------------------------------------------------ */

static void status_from(urt_process_status *st, const siginfo_t *si)
{
	memset(st, 0, sizeof *st);
	if (si->si_code == CLD_EXITED) {
		st->exited = 1;
		st->code = si->si_status;
	} else {
		st->signal = si->si_status;
		st->core_dumped = si->si_code == CLD_DUMPED;
	}
}

static void unlink_proc(urt_process *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else if (reg && reg->head == p)
		reg->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

/* The child is gone (si describes its end, or NULL: someone else reaped it). */
static void mark_reaped(urt_process *p, const siginfo_t *si)
{
	if (si)
		status_from(&p->status, si);
	p->state = P_REAPED;
	close(p->pidfd);
	p->pidfd = -1;
	unlink_proc(p);
}

/* SIGKILL and a blocking reap: a killed process exits at once (unless it
 * sits in an uninterruptible kernel wait), so the loop stalls only briefly. */
static void kill_reap(urt_process *p)
{
	if (p->state == P_REAPED)
		return;
	if (p->owner != getpid()) {
		/* a copy inherited over fork: the child is our parent's, still
		 * running and not ours to kill (nor can we reap it); only our
		 * copy of its pidfd goes */
		mark_reaped(p, NULL);
		return;
	}
	syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	int r;
	do {
		memset(&si, 0, sizeof si);
		r = waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED);
	} while (r < 0 && errno == EINTR);
	mark_reaped(p, r == 0 ? &si : NULL);
}

/* Any user task still alive, or NULL. */
static urt_task *some_user_task(urt_loop *l)
{
	for (urt_task *t = l->all; t; t = t->all_next)
		if (!(t->flags & URT_TF_SYSTEM) && t->state != URT_T_DONE && t->state != URT_T_FREE)
			return t;
	return NULL;
}

/* The reaper, a system task. It must never sit parked with nothing in
 * flight once the user tasks are gone (the loop would call that a
 * deadlock), so it waits for a user task to finish, and retires when no
 * child is left. When there is no user task, the loop is either closing
 * (urt_run's end, or urt_loop_destroy: this task is then cancelled) or an
 * embedding caller runs it between tasks: it naps until one of those. On
 * cancellation (closing, or a deadlock being broken), every child still
 * running is killed and reaped: none outlives its loop. */
#define REAPER_NAP_NS (5 * URT_NS_PER_MS)

static void *reaper_main(void *arg)
{
	struct proc_reg *r = arg;
	urt_loop *l = urt__loop();
	urt_task *self = urt_self();
	while (r->head) {
		urt_task *u = some_user_task(l);
		int e;
		if (u) {
			struct urt__waiter w = {0};
			e = urt__waitq_wait(l, self, &u->done_waiters, &w, "reaper");
		} else {
			e = urt__loop_closing(l) ? -ECANCELED : urt_sleep(REAPER_NAP_NS);
		}
		if (e < 0)
			break;
	}
	while (r->head) {
		urt_process *p = r->head;
		p->loop_id = 0;
		kill_reap(p);
		if (r->head == p) /* mark_reaped unlinks through reg */
			r->head = p->next;
	}
	if (reg == r)
		reg = NULL;
	free(r);
	return NULL;
}

static int probe_waitid(urt_loop *l)
{
	struct io_uring_probe *pr = io_uring_get_probe_ring(&l->backend->ring);
	if (!pr)
		return 0;
	int ok = io_uring_opcode_supported(pr, URT_OP_WAITID);
	io_uring_free_probe(pr);
	return ok;
}

/* This loop's registry, made (with its reaper) when a child comes. */
static int reg_get(urt_loop *l, struct proc_reg **out)
{
	uint64_t id = urt_loop_id(l);
	if (reg && reg->loop_id != id) {
		/* a previous loop of this thread ended without its reaper
		 * running (cannot happen through urt_run): reap its children */
		struct proc_reg *old = reg;
		while (old->head) {
			old->head->loop_id = 0;
			kill_reap(old->head);
		}
		reg = NULL;
		free(old);
	}
	if (!reg) {
		struct proc_reg *r = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *r);
		if (!r)
			return -ENOMEM;
		r->loop_id = id;
		r->has_waitid = probe_waitid(l);
		int e = urt__spawn_system(l, NULL, reaper_main, r, "urt-reaper");
		if (e < 0) {
			free(r);
			return e;
		}
		reg = r;
	}
	*out = reg;
	return 0;
}

/* ---- spawning ----------------------------------------------------------- */

/* A pipe whose fds are >= 3, so no file action can clobber them. */
static int pipe_high(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (p[i] >= 3)
			continue;
		int n = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
		if (n < 0) {
			int e = -errno;
			close(p[0]);
			close(p[1]);
			return e;
		}
		close(p[i]);
		p[i] = n;
	}
	return 0;
}

static int add_stdio(posix_spawn_file_actions_t *fa, int i, const urt_stdio *s,
		     int *parent, int *child)
{
	int wr = i == 0 ? O_RDONLY : O_WRONLY;
	switch (s->mode) {
	case URT_STDIO_INHERIT:
		return 0;
	case URT_STDIO_NULL:
		return -posix_spawn_file_actions_addopen(fa, i, "/dev/null", wr, 0);
	case URT_STDIO_FILE:
	case URT_STDIO_APPEND: {
		int fl = i == 0 ? O_RDONLY
			: O_WRONLY | O_CREAT | (s->mode == URT_STDIO_FILE ? O_TRUNC : O_APPEND);
		return -posix_spawn_file_actions_addopen(fa, i, s->path, fl, 0666);
	}
	case URT_STDIO_PIPE: {
		int pp[2];
		int r = pipe_high(pp);
		if (r < 0)
			return r;
		*child = i == 0 ? pp[0] : pp[1];
		*parent = i == 0 ? pp[1] : pp[0];
		return -posix_spawn_file_actions_adddup2(fa, *child, i);
	}
	}
	return -EINVAL;
}

static int check_opts(const urt_process_opts *o)
{
	if (!o || !o->argv || !o->argv[0])
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		int m = o->stdio[i].mode;
		if (m < URT_STDIO_INHERIT || m > URT_STDIO_NULL)
			return -EINVAL;
		if ((m == URT_STDIO_FILE || m == URT_STDIO_APPEND) && !o->stdio[i].path)
			return -EINVAL;
		if (i == 0 && m == URT_STDIO_APPEND)
			return -EINVAL;
	}
	return 0;
}

/* Default signal handling and an empty mask in the child: an ignored
 * SIGPIPE or a blocked SIGTERM of the parent must not leak into it. */
static int set_attr(posix_spawnattr_t *at)
{
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	int r = posix_spawnattr_setsigmask(at, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(at, &all);
	if (!r)
		r = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	return -r;
}

static int do_spawn(urt_process *p, const urt_process_opts *o)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int child[3] = {-1, -1, -1};
	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	if (posix_spawnattr_init(&at)) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	int r = set_attr(&at);
	for (int i = 0; i < 3 && r == 0; i++)
		r = add_stdio(&fa, i, &o->stdio[i], &p->fds[i], &child[i]);
	if (r == 0 && !(o->flags & URT_PROC_KEEP_FDS))
		r = -posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (r == 0 && o->cwd) /* last: stdio paths resolve in the parent's cwd */
		r = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	if (r == 0) {
		char *const *envp = o->envp ? (char *const *)o->envp : environ;
		/* glibc reports exec failure here (CLONE_VFORK), and reaps the
		 * failed child itself */
		r = -posix_spawnp(&p->pid, o->argv[0], &fa, &at, (char *const *)o->argv, envp);
	}
	for (int i = 0; i < 3; i++)
		if (child[i] >= 0)
			close(child[i]);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r;
}

int urt_process_spawn(urt_process **out, const urt_process_opts *o)
{
	if (!out)
		return -EINVAL;
	int r = check_opts(o);
	if (r < 0)
		return r;
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	struct proc_reg *rg;
	r = reg_get(l, &rg);
	if (r < 0)
		return r;
	urt_process *p = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->fds[0] = p->fds[1] = p->fds[2] = p->pidfd = -1;
	p->flags = o->flags;
	p->owner = getpid();
	r = do_spawn(p, o);
	if (r == 0) {
		/* the pid cannot be recycled before we reap it, so opening
		 * its pidfd now is race-free */
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
		if (p->pidfd < 0) {
			r = -errno;
			kill(p->pid, SIGKILL);
			while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	if (r < 0) {
		for (int i = 0; i < 3; i++)
			if (p->fds[i] >= 0)
				close(p->fds[i]);
		free(p);
		return r;
	}
	p->loop_id = rg->loop_id;
	p->next = rg->head;
	if (rg->head)
		rg->head->prev = p;
	rg->head = p;
	*out = p;
	return 0;
}

/* ---- accessors ---------------------------------------------------------- */

int urt_process_pid(const urt_process *p)
{
	return p ? p->pid : -EINVAL;
}

int urt_process_fd(const urt_process *p, int stream)
{
	if (!p || stream < 0 || stream > 2)
		return -EINVAL;
	return p->fds[stream] >= 0 ? p->fds[stream] : -EBADF;
}

int urt_process_close_fd(urt_process *p, int stream)
{
	int fd = urt_process_fd(p, stream);
	if (fd < 0)
		return fd;
	p->fds[stream] = -1;
	close(fd);
	return 0;
}

int urt_process_signal(urt_process *p, int sig)
{
	if (!p || sig < 0 || sig >= NSIG)
		return -EINVAL;
	if (p->state == P_REAPED)
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* ---- waiting ------------------------------------------------------------ */

static int check_wait(const urt_process *p)
{
	if (!p)
		return -EINVAL;
	if (p->state == P_REAPED)
		return -ECHILD;
	urt_loop *l = urt__loop();
	if (!l || p->loop_id != urt_loop_id(l))
		return -EINVAL;
	if (p->waiting)
		return -EBUSY;
	return 0;
}

/* Non-blocking waitid: 1 reaped (si filled), 0 still running, -errno. */
static int reap_now(urt_process *p, siginfo_t *si)
{
	memset(si, 0, sizeof *si);
	if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, si, WEXITED | WNOHANG) < 0)
		return -errno;
	return si->si_pid != 0;
}

static int wait_ring(urt_process *p, siginfo_t *si)
{
	urt_loop *l;
	urt_task *t;
	struct io_uring_sqe *sqe;
	int r = urt__io_begin(&l, &t, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_rw(URT_OP_WAITID, sqe, p->pidfd, NULL, P_PIDFD, 0);
	sqe->file_index = WEXITED; /* options */
	sqe->addr2 = (uintptr_t)si; /* infop */
	return urt__io_wait(l, t, sqe, "waitid");
}

/* Fallback: the pidfd becomes readable when the child exits. */
static int wait_poll(urt_process *p, siginfo_t *si)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t); /* as the ring's wait: not outside a task */
	if (r < 0)
		return r;
	for (;;) {
		r = reap_now(p, si);
		if (r != 0)
			return r < 0 ? r : 0;
		r = urt_poll(p->pidfd, POLLIN);
		if (r < 0)
			return r;
	}
}

/* One wait in the caller's deadline scope: 0 (reaped) or an error. */
static int wait_once(urt_process *p)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	bool ring = reg && reg->has_waitid && !(p->flags & URT_PROC_WAIT_POLL);
	p->waiting = true;
	int r = ring ? wait_ring(p, &si) : wait_poll(p, &si);
	p->waiting = false;
	if (r == 0)
		mark_reaped(p, &si);
	else if (r == -ECHILD)
		mark_reaped(p, NULL); /* reaped behind our back: status unknown */
	return r;
}

int urt_process_wait(urt_process *p, uint64_t timeout_ns, urt_process_status *st)
{
	int r = check_wait(p);
	if (r < 0)
		return r;
	urt_deadline d;
	bool scoped = timeout_ns != UINT64_MAX;
	if (scoped && (r = urt_deadline_enter(&d, timeout_ns)) < 0)
		return r;
	r = wait_once(p);
	if (scoped)
		urt_deadline_exit(&d);
	if (r == 0 && st)
		*st = p->status;
	return r;
}

int urt_process_wait_kill(urt_process *p, uint64_t timeout_ns, urt_process_status *st)
{
	int r = urt_process_wait(p, timeout_ns, st);
	if ((r == -ETIME || r == -ECANCELED) && p->state != P_REAPED) {
		kill_reap(p);
		if (st)
			*st = p->status;
	}
	return r;
}

int urt_process_try_wait(urt_process *p, urt_process_status *st)
{
	int r = check_wait(p);
	if (r < 0)
		return r;
	siginfo_t si;
	r = reap_now(p, &si);
	if (r < 0)
		return r;
	if (r == 0)
		return -EAGAIN;
	mark_reaped(p, &si);
	if (st)
		*st = p->status;
	return 0;
}

int urt_process_release(urt_process *p)
{
	if (!p)
		return -EINVAL;
	if (p->waiting)
		return -EBUSY;
	bool ours = p->owner == getpid();
	/* a running child is in its loop's registry, which only that loop's
	 * thread may touch: freeing the record elsewhere would leave it
	 * there for the reaper to find */
	if (p->state != P_REAPED && ours && (!reg || reg->loop_id != p->loop_id))
		return -EINVAL;
	int killed = p->state != P_REAPED && ours;
	kill_reap(p);
	for (int i = 0; i < 3; i++)
		if (p->fds[i] >= 0)
			close(p->fds[i]);
	free(p);
	return killed;
}

/* For the test harness: pids of this thread's children not yet reaped. */
int urt__process_live(int *pids, int max)
{
	int n = 0;
	for (urt_process *p = reg ? reg->head : NULL; p; p = p->next, n++)
		if (n < max)
			pids[n] = p->pid;
	return n;
}
