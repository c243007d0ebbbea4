/* Ring set-up with feature probing: the fastest flags the kernel accepts,
 * falling back one step at a time; each fallback can be forced by config
 * so tests cover it. */
#include "uring_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define URT_VALGRIND 1
#endif
#endif

static void noop_complete(urt_op *op, int res, unsigned flags)
{
	(void)op, (void)res, (void)flags;
}

/* Candidate flag sets, best first. */
static unsigned candidates(unsigned cfg, unsigned out[5])
{
	const unsigned si = IORING_SETUP_SINGLE_ISSUER, dt = IORING_SETUP_DEFER_TASKRUN,
		       coop = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	bool no_si = cfg & URT_CFG_NO_SINGLE_ISSUER, no_dt = cfg & URT_CFG_NO_DEFER_TASKRUN,
	     no_coop = cfg & URT_CFG_NO_COOP_TASKRUN;
	unsigned n = 0;
	if (!no_si && !no_dt) /* TASKRUN_FLAG: the SQ flags say when deferred work waits */
		out[n++] = si | dt | IORING_SETUP_TASKRUN_FLAG;
	if (!no_si && !no_coop)
		out[n++] = si | coop;
	if (!no_coop)
		out[n++] = coop;
	if (!no_si)
		out[n++] = si;
	out[n++] = 0;
	return n;
}

static int ring_create(struct urt_backend *b, const urt_config *cfg)
{
	unsigned cand[5], n = candidates(cfg->flags, cand);
	int r = -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		/* CLAMP: the kernel's CQ limit (65,536) caps the 4x of a large SQ */
		p.flags = cand[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
		p.cq_entries = cfg->ring_entries * 4;
		r = urt__fault(URT_FAULT_RING);
		if (r == 0)
			r = io_uring_queue_init_params(cfg->ring_entries, &b->ring, &p);
		if (r == 0) {
			b->setup_flags = p.flags;
			b->ext_arg = (p.features & IORING_FEAT_EXT_ARG) && !(cfg->flags & URT_CFG_NO_EXT_ARG);
#ifdef URT_VALGRIND
			b->under_valgrind = RUNNING_ON_VALGRIND != 0;
#endif
			return 0;
		}
		if (r != -EINVAL)
			break; /* ENOSYS, EPERM (seccomp), ENOMEM: no point going on */
	}
	return r;
}

static bool op_supported(struct io_uring *ring, int op)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	if (!p)
		return false;
	bool ok = io_uring_opcode_supported(p, op);
	io_uring_free_probe(p);
	return ok;
}

int urt__backend_init(urt_loop *l)
{
	struct urt_backend *b = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *b);
	if (!b)
		return -ENOMEM;
	int r = ring_create(b, &l->cfg);
	if (r < 0) {
		free(b);
		return r;
	}
	/* a forked child must not reach the parent's rings: they are not
	 * mapped there (failure only loses that protection) */
	(void)io_uring_ring_dontfork(&b->ring);
	if (!(l->cfg.flags & URT_CFG_NO_REGISTERED_FD))
		b->registered_fd = io_uring_register_ring_fd(&b->ring) == 1;
	b->op_socket = !(l->cfg.flags & URT_CFG_NO_OP_SOCKET) && op_supported(&b->ring, IORING_OP_SOCKET);
	b->timeout_op.complete = noop_complete;
	l->backend = b;
	r = urt__wake_init(b, l);
	if (r < 0) {
		urt__backend_fini(l);
		return r;
	}
	return 0;
}

void urt__backend_fini(urt_loop *l)
{
	struct urt_backend *b = l->backend;
	if (!b)
		return;
	if (b->loop)
		urt__wake_fini(b);
	if (b->registered_fd)
		io_uring_unregister_ring_fd(&b->ring);
	io_uring_queue_exit(&b->ring);
	free(b);
	l->backend = NULL;
}
