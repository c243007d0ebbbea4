/* harness/'s private view of other modules. */
#ifndef URT_HARNESS_INTERNAL_H
#define URT_HARNESS_INTERNAL_H

#include "urt_harness.h"

/* uring/process.c: how many children this thread's current loop still
 * owns unreaped (urt_process records never waited); the first max pids go
 * to pids. */
int urt__process_live(int *pids, int max);

#endif
