package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Program is a program a test runs as a child process, such as a firegrid
// role started from its binary. Its stdout and stderr go to a log file in
// the test's temporary directory, shown when the test fails; it dies with
// the test binary and is killed when the test ends.
type Program struct {
	p *process
}

// StartProgram starts bin with args in a fresh temporary directory; name
// labels its log. It fails the test if the program cannot be started.
func StartProgram(t testing.TB, name, bin string, args ...string) *Program {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	p, err := startProcess(t, name, logPath, bin, args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
		return nil
	}
	return &Program{p: p}
}

// Kill sends SIGKILL, so that the program ends without any of its own
// shutdown, and waits for it to be gone.
func (p *Program) Kill() { p.p.stop() }

// Stop sends SIGTERM, so that the program shuts down as it does when an
// administrator stops it, and waits for it to be gone (it is killed if it
// takes more than 30 seconds).
func (p *Program) Stop() { p.p.terminate(30 * time.Second) }

// Pid is the program's process id: a test reaches what the program sees
// through /proc/PID (its mount namespace, for one).
func (p *Program) Pid() int { return p.p.cmd.Process.Pid }

// Exited reports whether the program has ended.
func (p *Program) Exited() bool { return p.p.exited() }

// ExitError describes why the program ended, with the end of its log.
func (p *Program) ExitError() error { return p.p.exitError() }

// Output returns everything the program has written so far.
func (p *Program) Output() string {
	b, _ := os.ReadFile(p.p.logPath)
	return string(b)
}
