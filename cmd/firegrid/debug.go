package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// debugFlag adds serve's --pprof flag.
func debugFlag(addr *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(addr, "pprof", "", "serve Go's profiler (/debug/pprof/) and a memory probe (/debug/memory) on this address, for benchmarks and profiling; default off; never expose it")
	}
}

// serveDebug serves Go's profiler and /debug/memory on addr until ctx is
// done. It returns the address it listens on.
func serveDebug(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--pprof %s: %w", addr, err)
	}
	// Contention on locks and waits of a millisecond or more are
	// sampled for /debug/pprof/mutex and /debug/pprof/block.
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(int(time.Millisecond))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/memory", func(w http.ResponseWriter, _ *http.Request) {
		m, err := residentAfterGC()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(m)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return ln.Addr().String(), nil
}

// memoryProbe is what /debug/memory answers.
type memoryProbe struct {
	// ResidentBytes is the process's resident set (VmRSS) after a
	// collection that returned what it could to the operating system.
	ResidentBytes int64  `json:"resident_bytes"`
	HeapInUse     uint64 `json:"heap_inuse_bytes"`
	StackInUse    uint64 `json:"stack_inuse_bytes"`
	Goroutines    int    `json:"goroutines"`
}

func residentAfterGC() (memoryProbe, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := residentBytes(os.Getpid())
	return memoryProbe{ResidentBytes: rss, HeapInUse: ms.HeapInuse, StackInUse: ms.StackInuse, Goroutines: runtime.NumGoroutine()}, err
}

// residentBytes reads a process's resident set (VmRSS) from /proc.
func residentBytes(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}
