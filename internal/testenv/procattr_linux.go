package testenv

import "syscall"

// childAttr makes a test server die with the test binary, so that a test
// binary killed by its timeout leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
