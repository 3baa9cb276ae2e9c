package journal

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Faulty is the operating system's file system with faults a test can
// turn on, and hooks that see each write and sync: how a test shows that
// a sync comes before an acknowledgement, and what happens when the disk
// is full where the machine cannot give it a small disk of its own.
type Faulty struct {
	OS
	// Full makes writes fail with ENOSPC, after writing half of what
	// they were given (a torn record).
	Full atomic.Bool
	// SyncFails makes syncs fail with EIO.
	SyncFails atomic.Bool

	mu sync.Mutex
	// BeforeSync, when set, runs before each sync of a segment (a test
	// holds the sync there).
	BeforeSync func()
	// BeforeWriteFile, when set, runs before a small file (the
	// checkpoint) is written.
	BeforeWriteFile func()
	// Ops records "write" and "sync" in the order they happened.
	Ops []string
}

// OpenFile opens a file whose writes and syncs go through the faults.
func (f *Faulty) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

// WriteFile writes a small file, or fails as a full disk does.
func (f *Faulty) WriteFile(name string, data []byte, perm os.FileMode) error {
	f.mu.Lock()
	hook := f.BeforeWriteFile
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if f.Full.Load() {
		return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	}
	return f.OS.WriteFile(name, data, perm)
}

func (f *Faulty) record(op string) {
	f.mu.Lock()
	f.Ops = append(f.Ops, op)
	f.mu.Unlock()
}

// Recorded returns the operations so far.
func (f *Faulty) Recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Ops...)
}

type faultyFile struct {
	File
	fs *Faulty
}

func (f *faultyFile) Write(b []byte) (int, error) {
	if f.fs.Full.Load() {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	}
	n, err := f.File.Write(b)
	if err == nil {
		f.fs.record("write")
	}
	return n, err
}

func (f *faultyFile) Sync() error {
	f.fs.mu.Lock()
	hook := f.fs.BeforeSync
	f.fs.mu.Unlock()
	if hook != nil {
		hook()
	}
	if f.fs.SyncFails.Load() {
		return syscall.EIO
	}
	err := f.File.Sync()
	if err == nil {
		f.fs.record("sync")
	}
	return err
}

// SetBeforeSync sets the hook that runs before each sync.
func (f *Faulty) SetBeforeSync(hook func()) {
	f.mu.Lock()
	f.BeforeSync = hook
	f.mu.Unlock()
}

// SetBeforeWriteFile sets the hook that runs before a small file is
// written.
func (f *Faulty) SetBeforeWriteFile(hook func()) {
	f.mu.Lock()
	f.BeforeWriteFile = hook
	f.mu.Unlock()
}
