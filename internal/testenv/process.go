package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logTail is how much of a server's log is shown when a test fails.
const logTail = 16 << 10

// process is a server started for one test. Its output goes to a file so
// that it can be shown when the test fails.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

// startProcess starts bin with args in the directory of logPath (so that
// relative paths in its configuration land in the test's temporary
// directory), its stdout and stderr going to logPath. The process is killed
// in t.Cleanup, after its log has been shown if the test failed.
func startProcess(t testing.TB, name, logPath, bin string, args ...string) (*process, error) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: %s log (%s):\n%s", name, logPath, p.log())
		}
	})
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the process and waits for it. Test servers keep their data in
// the test's temporary directory, so nothing is lost by not shutting down
// gracefully, and killing is what keeps cleanup fast.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// terminate sends SIGTERM, so that the process shuts down as it does
// when an administrator stops it, and waits for it to end; after timeout
// it is killed.
func (p *process) terminate(timeout time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.stop()
	}
}

// log returns the end of the process's log.
func (p *process) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if len(b) > logTail {
		b = append([]byte("...\n"), b[len(b)-logTail:]...)
	}
	return string(bytes.TrimRight(b, "\n"))
}

// exitError describes why the process ended, with its log.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%v); log:\n%s", p.name, p.waitErr, p.log())
}

// addrInUse reports whether the process ended because its port was taken.
func (p *process) addrInUse() bool {
	return strings.Contains(strings.ToLower(p.log()), "address already in use")
}

// startAttempts is how often a server is started on a new port when the
// port it was given was taken in the meantime.
const startAttempts = 3
