//go:build unix

package bus_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used, user and system: on
// a machine whose cores are shared, what a benchmark costs apart from the
// time it waited for a core.
func cpuTime() (time.Duration, bool) {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0, false
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), true
}
