/* Cross-thread submission: run a function as a task on a given loop.
 *
 * One record per submission, which is also the future: a spawn message
 * posted to the loop's inbox (or sent through MSG_RING from another loop),
 * a cancel message posted at most once by urt_future_cancel, and the
 * wrapper task that runs fn in the submitter's captured context and
 * completes the future. The task pointer is read and written only on the
 * loop thread. */
#include "offload_internal.h"

#include <errno.h>
#include <stdlib.h>

struct submission {
	urt_future f;               /* first: the handle */
	struct urt_remote spawn;    /* message: start the task */
	struct urt_remote cancel;   /* message: cancel the task */
	urt_task_fn fn;
	void *arg;
	urt_ctx *ctx;               /* the submitter's context (owned until spawned) */
	urt_task *task;             /* the running task (loop thread), else NULL */
	struct urt__ring_msg ring;  /* MSG_RING delivery of spawn */
};

#define SUB_OF(m, field) ((struct submission *)((char *)(m) - offsetof(struct submission, field)))

static void *submission_task(void *p)
{
	struct submission *s = p;
	void *r = s->fn(s->arg);
	urt_task *self = urt_self();
	/* a cancel whose message has not reached the loop yet shows only in
	 * cancel_req: urt__future_complete turns err into -ECANCELED then */
	int err = (self->flags & URT_TF_CANCELLED) ? -ECANCELED : 0;
	s->task = NULL;
	urt__future_complete(&s->f, r, err);
	return NULL;
}

/* On the loop thread (scheduler): start the task, or say why not. */
static void spawn_run(urt_loop *l, struct urt_remote *m)
{
	struct submission *s = SUB_OF(m, spawn);
	int err;
	if (urt__loop_closing(l)) {
		err = -ESHUTDOWN;
	} else if (atomic_load(&s->f.cancel_req) == URT_FUT_CANCEL) {
		err = -ECANCELED;
	} else {
		urt_task_opts o = {.name = "submitted", .ctx = s->ctx};
		urt_task *t;
		err = urt_spawn(&t, submission_task, s, &o);
		if (err == 0) {
			s->task = t;
			urt_detach(t); /* the record stays valid until the task ends */
		}
	}
	urt_ctx_release(s->ctx);
	s->ctx = NULL;
	if (err)
		urt__future_complete(&s->f, NULL, err);
}

static void cancel_run(urt_loop *l, struct urt_remote *m)
{
	struct submission *s = SUB_OF(m, cancel);
	/* a closing loop has cancelled its tasks itself; an abandoned one
	 * (core/loop.c, wind_down) runs its last messages with a broken
	 * ring, which cancelling I/O would need */
	if (s->task && !urt__loop_closing(l))
		urt_cancel(s->task);
	urt__future_unref(&s->f);
}

/* urt_future_cancel, any thread: the loop thread does the cancelling. */
static void submission_cancel(urt_future *f)
{
	struct submission *s = (struct submission *)f;
	atomic_fetch_add(&f->refs, 1); /* held by the message */
	s->cancel.run = cancel_run;
	if (urt__loop_post(f->loop, &s->cancel) < 0)
		urt__future_unref(f); /* closing: the spawn message reports -ESHUTDOWN */
}

static void submission_destroy(urt_future *f) { free(f); }

/* MSG_RING delivery failed late (the target closed meanwhile). */
static void spawn_failed(struct urt_remote *m, int err)
{
	struct submission *s = SUB_OF(m, spawn);
	urt_ctx_release(s->ctx);
	s->ctx = NULL;
	urt__future_complete(&s->f, NULL, err);
}

/* Deliver the spawn message: MSG_RING when asked for and the caller runs
 * another loop, else the loop's inbox. */
static int deliver(urt_loop *l, struct submission *s)
{
	if (atomic_load_explicit(&urt__ocfg.flags, memory_order_relaxed) & URT_OFFLOAD_MSG_RING) {
		s->ring.m = &s->spawn;
		s->ring.fail = spawn_failed;
		int r = urt__msgring_post(l, &s->ring);
		if (r == 0 || r == -ESHUTDOWN)
			return r;
	}
	return urt__loop_post(l, &s->spawn);
}

static int submit(urt_loop *l, urt_task_fn fn, void *arg, urt_future **out)
{
	if (!l || !fn)
		return -EINVAL;
	struct submission *s = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	urt__future_init(&s->f);
	if (!out)
		atomic_store_explicit(&s->f.refs, 1, memory_order_relaxed); /* nobody holds a handle */
	s->f.loop = l;
	s->f.cancel = submission_cancel;
	s->f.destroy = submission_destroy;
	s->fn = fn;
	s->arg = arg;
	s->spawn.run = spawn_run;
	s->ctx = urt_ctx_capture();
	if (!s->ctx) {
		free(s);
		return -ENOMEM;
	}
	if (out)
		*out = &s->f; /* before delivery: s may be gone after it without a handle */
	int r = deliver(l, s);
	if (r < 0) {
		urt_ctx_release(s->ctx);
		free(s);
		if (out)
			*out = NULL;
	}
	return r;
}

int urt_submit(urt_loop *loop, urt_task_fn fn, void *arg, urt_future **out)
{
	return submit(loop, fn, arg, out);
}

int urt_call_soon(urt_loop *loop, urt_task_fn fn, void *arg)
{
	return submit(loop, fn, arg, NULL);
}
