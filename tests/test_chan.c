/* Channels: FIFO, capacity, blocking send/recv, close, destroy, misuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

Test(chan, init_bad_args)
{
	urt_chan c;
	cr_expect_eq(urt_chan_init(NULL, 4, 4), -EINVAL);
	cr_expect_eq(urt_chan_init(&c, 0, 4), -EINVAL, "zero element size");
	cr_expect_eq(urt_chan_init(&c, 4, 0), -EINVAL, "zero capacity");
	cr_expect_eq(urt_chan_init(&c, SIZE_MAX / 2, 3), -EINVAL, "size overflow");
	cr_expect_eq(urt_chan_init(&c, 2, SIZE_MAX), -EINVAL, "size overflow");
	cr_expect_eq(urt_chan_destroy(NULL), -EINVAL);
	cr_expect_eq(urt_chan_close(NULL), -EINVAL);
	cr_expect_eq(urt_chan_len(NULL), -EINVAL);
	int v = 0;
	cr_expect_eq(urt_chan_try_send(NULL, &v), -EINVAL);
	cr_expect_eq(urt_chan_try_recv(NULL, &v), -EINVAL);
	cr_assert_eq(urt_chan_init(&c, sizeof v, 2), 0);
	cr_expect_eq(urt_chan_try_send(&c, NULL), -EINVAL);
	cr_expect_eq(urt_chan_try_recv(&c, NULL), -EINVAL);
	cr_expect_eq(urt_chan_destroy(&c), 0);
}

/* The non-blocking calls work outside tasks. */
Test(chan, try_variants_outside_a_task)
{
	urt_chan c;
	cr_assert_eq(urt_chan_init(&c, sizeof(int), 3), 0);
	cr_expect_eq(urt_chan_len(&c), 0);
	int v;
	cr_expect_eq(urt_chan_try_recv(&c, &v), -EAGAIN);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_chan_try_send(&c, &i), 0);
	cr_expect_eq(urt_chan_len(&c), 3);
	int x = 9;
	cr_expect_eq(urt_chan_try_send(&c, &x), -EAGAIN, "send beyond capacity");
	/* wrap the ring around a few times */
	for (int k = 0; k < 10; k++) {
		cr_expect_eq(urt_chan_try_recv(&c, &v), 0);
		cr_expect_eq(v, k, "FIFO order");
		int n = k + 3;
		cr_expect_eq(urt_chan_try_send(&c, &n), 0);
	}
	cr_expect_eq(urt_chan_len(&c), 3);
	cr_expect_eq(urt_chan_send(&c, &x), -EPERM, "blocking send outside a task");
	cr_expect_eq(urt_chan_recv(&c, &v), -EPERM, "blocking recv outside a task");
	cr_expect_eq(urt_chan_len(&c), 3);
	cr_expect_eq(urt_chan_destroy(&c), 0);
}

Test(chan, close_semantics_without_waiters)
{
	urt_chan c;
	cr_assert_eq(urt_chan_init(&c, sizeof(int), 4), 0);
	int v = 1;
	cr_expect_eq(urt_chan_try_send(&c, &v), 0);
	v = 2;
	cr_expect_eq(urt_chan_try_send(&c, &v), 0);
	cr_expect_eq(urt_chan_close(&c), 0);
	cr_expect_eq(urt_chan_close(&c), 0, "close is idempotent");
	cr_expect_eq(urt_chan_try_send(&c, &v), -EPIPE);
	cr_expect_eq(urt_chan_try_recv(&c, &v), 0, "receivers drain a closed channel");
	cr_expect_eq(v, 1);
	cr_expect_eq(urt_chan_try_recv(&c, &v), 0);
	cr_expect_eq(v, 2);
	cr_expect_eq(urt_chan_try_recv(&c, &v), -EPIPE, "closed and drained");
	cr_expect_eq(urt_chan_destroy(&c), 0);
}

/* Larger items are copied whole. */
typedef struct big { uint64_t a, b, c; char tag[13]; } big;

static void *big_items(void *arg)
{
	(void)arg;
	urt_chan c;
	cr_assert_eq(urt_chan_init(&c, sizeof(big), 2), 0);
	big in = {1, 2, 3, "hello world!"}, out;
	memset(&out, 0, sizeof out);
	cr_expect_eq(urt_chan_send(&c, &in), 0);
	in.a = 99; /* the channel holds a copy */
	cr_expect_eq(urt_chan_recv(&c, &out), 0);
	cr_expect_eq(out.a, 1);
	cr_expect_eq(out.c, 3);
	cr_expect_str_eq(out.tag, "hello world!");
	cr_expect_eq(urt_chan_destroy(&c), 0);
	return NULL;
}

Test(chan, items_are_copied, .timeout = 10)
{
	urt_test_run(big_items, NULL);
}

/* A producer and a consumer through a small channel: order kept, the
 * producer parks while full, the consumer while empty. */
static urt_chan g_c;
enum { NITEMS = 2000 };

static void *producer(void *arg)
{
	int base = (int)(intptr_t)arg;
	for (int i = 0; i < NITEMS; i++) {
		int v = base + i;
		cr_assert_eq(urt_chan_send(&g_c, &v), 0);
		cr_assert_leq(urt_chan_len(&g_c), 4, "capacity exceeded");
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < NITEMS; i++) {
		int v = -1;
		cr_assert_eq(urt_chan_recv(&g_c, &v), 0);
		cr_assert_eq(v, i, "item %d arrived as %d", i, v);
	}
	return NULL;
}

static void *pipeline(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_chan_init(&g_c, sizeof(int), 4), 0);
	urt_task *p, *c;
	cr_assert_eq(urt_spawn(&c, consumer, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&p, producer, NULL, NULL), 0);
	cr_expect_eq(urt_join(p, NULL), 0);
	cr_expect_eq(urt_join(c, NULL), 0);
	cr_expect_eq(urt_chan_len(&g_c), 0);
	cr_expect_eq(urt_chan_destroy(&g_c), 0);
	return NULL;
}

Test(chan, fifo_through_small_channel, .timeout = 10)
{
	urt_test_run(pipeline, NULL);
}

/* Several parked senders: their items arrive in the order they parked. */
static void *one_send(void *arg)
{
	int v = (int)(intptr_t)arg;
	return (void *)(intptr_t)urt_chan_send(&g_c, &v);
}

static void *sender_order(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_chan_init(&g_c, sizeof(int), 1), 0);
	int v = 0;
	cr_assert_eq(urt_chan_send(&g_c, &v), 0);
	urt_task *ts[4];
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(urt_spawn(&ts[i], one_send, (void *)(intptr_t)(i + 1), NULL), 0);
		urt_yield();
	}
	cr_expect_eq(urt_chan_len(&g_c), 1);
	for (int i = 0; i <= 4; i++) {
		cr_expect_eq(urt_chan_recv(&g_c, &v), 0);
		cr_expect_eq(v, i);
	}
	for (int i = 0; i < 4; i++)
		cr_expect_eq(urt_join(ts[i], NULL), 0);
	cr_expect_eq(urt_chan_destroy(&g_c), 0);
	return NULL;
}

Test(chan, parked_senders_fifo, .timeout = 10)
{
	urt_test_run(sender_order, NULL);
}

/* Close wakes parked receivers (-EPIPE after draining) and parked senders
 * (-EPIPE, item not sent). */
static void *one_recv(void *arg)
{
	(void)arg;
	int v = -1;
	int r = urt_chan_recv(&g_c, &v);
	return (void *)(intptr_t)(r == 0 ? v : r);
}

static void *close_wakes(void *arg)
{
	(void)arg;
	/* receivers */
	cr_assert_eq(urt_chan_init(&g_c, sizeof(int), 2), 0);
	urt_task *r[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(urt_spawn(&r[i], one_recv, NULL, NULL), 0);
	urt_yield();
	cr_expect_eq(urt_chan_destroy(&g_c), -EBUSY, "destroy with parked receivers");
	int v = 77;
	cr_expect_eq(urt_chan_try_send(&g_c, &v), 0);
	cr_expect_eq(urt_chan_close(&g_c), 0);
	void *res[3];
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_join(r[i], &res[i]), 0);
	cr_expect_eq((intptr_t)res[0], 77, "the first receiver gets the item sent before close");
	cr_expect_eq((intptr_t)res[1], -EPIPE);
	cr_expect_eq((intptr_t)res[2], -EPIPE);
	cr_expect_eq(urt_chan_recv(&g_c, &v), -EPIPE);
	cr_expect_eq(urt_chan_send(&g_c, &v), -EPIPE);
	cr_expect_eq(urt_chan_destroy(&g_c), 0);

	/* senders */
	cr_assert_eq(urt_chan_init(&g_c, sizeof(int), 1), 0);
	v = 1;
	cr_assert_eq(urt_chan_send(&g_c, &v), 0);
	urt_task *s[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(urt_spawn(&s[i], one_send, (void *)(intptr_t)(10 + i), NULL), 0);
	urt_yield();
	cr_expect_eq(urt_chan_destroy(&g_c), -EBUSY, "destroy with parked senders");
	cr_expect_eq(urt_chan_close(&g_c), 0);
	for (int i = 0; i < 2; i++) {
		void *rr;
		cr_expect_eq(urt_join(s[i], &rr), 0);
		cr_expect_eq((intptr_t)rr, -EPIPE, "a parked sender woken by close");
	}
	cr_expect_eq(urt_chan_len(&g_c), 1, "a sender woken by close still delivered");
	cr_expect_eq(urt_chan_recv(&g_c, &v), 0);
	cr_expect_eq(v, 1);
	cr_expect_eq(urt_chan_recv(&g_c, &v), -EPIPE);
	cr_expect_eq(urt_chan_destroy(&g_c), 0);
	return NULL;
}

Test(chan, close_wakes_waiters, .timeout = 10)
{
	urt_test_run(close_wakes, NULL);
}

/* try_recv takes from a parked sender's queue: the sender completes. */
static void *try_with_waiters(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_chan_init(&g_c, sizeof(int), 1), 0);
	int v = 5;
	cr_assert_eq(urt_chan_try_send(&g_c, &v), 0);
	urt_task *s;
	cr_assert_eq(urt_spawn(&s, one_send, (void *)(intptr_t)6, NULL), 0);
	urt_yield();
	cr_expect_eq(urt_chan_try_recv(&g_c, &v), 0);
	cr_expect_eq(v, 5);
	void *rr;
	cr_expect_eq(urt_join(s, &rr), 0);
	cr_expect_eq((intptr_t)rr, 0);
	cr_expect_eq(urt_chan_try_recv(&g_c, &v), 0);
	cr_expect_eq(v, 6, "the parked sender's item was lost");
	/* and a parked receiver is fed by try_send */
	urt_task *r;
	cr_assert_eq(urt_spawn(&r, one_recv, NULL, NULL), 0);
	urt_yield();
	v = 8;
	cr_expect_eq(urt_chan_try_send(&g_c, &v), 0);
	cr_expect_eq(urt_join(r, &rr), 0);
	cr_expect_eq((intptr_t)rr, 8);
	cr_expect_eq(urt_chan_len(&g_c), 0);
	cr_expect_eq(urt_chan_destroy(&g_c), 0);
	return NULL;
}

Test(chan, try_variants_with_waiters, .timeout = 10)
{
	urt_test_run(try_with_waiters, NULL);
}

static void *null_items(void *arg)
{
	(void)arg;
	urt_chan c;
	cr_assert_eq(urt_chan_init(&c, sizeof(int), 1), 0);
	int v = 0;
	cr_expect_eq(urt_chan_send(NULL, &v), -EINVAL);
	cr_expect_eq(urt_chan_recv(NULL, &v), -EINVAL);
	cr_expect_eq(urt_chan_send(&c, NULL), -EINVAL);
	cr_expect_eq(urt_chan_recv(&c, NULL), -EINVAL);
	cr_expect_eq(urt_chan_destroy(&c), 0);
	return NULL;
}

Test(chan, blocking_calls_bad_args, .timeout = 10)
{
	urt_test_run(null_items, NULL);
}
