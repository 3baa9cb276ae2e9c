package testenv

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProcessExitShowsLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "fake.log")
	p, err := startProcess(t, "fake", logPath, "/bin/sh", "-c", "echo 'Error: Address already in use' >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, p.exited, "fake server did not exit")
	if !p.addrInUse() {
		t.Error("addrInUse() = false for a server that says its address is in use")
	}
	msg := p.exitError().Error()
	if !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "Address already in use") {
		t.Errorf("exitError() = %q, want the exit status and the log", msg)
	}
}

func TestProcessStoppedAtCleanup(t *testing.T) {
	var p *process
	t.Run("user", func(t *testing.T) {
		var err error
		p, err = startProcess(t, "sleeper", filepath.Join(t.TempDir(), "sleep.log"), "/bin/sh", "-c", "exec sleep 600")
		if err != nil {
			t.Fatal(err)
		}
	})
	if p == nil {
		t.Fatal("process not started")
	}
	if !p.exited() {
		t.Fatal("process still runs after its test ended")
	}
}

func TestProgramKillIgnoresTraps(t *testing.T) {
	// A program that would finish its work on SIGTERM gets no chance to.
	p := StartProgram(t, "trapper", "/bin/sh", "-c", "trap 'echo clean; exit 0' TERM; echo up; while :; do sleep 0.05; done")
	Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "up") }, "program did not start")
	p.Kill()
	if !p.Exited() {
		t.Fatal("program runs after Kill")
	}
	if msg := p.ExitError().Error(); !strings.Contains(msg, "killed") || strings.Contains(p.Output(), "clean") {
		t.Errorf("exit %q, output %q: want killed without its clean shutdown", msg, p.Output())
	}
}

func TestProgramStopLetsItShutDown(t *testing.T) {
	p := StartProgram(t, "trapper", "/bin/sh", "-c", "trap 'echo clean; exit 0' TERM; echo up; while :; do sleep 0.05; done")
	Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "up") }, "program did not start")
	if p.Pid() <= 0 {
		t.Errorf("Pid() = %d", p.Pid())
	}
	p.Stop()
	if !p.Exited() || !strings.Contains(p.Output(), "clean") {
		t.Errorf("exited %v, output %q: want its clean shutdown", p.Exited(), p.Output())
	}
}
