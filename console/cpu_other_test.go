//go:build !unix

package console_test

import "time"

// cpuTime reports -1: the CPU time is read on Unix systems only.
func cpuTime() time.Duration { return -1 }
