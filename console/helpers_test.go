package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/store"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// orderSecret signs the test 12345 platform's work orders.
const orderSecret = "the 12345 platform's secret"

// rig is the incident core on a real SQLite store and a fake clock, with
// a console whose stream is fed from the outbox, as the incidents topic
// would feed it.
type rig struct {
	t     *testing.T
	reg   *devices.Registry
	clk   *clock.Fake
	store *store.SQL
	m     *alarm.Manager
	hz    *hazard.Ledger
	hub   *console.Hub
}

func newRig(t *testing.T) *rig {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "firegrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(t0)
	m, err := alarm.NewManager(context.Background(), alarm.Options{Store: st, Registry: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	hz, err := hazard.New(context.Background(), hazard.Options{Store: st, Registry: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, reg: reg, clk: clk, store: st, m: m, hz: hz, hub: console.NewHub(clk)}
}

// serve starts the console over the rig; api may set more fields.
func (r *rig) serve(api *console.API) *httptest.Server {
	r.t.Helper()
	api.Manager, api.Registry, api.Hub, api.Clock = r.m, r.reg, r.hub, r.clk
	if api.Hazards == nil {
		api.Hazards = r.hz
	}
	if api.Inbound == nil {
		api.Inbound = []console.InboundChannel{{Name: "12345", Source: "12345", Secret: []byte(orderSecret)}}
	}
	if api.Audit == nil {
		api.Audit = r.store
	}
	srv := httptest.NewServer(api.Handler())
	r.t.Cleanup(srv.Close)
	return srv
}

// relay hands what the outbox holds to the console stream.
func (r *rig) relay() {
	r.t.Helper()
	for {
		n, err := r.store.RelayOutbox(context.Background(), 100, func(recs []contract.Record) error {
			for _, rec := range recs {
				if c, ok := rec.Value.(*contract.IncidentChange); ok {
					r.hub.HandleChange(context.Background(), c)
				}
			}
			return nil
		})
		if err != nil {
			r.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func raise(t *testing.T, m *alarm.Manager, d *devices.Device, id, typ string, sev contract.Severity) *contract.Incident {
	t.Helper()
	in, err := m.Apply(context.Background(), &contract.Signal{ID: id, Rule: "test-" + typ, Action: contract.ActionRaise, Type: typ,
		Severity: sev, Dispatchable: true, Kind: d.Kind, Device: d.ID, Site: d.Site, At: t0})
	if err != nil || in == nil {
		t.Fatalf("raise %s: %v", id, err)
	}
	return in
}

func smokeDetector(t *testing.T, reg *devices.Registry) *devices.Device {
	t.Helper()
	for _, d := range reg.Devices(contract.KindSmoke) {
		if site, _ := reg.Site(d.Site); site.Flags.ElderlyAlone {
			return d
		}
	}
	t.Fatal("no smoke detector in an elderly home")
	return nil
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
