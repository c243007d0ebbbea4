/* Fault-injection seams. In a build with URT_FAULT_INJECTION, every
 * allocation, stack mapping, ring set-up, SQE acquisition, io_uring_enter,
 * eventfd write and (un)registration of fixed files and buffers asks
 * urt__fault(site) first; a test can make the N-th
 * call at a site fail with a chosen -errno (tests/support/urt_fault.h).
 * URT_FAULT_SHORT halves the length of a read/write/recv/send/splice
 * request before it is submitted: a real short transfer, which those calls
 * document. In other builds urt__fault is 0. */
#ifndef URT_FAULT_H
#define URT_FAULT_H

enum urt_fault_site {
	URT_FAULT_ALLOC,      /* malloc/calloc of urt records */
	URT_FAULT_STACK,      /* mmap of a task stack */
	URT_FAULT_RING,       /* io_uring set-up */
	URT_FAULT_SQE,        /* SQE acquisition (forces a flush) */
	URT_FAULT_ENTER,      /* io_uring_enter */
	URT_FAULT_EVENTFD,    /* eventfd write */
	URT_FAULT_SHORT,      /* transfer length of read/write/recv/send/splice */
	URT_FAULT_REGISTER,   /* io_uring_register of fixed files and buffers */
	URT_FAULT_NSITES
};

#ifdef URT_FAULT_INJECTION
int urt__fault(enum urt_fault_site site);
#else
static inline int urt__fault(enum urt_fault_site site) { (void)site; return 0; }
#endif

#endif
