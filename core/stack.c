/* Task stacks: mmap'd with a guard page below, pooled for reuse, and a
 * SIGSEGV handler that names the task whose stack overflowed. */
#include "core_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define URT_VALGRIND 1
#endif
#endif

size_t urt__page_size(void)
{
	/* racy first fill is harmless (every thread stores the same value),
	 * but make it a relaxed atomic so TSan agrees */
	static _Atomic size_t page;
	size_t p = atomic_load_explicit(&page, memory_order_relaxed);
	if (!p) {
		p = (size_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&page, p, memory_order_relaxed);
	}
	return p;
}

/* The stack record lives at the top of its own mapping. */
static urt_stack *stack_map(size_t size)
{
	if (urt__fault(URT_FAULT_STACK))
		return NULL;
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, urt__page_size(), PROT_NONE) != 0) {
		munmap(base, size);
		return NULL;
	}
	urt_stack *s = (urt_stack *)((char *)base + size) - 1;
	s->base = base;
	s->lo = (char *)base + urt__page_size();
	s->size = size;
	s->next_free = NULL;
	s->pins = 0;
	s->orphaned = false;
#ifdef URT_VALGRIND
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s);
#endif
	return s;
}

static void stack_unmap(urt_stack *s)
{
#ifdef URT_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	munmap(s->base, s->size);
}

size_t urt__stack_round(size_t size)
{
	size_t page = urt__page_size();
	if (size < 16 * 1024)
		size = 16 * 1024;
	if (size > SIZE_MAX - 2 * page)
		return 0; /* rounding would wrap to a guard page alone: no such mapping */
	return ((size + page - 1) & ~(page - 1)) + page; /* + guard */
}

/* The mapping size of a default stack: slot 0, set on first use. */
static size_t default_mapping(urt_loop *l)
{
	if (URT_UNLIKELY(!l->stack_pools[0].mapping))
		l->stack_pools[0].mapping = urt__stack_round(l->cfg.stack_size);
	return l->stack_pools[0].mapping;
}

/* The pool for stacks of this mapping size: slot 0 is the loop's default
 * size, the others are claimed by the first sizes seen (a server that
 * gives its connection tasks a smaller stack reuses those too). NULL when
 * every slot holds another size. */
static struct urt_stack_pool *pool_for(urt_loop *l, size_t mapping)
{
	default_mapping(l); /* slot 0 is always the default size */
	for (unsigned i = 0; i < URT_STACK_POOLS; i++) {
		struct urt_stack_pool *p = &l->stack_pools[i];
		if (p->mapping == mapping)
			return p;
		if (!p->mapping) {
			p->mapping = mapping;
			return p;
		}
	}
	return NULL;
}

int urt__stack_get_slow(urt_loop *l, size_t size, urt_stack **out)
{
	size_t mapping = size ? urt__stack_round(size) : default_mapping(l);
	if (!mapping)
		return -ENOMEM;
	struct urt_stack_pool *p = pool_for(l, mapping);
	if (p && p->free) {
		urt_stack *s = p->free;
		p->free = s->next_free;
		p->n--;
		*out = s;
		return 0;
	}
	*out = stack_map(mapping);
	return *out ? 0 : -ENOMEM;
}

void urt__stack_put_slow(urt_loop *l, urt_stack *s)
{
	struct urt_stack_pool *p = pool_for(l, s->size);
	if (p && p->n < l->cfg.stack_pool) {
		s->next_free = p->free;
		p->free = s;
		p->n++;
		return;
	}
	stack_unmap(s);
}

void urt__stack_pin(urt_stack *s)
{
	s->pins++;
}

void urt__stack_unpin(urt_loop *l, urt_stack *s)
{
	if (--s->pins == 0 && s->orphaned) {
		s->orphaned = false;
		urt__stack_put(l, s);
	}
}

void urt__stack_pool_drain(urt_loop *l)
{
	for (unsigned i = 0; i < URT_STACK_POOLS; i++) {
		struct urt_stack_pool *p = &l->stack_pools[i];
		while (p->free) {
			urt_stack *s = p->free;
			p->free = s->next_free;
			stack_unmap(s);
		}
		p->n = 0;
	}
}

/* ---- overflow detection ------------------------------------------------ */

static struct sigaction old_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;

static void say_overflow(const urt_task *t)
{
	char msg[160], *p = msg, *end = msg + sizeof msg - 1;
	p = urt__put_str(p, end, "urt: stack overflow in task ");
	p = urt__put_u64(p, end, t->id);
	p = urt__put_str(p, end, " \"");
	p = urt__put_str(p, end, t->name);
	p = urt__put_str(p, end, "\"; aborting\n");
	ssize_t w = write(STDERR_FILENO, msg, (size_t)(p - msg));
	(void)w;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	urt_loop *l = urt__loop();
	urt_task *t = l ? l->current : NULL;
	if (t && t->stack) {
		char *guard = t->stack->base, *addr = si->si_addr;
		/* the guard page, or just below it (a large frame can skip over) */
		if (addr < guard + urt__page_size() && addr + 64 * 1024 >= guard) {
			say_overflow(t);
			signal(SIGABRT, SIG_DFL);
			abort();
		}
	}
	/* not ours: hand over to whoever had SIGSEGV before */
	if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, si, uc);
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
	} else {
		signal(sig, SIG_DFL); /* the faulting instruction re-runs and kills us */
	}
}

static void install_segv(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
}

/* Each loop thread needs an alternate signal stack: the overflowed stack
 * has no room left for the handler. */
int urt__stack_thread_init(void **altstack)
{
	pthread_once(&segv_once, install_segv);
	stack_t cur;
	*altstack = NULL;
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
		return 0; /* the application already gave this thread one */
	size_t size = 64 * 1024;
	void *p = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(size);
	if (!p)
		return -ENOMEM;
	stack_t ss = {.ss_sp = p, .ss_size = size, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0) {
		free(p);
		return -errno;
	}
	*altstack = p;
	return 0;
}

void urt__stack_thread_fini(void *altstack)
{
	if (!altstack)
		return;
	stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	free(altstack);
}
