/* Ten thousand tasks ping-ponging over channels, and a token passed
 * around a ring of tasks: the scheduler and stacks at scale. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "check.h"

enum { PAIRS = 5000, ROUNDS = 10 };

typedef struct pair {
	urt_chan ping, pong;
	long sum; /* what the pinger saw */
} pair;

static void *pinger(void *arg)
{
	pair *p = arg;
	for (long i = 0; i < ROUNDS; i++) {
		if (urt_chan_send(&p->ping, &i) != 0)
			return (void *)1;
		long back = -1;
		if (urt_chan_recv(&p->pong, &back) != 0 || back != i + 1)
			return (void *)2;
		p->sum += back;
	}
	urt_chan_close(&p->ping);
	return NULL;
}

static void *ponger(void *arg)
{
	pair *p = arg;
	long v;
	int r;
	while ((r = urt_chan_recv(&p->ping, &v)) == 0) {
		v++;
		if (urt_chan_send(&p->pong, &v) != 0)
			return (void *)3;
	}
	return r == -EPIPE ? NULL : (void *)4;
}

static void *pingpong_main(void *arg)
{
	(void)arg;
	pair *ps = calloc(PAIRS, sizeof *ps);
	urt_task **ts = calloc(2 * PAIRS, sizeof *ts);
	cr_assert(ps && ts);
	for (int i = 0; i < PAIRS; i++) {
		cr_assert_eq(urt_chan_init(&ps[i].ping, sizeof(long), 1), 0);
		cr_assert_eq(urt_chan_init(&ps[i].pong, sizeof(long), 1), 0);
	}
	for (int i = 0; i < PAIRS; i++) {
		cr_assert_eq(urt_spawn(&ts[2 * i], ponger, &ps[i], NULL), 0);
		cr_assert_eq(urt_spawn(&ts[2 * i + 1], pinger, &ps[i], NULL), 0);
	}
	urt_loop_stats s;
	cr_assert_eq(urt_loop_stats_get(NULL, &s), 0);
	cr_expect_geq(s.alive, 2 * PAIRS);
	int bad = 0;
	for (int i = 0; i < 2 * PAIRS; i++) {
		void *res = (void *)-1;
		cr_expect_eq(urt_join(ts[i], &res), 0);
		bad += res != NULL;
	}
	cr_expect_eq(bad, 0, "%d tasks saw a wrong value", bad);
	for (int i = 0; i < PAIRS; i++) {
		cr_expect_eq(ps[i].sum, ROUNDS * (ROUNDS + 1) / 2);
		cr_expect_eq(urt_chan_destroy(&ps[i].ping), 0);
		cr_expect_eq(urt_chan_destroy(&ps[i].pong), 0);
	}
	free(ps);
	free(ts);
	return NULL;
}

/* A first run outside the baseline: allocators (ASan's in particular)
 * keep the regions a peak of 10,000 tasks made them map. */
static void warm_up(urt_task_fn fn)
{
	cr_assert_eq(urt_run(fn, NULL, NULL, NULL), 0);
}

Test(pingpong, ten_thousand_tasks, .timeout = 30)
{
	warm_up(pingpong_main);
	urt_test_run(pingpong_main, NULL);
}

/* A ring of N tasks, each receiving from its left channel and sending to
 * its right one; the token goes around LAPS times. */
enum { RING = 10000, LAPS = 3 };
static urt_chan *g_ring;

static void *ring_node(void *arg)
{
	intptr_t i = (intptr_t)arg;
	urt_chan *in = &g_ring[i], *out = &g_ring[(i + 1) % RING];
	long tok;
	for (int lap = 0; lap < LAPS; lap++) {
		if (urt_chan_recv(in, &tok) != 0)
			return (void *)1;
		tok++;
		if (i == RING - 1 && lap == LAPS - 1)
			return (void *)(intptr_t)tok; /* the last hop ends it */
		if (urt_chan_send(out, &tok) != 0)
			return (void *)2;
	}
	return NULL;
}

static void *ring_main(void *arg)
{
	(void)arg;
	g_ring = calloc(RING, sizeof *g_ring);
	urt_task **ts = calloc(RING, sizeof *ts);
	cr_assert(g_ring && ts);
	for (int i = 0; i < RING; i++)
		cr_assert_eq(urt_chan_init(&g_ring[i], sizeof(long), 1), 0);
	for (intptr_t i = 0; i < RING; i++)
		cr_assert_eq(urt_spawn(&ts[i], ring_node, (void *)i, NULL), 0);
	long tok = 0;
	cr_assert_eq(urt_chan_send(&g_ring[0], &tok), 0);
	for (int i = 0; i < RING; i++) {
		void *res = (void *)1;
		cr_expect_eq(urt_join(ts[i], &res), 0);
		if (i == RING - 1)
			cr_expect_eq((intptr_t)res, (intptr_t)RING * LAPS, "token count");
		else
			cr_expect_null(res, "node %d failed", i);
	}
	for (int i = 0; i < RING; i++)
		cr_expect_eq(urt_chan_destroy(&g_ring[i]), 0);
	free(g_ring);
	free(ts);
	return NULL;
}

Test(pingpong, token_ring, .timeout = 30)
{
	warm_up(ring_main);
	urt_test_run(ring_main, NULL);
}
