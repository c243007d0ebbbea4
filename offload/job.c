/* Handing a call to a pool: from a task (park until the completion message
 * comes back to the loop) or from any thread (a future).
 *
 * Ownership, for a task's job: the task's loop counts it in l->external
 * from submission until job_done runs (so the loop neither declares a
 * deadlock nor closes meanwhile). If the task stops waiting (cancel,
 * deadline), job_interrupt either withdraws the job (not started: freed
 * there) or clears job->wait (running: job_done frees it and discards the
 * result). Both run on the loop thread, so there is no race between them.
 *
 * A running job's function may use the task's stack (arg pointing into a
 * frame) until it returns, so job_interrupt pins that stack: when the task
 * ends, its stack goes to no other task (and is not unmapped) until
 * job_done unpins it. The task itself goes on, though: see urt_to_thread. */
#include "offload_internal.h"

#include <errno.h>
#include <stdlib.h>

void urt__job_free(struct urt__job *job)
{
	urt_ctx_release(job->ctx);
	job->ctx = NULL;
	if (!job->fut) /* a future's job lives inside the future's record */
		urt__job_recycle(job);
}

/* On the loop thread: the job came back. */
static void job_done(urt_loop *l, struct urt_remote *m)
{
	struct urt__job *job = (struct urt__job *)m;
	l->external--;
	if (job->wait) {
		job->wait->result = job->result;
		job->wait->err = job->err;
		urt__wake(job->task, 0);
	} else if (job->stack) { /* abandoned while it ran */
		urt__stack_unpin(l, job->stack);
	}
	urt__job_free(job);
}

void urt__job_finished(struct urt__job *job)
{
	if (job->fut) {
		/* -ECANCELED instead if urt_future_cancel got in first */
		urt__future_complete(job->fut, job->result, job->err); /* may free job (inside f) */
		return;
	}
	job->msg.run = job_done;
	if (urt__loop_post_counted(job->loop, &job->msg) < 0)
		/* only a loop abandoned after a fatal ring error refuses a
		 * counted completion: its tasks were cancelled (job->wait is
		 * NULL) and nobody will take the result; a pinned stack stays
		 * pinned (that loop's memory is never freed anyway) */
		urt__job_free(job);
}

/* On the loop thread: the parked task is cancelled or past its deadline. */
static void job_interrupt(urt_task *t, int err)
{
	struct urt__job *job = t->wait_obj;
	if (urt__pool_withdraw(job)) {
		t->loop->external--;
		urt__job_free(job);
	} else {
		/* running: job_done frees it, and until then its function
		 * may write into t's stack */
		job->wait = NULL;
		job->task = NULL;
		job->stack = t->stack;
		urt__stack_pin(t->stack);
	}
	urt__wake(t, err);
}

static int call_in_pool(struct urt__pool *p, unsigned cls, urt_task_fn fn, void *arg, void **result)
{
	if (!fn || cls >= URT_OFFLOAD_CLASSES)
		return -EINVAL;
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t);
	if (r < 0)
		return r;
	struct urt__job *job = urt__job_alloc();
	if (!job)
		return -ENOMEM;
	if (urt__job_capture(job) < 0) {
		urt__job_recycle(job);
		return -ENOMEM;
	}
	struct urt__job_wait w = {0};
	job->fn = fn;
	job->arg = arg;
	job->cls = cls;
	job->loop = l;
	job->task = t;
	job->wait = &w;
	urt__pool_submit_batched(p, job, l);
	l->external++;
	r = urt__park(l, t, job_interrupt, job, p->is_cpu ? "to_cpu" : "to_thread", URT_NO_DEADLINE);
	if (r < 0)
		return r;
	if (result)
		*result = w.result;
	return w.err;
}

int urt_to_thread(urt_task_fn fn, void *arg, void **result)
{
	return call_in_pool(&urt__pool_blocking, 0, fn, arg, result);
}

int urt_to_thread_class(unsigned class_id, urt_task_fn fn, void *arg, void **result)
{
	return call_in_pool(&urt__pool_blocking, class_id, fn, arg, result);
}

int urt_to_cpu(urt_task_fn fn, void *arg, void **result)
{
	return call_in_pool(&urt__pool_cpu, 0, fn, arg, result);
}

/* ---- from any thread: a future ----------------------------------------- */

struct pool_future {
	urt_future f;          /* first: the handle */
	struct urt__job job;   /* job.fut == &f */
};

static void pool_future_cancel(urt_future *f)
{
	struct pool_future *pf = (struct pool_future *)f;
	if (urt__pool_withdraw(&pf->job)) {
		urt_ctx_release(pf->job.ctx);
		pf->job.ctx = NULL;
		urt__future_complete(f, NULL, -ECANCELED);
	}
	/* running: its completion reports -ECANCELED (urt__future_complete) */
}

static void pool_future_destroy(urt_future *f) { free(f); }

static int try_in_pool(struct urt__pool *p, urt_task_fn fn, void *arg, urt_future **out)
{
	if (!fn || !out)
		return -EINVAL;
	struct pool_future *pf = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *pf);
	if (!pf)
		return -ENOMEM;
	urt__future_init(&pf->f);
	pf->f.cancel = pool_future_cancel;
	pf->f.destroy = pool_future_destroy;
	if (urt__job_capture(&pf->job) < 0) {
		free(pf);
		return -ENOMEM;
	}
	pf->job.fn = fn;
	pf->job.arg = arg;
	pf->job.fut = &pf->f;
	int r = urt__pool_submit(p, &pf->job, false);
	if (r < 0) {
		urt_ctx_release(pf->job.ctx);
		free(pf);
		return r;
	}
	*out = &pf->f;
	return 0;
}

int urt_to_thread_try(urt_task_fn fn, void *arg, urt_future **out)
{
	return try_in_pool(&urt__pool_blocking, fn, arg, out);
}

int urt_to_cpu_try(urt_task_fn fn, void *arg, urt_future **out)
{
	return try_in_pool(&urt__pool_cpu, fn, arg, out);
}
