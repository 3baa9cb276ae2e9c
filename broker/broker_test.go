package broker

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStartServesAndCountsDrops(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, err := Start("127.0.0.1:0", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || strings.HasSuffix(b.URL(), ":0") {
		t.Errorf("URL %s", b.URL())
	}
	// (MQTT clients connecting to it are the business of internal/app's
	// tests; a bare TCP connection closed while the broker closes trips a
	// race inside the broker library under -race.)
	n, err := testutil.GatherAndCount(reg, "firegrid_broker_inflight_dropped_total", "firegrid_broker_messages_dropped_total")
	if err != nil || n != 2 {
		t.Errorf("drop counters: %d series, %v", n, err)
	}
}

func TestStartOnAPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(ln.Addr().String(), nil, nil)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err %v, want EADDRINUSE", err)
	}
}
