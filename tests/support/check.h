/* Shared test helpers: run a body as a urt main task and check that the
 * process is left as clean as it was found (fds, mappings, threads). */
#ifndef URT_TEST_CHECK_H
#define URT_TEST_CHECK_H

#include <stdbool.h>
#include <urt.h>

/* Open file descriptors of this process right now. */
int urt_test_fd_count(void);
/* Memory mappings of this process right now (/proc/self/maps lines). */
int urt_test_map_count(void);
/* Threads of this process right now. */
int urt_test_thread_count(void);

/* Snapshot of the counts above, taken before a test body. */
typedef struct urt_test_baseline { int fds, maps, threads; } urt_test_baseline;
urt_test_baseline urt_test_baseline_take(void);
/* Criterion-assert that fds and mappings are back to the baseline
 * (threads: at most the baseline, after a short grace period). */
void urt_test_baseline_check(urt_test_baseline b);
/* Only fds and threads (for tests that start pool threads: glibc keeps
 * exited threads' stacks and malloc arenas mapped for the process's life). */
void urt_test_fds_threads_check(urt_test_baseline b);

/* urt_run(fn, arg) with default config, asserting it returns 0, and
 * checking the baseline afterwards. Returns the main task's result. */
void *urt_test_run(urt_task_fn fn, void *arg);
/* The same with a configuration (NULL = defaults). */
void *urt_test_run_cfg(urt_task_fn fn, void *arg, const urt_config *cfg);

/* urt_join(t, res) inside a deadline scope of ns: a join that would hang
 * (the bug under test) ends as -ETIME instead of the suite's timeout. */
int urt_test_join_within(urt_task *t, uint64_t ns, void **res);

/* True when the test runs under valgrind (tests/valgrind.sh). */
bool urt_test_under_valgrind(void);

/* Make a fresh directory under /tmp (mkdtemp); its path goes to buf
 * (at least 64 bytes). Remove it with urt_test_rmtree. */
void urt_test_tmpdir(char *buf, size_t len);
/* Remove a directory and everything under it (plain system calls). */
void urt_test_rmtree(const char *path);

/* Bytes readable on fd right now without blocking (FIONREAD). */
int urt_test_readable(int fd);

/* This process's thread id of the calling thread (gettid). */
int urt_test_tid(void);
/* A loopback TCP port nothing listens on right now (bound, then released). */
uint16_t urt_test_free_port(void);
/* CLOCK_MONOTONIC in ms: real time, whatever a loop's clock says (paused). */
uint64_t urt_test_mono_ms(void);
/* Wait until thread tid of this process is seen blocked in system call nr
 * (or nr2; -1: none) several times in a row (/proc/self/task/<tid>/syscall),
 * for at most timeout_ms. For a test thread that must act only once
 * another sleeps, where a fixed delay is a guess a loaded machine breaks.
 * Returns 1 once seen, 0 on time-out, -1 if the kernel cannot tell (the
 * caller then falls back to a delay). */
int urt_test_wait_in_syscall(int tid, long nr, long nr2, int timeout_ms);

/* Open the logger with a small ring (16 KiB, so producers soon wait for
 * room) writing into a pipe, without crash handlers; returns the pipe's
 * read end (the write end is the logger's: close ends it). */
int urt_test_log_open_pipe(void);

/* A task body: one urt_read of a byte from fd ((intptr_t)arg); returns
 * its result. With a pipe nobody writes, I/O that stays in flight. */
void *urt_test_read_byte(void *fd);

#endif
