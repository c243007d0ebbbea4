/* The README's example: tasks, a deadline scope and io_uring file I/O. */
#include <urt.h>
#include <stdio.h>

static void *worker(void *arg) {            /* a task: plain blocking-style C */
	urt_sleep(10 * URT_NS_PER_MS);      /* parks this task only */
	return arg;
}

static void *main_task(void *arg) {
	urt_task *t[3];
	for (long i = 0; i < 3; i++)
		urt_spawn(&t[i], worker, (void *)i, NULL);
	urt_deadline d;                     /* blocking calls fail with -ETIME after 1 s */
	urt_deadline_enter(&d, 1 * URT_NS_PER_SEC);
	char buf[64];
	int fd = urt_openat(AT_FDCWD, arg, O_RDONLY, 0);
	ssize_t n = fd < 0 ? fd : urt_read(fd, buf, sizeof buf, 0);
	urt_deadline_exit(&d);
	printf("read: %zd (%s)\n", n, n < 0 ? urt_strerror((int)n) : "bytes");
	for (int i = 0; i < 3; i++) {
		void *r;
		urt_join(t[i], &r);
		printf("task %ld done\n", (long)r);
	}
	if (fd >= 0)
		urt_close(fd);
	return NULL;
}

int main(int argc, char **argv) {
	return urt_run(main_task, argc > 1 ? argv[1] : "/etc/hostname", NULL, NULL) < 0;
}
