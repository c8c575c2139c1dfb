package stream

import "syscall"

// osYield is sched_yield: the thread goes behind the other threads ready
// on its core, once.
func osYield() { _, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
