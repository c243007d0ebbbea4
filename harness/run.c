/* The test runner: a body as a urt main task with a deadline, and a
 * report of what it left behind (tasks, fds, child processes). */
#include "harness_internal.h"
#include "core_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A growable set of small integers (fds, pids), kept unsorted. */
typedef struct intset {
	int *v;
	size_t n, cap;
} intset;

static int set_add(intset *s, int x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

static bool set_has(const intset *s, int x)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == x)
			return true;
	return false;
}

/* The numeric entries of a /proc directory, for which keep() is true. */
static int scan_numeric(const char *dir, intset *out, bool (*keep)(int))
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int x = atoi(e->d_name);
		if (x == self && !strcmp(dir, "/proc/self/fd"))
			continue;
		if ((!keep || keep(x)) && set_add(out, x) < 0) {
			closedir(d);
			return -ENOMEM;
		}
	}
	closedir(d);
	return 0;
}

/* Is pid a child of this process (any state, zombies included)? */
static bool is_child(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* comm may hold spaces and parens */
	int ppid;
	char state;
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return false;
	return ppid == getpid();
}

struct run {
	urt_task_fn body;
	void *arg;
	uint64_t timeout;
	urt_harness_report *rep;
};

/* Cancel and list every user task still alive but the caller, oldest
 * first (the loop's list is newest first). */
static void sweep_tasks(urt_harness_report *rep)
{
	urt_loop *l = urt__loop();
	urt_task *self = urt_self();
	urt_task *last = l->all;
	while (last && last->all_next)
		last = last->all_next;
	for (urt_task *t = last; t; t = t->all_prev) {
		if (t == self || (t->flags & URT_TF_SYSTEM))
			continue;
		if (t->state == URT_T_DONE || t->state == URT_T_FREE)
			continue;
		if (rep->tasks_left < URT_HARNESS_MAX_ITEMS)
			snprintf(rep->task_names[rep->tasks_left], sizeof rep->task_names[0], "%s",
				 t->name);
		rep->tasks_left++;
		urt_cancel(t);
	}
}

static void *run_main(void *arg)
{
	struct run *s = arg;
	urt_harness_report *rep = s->rep;
	urt_task *body;
	urt_task_opts o = {.name = "body"};
	int r = urt_spawn(&body, s->body, s->arg, &o);
	if (r < 0)
		return (void *)(intptr_t)r;
	urt_deadline d;
	urt_deadline_enter(&d, s->timeout);
	r = urt_join(body, &rep->result);
	urt_deadline_exit(&d);
	if (r == -ETIME) {
		rep->timed_out = 1;
		rep->result = NULL;
		sweep_tasks(rep); /* the body and everything it started */
		urt_join(body, NULL);
	} else {
		/* tasks on their last step may finish now; the rest leaked */
		for (int i = 0; i < 3; i++)
			urt_yield();
		sweep_tasks(rep);
	}
	/* children the loop would have to kill for the body */
	int n = urt__process_live(rep->children, URT_HARNESS_MAX_ITEMS);
	rep->children_left = (unsigned)n;
	return NULL;
}

static void diff_into(const intset *before, const intset *after, unsigned *count, int *items)
{
	for (size_t i = 0; i < after->n; i++) {
		if (set_has(before, after->v[i]))
			continue;
		if (*count < URT_HARNESS_MAX_ITEMS)
			items[*count] = after->v[i];
		(*count)++;
	}
}

int urt_harness_run(urt_task_fn body, void *arg, uint64_t timeout_ns, const urt_config *cfg,
		    urt_harness_report *rep)
{
	if (!body || !rep)
		return -EINVAL;
	if (urt_loop_current())
		return -EBUSY;
	memset(rep, 0, sizeof *rep);
	intset fds0 = {0}, fds1 = {0}, kids0 = {0}, kids1 = {0};
	int r = scan_numeric("/proc/self/fd", &fds0, NULL);
	if (r == 0)
		r = scan_numeric("/proc", &kids0, is_child);
	if (r == 0) {
		struct run s = {body, arg, timeout_ns, rep};
		void *res = NULL;
		rep->run_result = urt_run(run_main, &s, cfg, &res);
		if (rep->run_result == 0 && res)
			rep->run_result = (int)(intptr_t)res;
		r = scan_numeric("/proc/self/fd", &fds1, NULL);
		if (r == 0)
			r = scan_numeric("/proc", &kids1, is_child);
		if (r == 0) {
			diff_into(&fds0, &fds1, &rep->fds_left, rep->fds);
			diff_into(&kids0, &kids1, &rep->children_left, rep->children);
		}
	}
	free(fds0.v);
	free(fds1.v);
	free(kids0.v);
	free(kids1.v);
	return r;
}

int urt_harness_clean(const urt_harness_report *rep)
{
	if (!rep)
		return -EINVAL;
	return !rep->run_result && !rep->timed_out && !rep->tasks_left && !rep->fds_left &&
	       !rep->children_left;
}

/* Append ", N what (a, b)" for one kind of leftover. */
static void put_list(char *buf, size_t len, size_t *pos, unsigned n, const char *one,
		     const char *many, const int *nums, const char (*names)[32])
{
	if (!n)
		return;
	char tmp[1024];
	int k = snprintf(tmp, sizeof tmp, "%s%u %s left (", *pos ? "; " : "", n,
			 n > 1 ? many : one);
	unsigned shown = n < URT_HARNESS_MAX_ITEMS ? n : URT_HARNESS_MAX_ITEMS;
	for (unsigned i = 0; i < shown && k > 0 && (size_t)k < sizeof tmp; i++) {
		if (names)
			k += snprintf(tmp + k, sizeof tmp - (size_t)k, "%s%s", i ? ", " : "", names[i]);
		else
			k += snprintf(tmp + k, sizeof tmp - (size_t)k, "%s%d", i ? ", " : "", nums[i]);
	}
	if (k > 0 && (size_t)k < sizeof tmp)
		snprintf(tmp + k, sizeof tmp - (size_t)k, "%s)", shown < n ? ", ..." : "");
	size_t at = *pos < len ? *pos : len;
	*pos += (size_t)snprintf(buf + at, len - at, "%s", tmp);
}

int urt_harness_format(const urt_harness_report *rep, char *buf, size_t len)
{
	if (!rep || (!buf && len))
		return -EINVAL;
	char dummy[1];
	if (!len) {
		buf = dummy;
		len = 1;
	}
	buf[0] = '\0';
	size_t pos = 0;
	if (rep->run_result)
		pos += (size_t)snprintf(buf, len, "urt_run: %s", urt_strerror(rep->run_result));
	if (rep->timed_out) {
		size_t at = pos < len ? pos : len;
		pos += (size_t)snprintf(buf + at, len - at, "%stimed out", pos ? "; " : "");
	}
	put_list(buf, len, &pos, rep->tasks_left, "task", "tasks", NULL, rep->task_names);
	put_list(buf, len, &pos, rep->fds_left, "fd", "fds", rep->fds, NULL);
	put_list(buf, len, &pos, rep->children_left, "child", "children", rep->children, NULL);
	if (!pos) {
		size_t at = 0;
		pos += (size_t)snprintf(buf + at, len - at, "clean");
	}
	return (int)pos;
}
