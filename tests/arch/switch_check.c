/* The hand-written context switch, checked on its own so it can run on
 * another architecture under qemu-user (tests/script_arch_switch.sh):
 * ping-pong, arguments delivered, callee-saved integer and FP registers
 * preserved across switches. */

#include "ctxsw.h"
#include <stdio.h>
#include <stdlib.h>
static urt_ctxsw m, c;
static long n;
static double fsum;
static void entry(void *a) {
	long k = (long)a;
	double d = 1.5;
	for (;;) { n += k; d *= 1.0000001; fsum = d; urt__ctx_jump(&c, &m); }
}
int main(void) {
	char *st = malloc(65536);
	urt__ctx_make(&c, st, 65536, entry, (void *)3);
	register long keep1 = 12345, keep2 = 67890;
	double dk = 2.25;
	for (int i = 0; i < 100000; i++) { urt__ctx_jump(&m, &c); dk += 0.5; }
	printf("n=%ld (want 300000) keep=%ld,%ld dk=%.2f fsum>1.5:%d\n", n, keep1, keep2, dk, fsum > 1.5);
	return n == 300000 && keep1 == 12345 && keep2 == 67890 && dk == 50002.25 ? 0 : 1;
}
