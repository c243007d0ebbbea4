/* libFuzzer: API sequences on one loop. Each input byte pair is an
 * operation (spawn, cancel, sleep, yield, channel send/recv/close, mutex
 * lock/unlock, event set/wait, deadline scopes, join, detach) that the
 * main task or one of up to 16 tasks performs, each task running its own
 * slice of the input. Invariants: every call returns 0 or a documented
 * -errno; urt_run returns 0 or -EDEADLK (everything waited on something
 * nothing could signal: the loop cancelled it); every task ends (its
 * body's epilogue runs), every join returns; no leak (LSan). Runs under
 * paused time, so sleeps cost nothing and runs are deterministic. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "urt.h"

#define MAXT 16

static const uint8_t *in;
static size_t in_len;
static urt_task *tasks[MAXT];   /* joinable handles (NULL: none / joined / detached) */
static int started, finished;   /* task bodies begun / ended */
static int spawns;              /* spawns so far in this input */
static urt_chan ch;
static urt_mutex mtx;
static urt_event ev;
static urt_task *owner;         /* who holds mtx */
static urt_task *main_t;        /* the main task */

static void bad(const char *what, long r)
{
	fprintf(stderr, "api_seq: %s returned %ld\n", what, r);
	abort();
}

/* Blocking calls may also fail with the blocking-call errors. */
static void want(const char *what, long r, long ok1, long ok2)
{
	if (r == 0 || r == ok1 || r == ok2 || r == -ECANCELED || r == -ETIME)
		return;
	bad(what, r);
}

static void *body(void *arg);

static void step(uint8_t op, uint8_t x)
{
	urt_task *self = urt_self();
	switch (op % 14) {
	case 0: { /* spawn */
		int slot = x % MAXT;
		if (tasks[slot] || spawns >= 64) /* bounded: tasks may spawn tasks */
			break;
		spawns++;
		size_t off = (size_t)x * 7 % (in_len + 1);
		int r = urt_spawn(&tasks[slot], body, (void *)(uintptr_t)off, NULL);
		if (r)
			bad("spawn", r);
		break;
	}
	case 1: /* cancel */
		if (tasks[x % MAXT] && urt_cancel(tasks[x % MAXT]))
			bad("cancel", -1);
		break;
	case 2:
		want("sleep", urt_sleep((uint64_t)x * URT_NS_PER_MS), 0, 0);
		break;
	case 3:
		want("yield", urt_yield(), 0, 0);
		break;
	case 4: {
		int v = x;
		want("chan_send", urt_chan_send(&ch, &v), -EPIPE, 0);
		break;
	}
	case 5: {
		int v;
		long r = urt_chan_recv(&ch, &v);
		want("chan_recv", r, -EPIPE, 0);
		break;
	}
	case 6:
		if (x < 8) /* rarely: the channel stays open most of the run */
			want("chan_close", urt_chan_close(&ch), -EPIPE, 0);
		break;
	case 7:
		if (owner == self)
			break;
		if (urt_mutex_lock(&mtx) == 0) {
			owner = self;
			want("sleep holding mutex", urt_sleep(x % 3 * URT_NS_PER_MS), 0, 0);
			owner = NULL;
			if (urt_mutex_unlock(&mtx))
				bad("mutex_unlock", -1);
		}
		break;
	case 8:
		urt_event_set(&ev);
		break;
	case 9:
		want("event_wait", urt_event_wait(&ev), 0, 0);
		break;
	case 10: { /* a deadline scope around the next blocking call */
		urt_deadline d;
		if (urt_deadline_enter(&d, (uint64_t)x * URT_NS_PER_MS / 4))
			bad("deadline_enter", -1);
		want("sleep in scope", urt_sleep((uint64_t)(x % 5) * URT_NS_PER_MS), 0, 0);
		if (urt_deadline_exit(&d))
			bad("deadline_exit", -1);
		break;
	}
	case 11: { /* join: only the main task joins (nobody can cancel it, and
		    * it never joins inside a deadline scope), so -ECANCELED always
		    * means "joined, the task had been cancelled" */
		int slot = x % MAXT;
		urt_task *t = tasks[slot];
		if (!t || self != main_t)
			break;
		tasks[slot] = NULL;
		long r = urt_join(t, NULL);
		if (r != 0 && r != -ECANCELED)
			bad("join", r);
		break;
	}
	case 12: { /* detach */
		int slot = x % MAXT;
		if (tasks[slot] && tasks[slot] != self) {
			if (urt_detach(tasks[slot]))
				bad("detach", -1);
			tasks[slot] = NULL;
		}
		break;
	}
	case 13:
		want("chan_try_send", urt_chan_try_send(&ch, &(int){x}), -EAGAIN, -EPIPE);
		break;
	}
}

static void *body(void *arg)
{
	size_t off = (size_t)(uintptr_t)arg;
	started++;
	for (int n = 0; n < 24 && off + 1 < in_len; n++, off += 2)
		step(in[off], in[off + 1]);
	finished++;
	return NULL;
}

static void *main_task(void *arg)
{
	(void)arg;
	main_t = urt_self();
	body((void *)0);
	/* join what is still joinable; cancel first so nothing waits forever */
	for (int i = 0; i < MAXT; i++)
		if (tasks[i])
			urt_cancel(tasks[i]);
	for (int i = 0; i < MAXT; i++)
		if (tasks[i]) {
			urt_task *t = tasks[i];
			tasks[i] = NULL;
			long r = urt_join(t, NULL);
			if (r != 0 && r != -ECANCELED)
				bad("final join", r);
		}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 512)
		return 0;
	in = data;
	in_len = size;
	memset(tasks, 0, sizeof tasks);
	started = finished = spawns = 0;
	owner = NULL;
	urt_mutex_init(&mtx);
	urt_event_init(&ev);
	if (urt_chan_init(&ch, sizeof(int), 2))
		bad("chan_init", -1);
	urt_config cfg = {.flags = URT_CFG_PAUSED_TIME, .stall_ns = UINT64_MAX, .stack_pool = 4};
	int r = urt_run(main_task, NULL, &cfg, NULL);
	if (r != 0 && r != -EDEADLK)
		bad("urt_run", r);
	if (started != finished) {
		fprintf(stderr, "api_seq: %d task bodies began, %d ended\n", started, finished);
		abort();
	}
	if (urt_loop_current())
		bad("loop left behind", -1);
	urt_chan_destroy(&ch);
	return 0;
}
