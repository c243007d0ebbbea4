/* USDT probes (provider "urt"): with URT_USDT each URT_PROBEn is a
 * DTRACE_PROBEn from <sys/sdt.h>: one nop in the code and a note in
 * .note.stapsdt that perf, bpftrace and gdb find. Arguments must be cheap
 * (they are evaluated even when nobody traces): integers and pointers.
 * Without URT_USDT they compile to nothing. See docs/profiling.md for the
 * list of probes and their arguments. */
#ifndef URT_PROBES_H
#define URT_PROBES_H

#ifdef URT_USDT
#include <sys/sdt.h>
#define URT_PROBE0(name) DTRACE_PROBE(urt, name)
#define URT_PROBE1(name, a) DTRACE_PROBE1(urt, name, a)
#define URT_PROBE2(name, a, b) DTRACE_PROBE2(urt, name, a, b)
#define URT_PROBE3(name, a, b, c) DTRACE_PROBE3(urt, name, a, b, c)
#else
#define URT_PROBE0(name) do { } while (0)
#define URT_PROBE1(name, a) do { (void)sizeof(a); } while (0)
#define URT_PROBE2(name, a, b) do { (void)sizeof(a); (void)sizeof(b); } while (0)
#define URT_PROBE3(name, a, b, c) do { (void)sizeof(a); (void)sizeof(b); (void)sizeof(c); } while (0)
#endif

#endif
