/* The signal mask of urt's own threads (pool workers, the pool monitor,
 * the stall watchdog, the logger's writer), shared by core, offload and
 * log. */
#ifndef URT_SIGNALS_H
#define URT_SIGNALS_H

#include <signal.h>

/* Set the calling thread's mask to every signal but those a fault raises
 * in the thread itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP,
 * SIGSYS). Process-directed signals (SIGINT, SIGTERM, SIGPIPE ...) then go
 * to the application's threads, never to urt's; a fault still reaches its
 * handler (blocked, it would kill the process with no crash report and no
 * log flush). Returns the mask that was in place (restore it after a
 * pthread_create that was to inherit this one). */
sigset_t urt__block_async_signals(void);

#endif
