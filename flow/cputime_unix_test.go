//go:build unix

package flow_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, user and system,
// on every thread: a measure of work that, unlike wall time, does not
// grow while other programs on a shared machine hold the cores.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
