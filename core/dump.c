/* urt_loop_dump: every task of a loop with its state, what it waits on,
 * its context's log fields and its backtrace. A suspended task's stack is
 * walked through its frame pointers (urt is built with
 * -fno-omit-frame-pointer), starting from the frame urt__ctx_jump left,
 * bounded by the task's stack; the walk ends at urt__ctx_start, whose
 * frame pointer is 0. */
#include "core_internal.h"
#include "urt_stats.h"

#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

#define URT_DUMP_FRAMES 32
#define URT_DUMP_FIELDS 16

static const char *state_name(const urt_loop *l, const urt_task *t)
{
	switch (t->state) {
	case URT_T_READY: /* or running: the state does not tell them apart */
		return t == __atomic_load_n(&l->current, __ATOMIC_RELAXED) ? "running" : "ready";
	case URT_T_PARKED: return "parked";
	case URT_T_DONE: return "done";
	default: return "free";
	}
}

/* Return addresses of a suspended task, innermost first; 0 if unknown. */
static int walk_suspended(const urt_task *t, void **pcs, int max)
{
#if !(defined(__x86_64__) || defined(__aarch64__)) || (defined(URT_CTX_UCONTEXT) && !defined(__x86_64__))
	(void)t, (void)pcs, (void)max;
	return 0;
#else
	if (!t->stack)
		return 0;
	void *lo_p;
	size_t size;
	urt__stack_bounds(t->stack, &lo_p, &size);
	uintptr_t lo = (uintptr_t)lo_p, hi = lo + size;
#if defined(URT_CTX_UCONTEXT)
	/* swapcontext saved the registers in the ucontext */
	const mcontext_t *mc = &t->regs.uc.uc_mcontext;
	const uintptr_t *sp = (const uintptr_t *)(uintptr_t)mc->gregs[REG_RSP];
	uintptr_t fp = (uintptr_t)mc->gregs[REG_RBP], pc = (uintptr_t)mc->gregs[REG_RIP];
#elif defined(__x86_64__)
	const uintptr_t *sp = t->regs.sp;
	if (!sp)
		return 0;
	/* [r15][r14][r13][r12][rbx][rbp][return address] */
	uintptr_t fp = sp[5], pc = sp[6];
#else
	const uintptr_t *sp = t->regs.sp;
	if (!sp)
		return 0;
	/* x19..x28, x29 (fp), x30 (lr), d8..d15 */
	uintptr_t fp = sp[10], pc = sp[11];
#endif
	int n = 0;
	while (pc && n < max) {
		pcs[n++] = (void *)pc;
		/* a frame record is [previous fp][return address], on this
		 * stack, above the last one */
		if (fp < (uintptr_t)sp || fp + 16 > hi || fp < lo || (fp & 7))
			break;
		const uintptr_t *rec = (const uintptr_t *)fp;
		pc = rec[1];
		if (rec[0] && rec[0] <= fp)
			break;
		fp = rec[0];
	}
	return n;
#endif
}

static void dump_backtrace(int fd, void **pcs, int n)
{
	char **sym = backtrace_symbols(pcs, n);
	for (int i = 0; i < n; i++)
		if (sym)
			dprintf(fd, "    #%d %s\n", i, sym[i]);
		else
			dprintf(fd, "    #%d %p\n", i, pcs[i]);
	free(sym);
}

/* The task's context log fields: ctx offers them for the current context
 * only, so point the current-context slot at the task's for the call (we
 * are on the loop thread; nothing else runs meanwhile). */
static void dump_fields(int fd, urt_task *t)
{
	if (!t->ctx)
		return;
	struct urt_ctx_field f[URT_DUMP_FIELDS];
	urt_ctx **saved = urt__ctx_cur;
	urt__ctx_cur = &t->ctx;
	unsigned n = urt__ctx_log_fields(f, URT_DUMP_FIELDS);
	urt__ctx_cur = saved;
	for (unsigned i = 0; i < n; i++) {
		if (f[i].kind & URT_CTXVAR_LOG_STRING)
			dprintf(fd, "  ctx %s=\"%s\"\n", f[i].name, (const char *)f[i].value);
		else
			dprintf(fd, "  ctx %s=%lld\n", f[i].name, (long long)f[i].value);
	}
}

static void dump_task(int fd, urt_loop *l, urt_task *t, uint64_t now)
{
	dprintf(fd, "task %llu \"%s\" %s%s%s%s", (unsigned long long)t->id, t->name,
		state_name(l, t), (t->flags & URT_TF_SYSTEM) ? " system" : "",
		(t->flags & URT_TF_DETACHED) ? " detached" : "",
		(t->flags & URT_TF_CANCELLED) ? " cancelled" : "");
	if (t->state == URT_T_PARKED) {
		dprintf(fd, " on %s", t->wait_what ? t->wait_what : "?");
		if (t->wait_fd >= 0)
			dprintf(fd, " fd %d for %llu ms", t->wait_fd,
				(unsigned long long)((now - t->wait_since) / URT_NS_PER_MS));
		if (t->wake_at != URT_NO_DEADLINE)
			dprintf(fd, " until +%lld ms", (long long)(t->wake_at - now) / (long long)URT_NS_PER_MS);
	}
	if (t->deadline != URT_NO_DEADLINE)
		dprintf(fd, " deadline +%lld ms", (long long)(t->deadline - now) / (long long)URT_NS_PER_MS);
	dprintf(fd, "\n");
	dump_fields(fd, t);
	void *pcs[URT_DUMP_FRAMES];
	int n;
	if (t == l->current)
		n = backtrace(pcs, URT_DUMP_FRAMES); /* the caller itself */
	else
		n = walk_suspended(t, pcs, URT_DUMP_FRAMES);
	dump_backtrace(fd, pcs, n);
}

int urt_loop_dump(urt_loop *l, int fd)
{
	if (!l)
		l = urt__loop();
	if (!l || l != urt__loop() || fd < 0)
		return -EINVAL;
	uint64_t now = urt__now(l);
	int n = 0;
	for (urt_task *t = l->all; t; t = t->all_next)
		n++;
	/* the first line by write(2) itself: its error is the one to report,
	 * and glibc's dprintf leaks its buffer when the write fails */
	char head[64];
	int len = snprintf(head, sizeof head, "urt: loop %llu: %d tasks\n", (unsigned long long)l->id, n);
	if (write(fd, head, (size_t)len) < 0)
		return -errno;
	for (urt_task *t = l->all; t; t = t->all_next)
		dump_task(fd, l, t, now);
	return n;
}
