package rules

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

var demoReg *devices.Registry

func demo(t testing.TB) *devices.Registry {
	t.Helper()
	if demoReg == nil {
		r, err := devices.LoadFS(configs.FS, "demo")
		if err != nil {
			t.Fatal(err)
		}
		demoReg = r
	}
	return demoReg
}

func shippedRules(t testing.TB) []byte {
	t.Helper()
	b, err := fs.ReadFile(configs.FS, "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// t0 is a Monday outside every calendar entry: the daily period.
var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// harness drives an engine on an injected clock: every reading and tick
// names its time as an offset from t0.
type harness struct {
	t   testing.TB
	e   *Engine
	reg *devices.Registry
	seq map[string]uint64
}

func newHarness(t testing.TB, rulesYAML []byte) *harness {
	t.Helper()
	cfg, err := Parse("rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	reg := demo(t)
	return &harness{t: t, e: NewEngine(cfg, reg, t0), reg: reg, seq: map[string]uint64{}}
}

// reading makes an accepted reading of m, sent at device time ts and
// received at recv.
func (h *harness) reading(m contract.Message, ts, recv time.Time) *contract.Reading {
	h.t.Helper()
	d, ok := h.reg.Device(m.Device)
	if !ok {
		h.t.Fatalf("no device %s", m.Device)
	}
	if m.Seq == 0 || m.Seq == 812 {
		h.seq[m.Device]++
		m.Seq = h.seq[m.Device]
	}
	m.TS = ts
	return &contract.Reading{ID: contract.ReadingID(m.Kind, m.Device, m.Seq, m.TS), Message: m, ReceivedAt: recv, Site: d.Site, Zone: d.Zone(),
		Community: d.Community(), Station: d.Station(), Location: d.Location}
}

func (h *harness) send(m contract.Message, off time.Duration) []contract.Signal {
	h.t.Helper()
	return h.e.Evaluate(h.reading(m, t0.Add(off), t0.Add(off)), nil)
}

func (h *harness) tick(off time.Duration) []contract.Signal { return h.e.Tick(t0.Add(off), nil) }

// of keeps the signals of one rule.
func of(sigs []contract.Signal, rule string) []contract.Signal {
	var out []contract.Signal
	for _, s := range sigs {
		if s.Rule == rule {
			out = append(out, s)
		}
	}
	return out
}

// actions summarises signals as "raise,clear".
func actions(sigs []contract.Signal) string {
	var a []string
	for _, s := range sigs {
		a = append(a, string(s.Action))
	}
	return strings.Join(a, ",")
}

// explained fails unless every signal says which rule and which message
// (or, for a silence, which device) made it.
func explained(t testing.TB, sigs []contract.Signal) {
	t.Helper()
	for _, s := range sigs {
		if s.Rule == "" || s.ID == "" || (s.Message == "" && s.Rule != "offline") || s.Period == "" {
			t.Errorf("signal without its why: %+v", s)
		}
	}
}

// siteWith finds a site with at least n smoke detectors.
func siteWith(t testing.TB, reg *devices.Registry, n int) []*devices.Device {
	t.Helper()
	for _, s := range reg.Sites() {
		var smoke []*devices.Device
		for _, d := range reg.SiteDevices(s.ID) {
			if d.Kind == contract.KindSmoke {
				smoke = append(smoke, d)
			}
		}
		if len(smoke) >= n {
			return smoke
		}
	}
	t.Fatalf("no site with %d smoke detectors", n)
	return nil
}

func replace(b []byte, old, new string) []byte {
	s := string(b)
	if !strings.Contains(s, old) {
		panic("rules fixture lacks " + old)
	}
	return []byte(strings.Replace(s, old, new, 1))
}
