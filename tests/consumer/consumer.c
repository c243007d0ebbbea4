/* A program built against the *installed* urt, as C and as C++: a task
 * writes to a pipe and reads it back, logs through the log macros (which
 * call into the library: their symbols must be exported); prints
 * urt_version(). */
#include <urt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *roundtrip(void *arg)
{
	(void)arg;
	int p[2];
	if (pipe(p) != 0)
		return (void *)(intptr_t)1;
	const char msg[] = "consumer";
	char buf[sizeof msg];
	memset(buf, 0, sizeof buf);
	intptr_t bad = urt_write(p[1], msg, sizeof msg, URT_POS_CURRENT) != (ssize_t)sizeof msg;
	bad |= urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT) != (ssize_t)sizeof msg;
	bad |= memcmp(buf, msg, sizeof msg) != 0;
	urt_close(p[0]);
	urt_close(p[1]);
	URT_LOG_WARN("consumer: %d bytes through a pipe", (int)sizeof msg);
	return (void *)bad;
}

int main(void)
{
	urt_log_config lc;
	memset(&lc, 0, sizeof lc); /* defaults: stderr */
	if (urt_log_open(&lc) != 0)
		return 1;
	void *res = (void *)(intptr_t)1;
	int r = urt_run(roundtrip, NULL, NULL, &res);
	if (r != 0 || res != NULL) {
		fprintf(stderr, "consumer: urt_run %d (%s), result %ld\n", r, urt_strerror(r),
			(long)(intptr_t)res);
		return 1;
	}
	if (strcmp(urt_version(), URT_VERSION_STRING) != 0) {
		fprintf(stderr, "consumer: header %s, library %s\n", URT_VERSION_STRING, urt_version());
		return 1;
	}
	printf("urt %s\n", urt_version());
	return urt_log_close() < 0;
}
