package assembly

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/notify"
	"github.com/firegrid/firegrid/simulator"
)

// TestHazardsEscalateInVirtualTime: serve on a virtual clock. A grid
// worker's hazard nobody dispatches is supervised by its community at
// 24 h and by the sub-district at 48 h; a dead detector's fault, sent as
// a device would, becomes an incident and a linked hazard of source
// device, which shows the incident's supervision at 24 h. Two virtual days
// take a moment.
func TestHazardsEscalateInVirtualTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := StartVirtual(ctx, DefaultConfig(), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	s := v.Processes[0]
	base := "http://" + s.HTTPAddr
	var det, home string
	for _, d := range s.Registry.Devices(contract.KindSmoke) {
		if d.Zone() == "Z-02" {
			det = d.ID
		}
		if d.Zone() == "Z-05" && home == "" {
			home = d.Site
		}
	}
	var h contract.Hazard
	if code, _ := call(t, "POST", base+"/api/v1/hazards", "", `{"category":"blocked_escape_route","description":"楼道堆满纸箱","site":"`+home+`","by":"gw-z05"}`, nil); code != 201 {
		t.Fatalf("report: %d", code)
	}
	var list struct{ Hazards []contract.Hazard }
	call(t, "GET", base+"/api/v1/hazards", "", "", &list)
	if len(list.Hazards) != 1 {
		t.Fatalf("hazards %d", len(list.Hazards))
	}
	h = list.Hazards[0]
	fault := fmt.Sprintf(`{"ts":%q,"seq":1,"event":"fault","values":{"battery_pct":3}}`, v.Clock.Now().UTC().Format(time.RFC3339Nano))
	if err := v.Publish(ctx, "fg/v1/smoke/"+det+"/event", 1, false, []byte(fault)); err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration) {
		t.Helper()
		// Move an hour at a time, as a virtual run moves from timer to
		// timer, and let firegrid settle after each.
		for end := v.Clock.Now().Add(d); v.Clock.Now().Before(end); {
			if err := v.Settle(ctx); err != nil {
				t.Fatal(err)
			}
			v.Clock.Set(minTime(v.Clock.Now().Add(time.Hour), end))
		}
		if err := v.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step(time.Minute)
	var dev []contract.Hazard
	testenv.Eventually(t, 5*time.Second, func() bool {
		var l struct{ Hazards []contract.Hazard }
		call(t, "GET", base+"/api/v1/hazards?source=device", "", "", &l)
		dev = l.Hazards
		return len(dev) == 1
	}, "the dead detector's ticket gets a hazard")
	if dev[0].Category != "dead_detector" || dev[0].Incident == "" || dev[0].Status != "registered" || dev[0].Zone != "Z-02" {
		t.Fatalf("device hazard %+v", dev[0])
	}
	start := time.Now()
	step(24*time.Hour + time.Minute)
	get := func(id string) contract.Hazard {
		var x contract.Hazard
		call(t, "GET", base+"/api/v1/hazards/"+id, "", "", &x)
		return x
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(get(h.ID).Supervision) == 1 }, "supervised at 24 h")
	if got := get(h.ID); got.Supervision[0] != "C-2" || !slices.Equal(got.Overdue, []string{"respond"}) {
		t.Errorf("after 24 h: %+v", got)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(get(dev[0].ID).Supervision) == 1 }, "the device hazard shows its incident's supervision")
	if got := get(dev[0].ID); got.Supervision[0] != "C-1" {
		t.Errorf("device hazard after 24 h: %+v", got.Supervision)
	}
	step(24 * time.Hour)
	testenv.Eventually(t, 5*time.Second, func() bool { return len(get(h.ID).Supervision) == 2 }, "supervised by the sub-district at 48 h")
	// The overdue list has it, and the silent devices' tickets (nothing
	// beat in these two days).
	var overdue struct{ Hazards []contract.Hazard }
	call(t, "GET", base+"/api/v1/hazards?overdue=true&limit=1000", "", "", &overdue)
	if !slices.ContainsFunc(overdue.Hazards, func(x contract.Hazard) bool { return x.ID == h.ID }) {
		t.Errorf("the overdue list lacks %s", h.ID)
	}
	t.Logf("two virtual days in %v", time.Since(start).Round(time.Millisecond))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// platform is the city's 12345 platform: it takes firegrid's status
// updates, checking their signature, and fails the first.
type platform struct {
	mu      sync.Mutex
	secret  []byte
	calls   int
	updates []contract.HazardChange
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if !notify.Verify(p.secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if p.calls == 1 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var c contract.HazardChange
	json.Unmarshal(body, &c)
	p.updates = append(p.updates, c)
}

// events are the updates of an order in the hazard's order: a retried
// update may arrive after a later one, and a platform orders them by the
// hazard's version.
func (p *platform) events(order string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var got []contract.HazardChange
	for _, c := range p.updates {
		if c.Hazard.Order != nil && c.Hazard.Order.ID == order {
			got = append(got, c)
		}
	}
	slices.SortFunc(got, func(a, b contract.HazardChange) int { return a.Hazard.Version - b.Hazard.Version })
	var out []string
	for _, c := range got {
		out = append(out, c.Event)
	}
	return out
}

// TestWorkOrderRoundTrip: the 12345 platform sends a signed order to
// serve, twice (a retry); one hazard opens; its status goes back to the
// platform, signed, through the notifier (retried when the platform is
// busy), as it is registered and dispatched, and the hazard shows the
// deliveries. A grid worker's own hazard does not go to the hotline.
func TestWorkOrderRoundTrip(t *testing.T) {
	pl := &platform{secret: []byte("firegrid to 12345")}
	srv := httptest.NewServer(pl)
	defer srv.Close()
	t.Setenv("FIREGRID_TEST_12345_SECRET", "12345 to firegrid")
	s := startServe(t, "", "", func(c *Config) {
		c.Hazards.Inbound = []hazard.Inbound{{Name: "12345", Source: "12345", SecretEnv: "FIREGRID_TEST_12345_SECRET"}}
		c.Dispatch.Notifiers = []notify.Config{{Name: "12345", URL: srv.URL, Format: notify.FormatHazard, Secret: "firegrid to 12345",
			Sources: []string{"12345"}, Retry: notify.Retry{Attempts: 5, Backoff: 20 * time.Millisecond}}}
	})
	base := "http://" + s.HTTPAddr
	var site string
	for _, x := range s.Registry.Sites() {
		if x.Zone == "Z-08" {
			site = x.ID
			break
		}
	}
	order := `{"order_id":"GD20261123-0042","category":"堵塞消防通道","title":"消防通道被占","description":"市民反映小区消防通道长期停放车辆",` +
		`"site":"` + site + `","caller":{"name":"赵女士","phone":"13700000000"}}`
	send := func() (int, WorkOrderAnswer) {
		req, _ := http.NewRequest("POST", base+"/api/v1/workorders/12345", strings.NewReader(order))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, notify.Sign([]byte("12345 to firegrid"), ts, []byte(order)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a WorkOrderAnswer
		json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	code, first := send()
	if code != 201 || first.Hazard.Category != "blocked_fire_lane" {
		t.Fatalf("order: %d %+v", code, first.Hazard)
	}
	if code, again := send(); code != 200 || !again.Duplicate || again.Hazard.ID != first.Hazard.ID {
		t.Errorf("the order again: %d %+v", code, again)
	}
	id := first.Hazard.ID
	call(t, "POST", base+"/api/v1/hazards/"+id+"/register", "", `{"by":"c-3"}`, nil)
	call(t, "POST", base+"/api/v1/hazards/"+id+"/dispatch", "", `{"by":"c-3","responsible":{"kind":"property","name":"钱塘物业"}}`, nil)
	call(t, "POST", base+"/api/v1/hazards", "", `{"category":"other","description":"x","site":"`+site+`","by":"gw"}`, nil)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !slices.Equal(pl.events("GD20261123-0042"), []string{"reported", "registered", "dispatched"}) {
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Equal(pl.events("GD20261123-0042"), []string{"reported", "registered", "dispatched"}) {
		var h contract.Hazard
		call(t, "GET", base+"/api/v1/hazards/"+id, "", "", &h)
		t.Fatalf("the platform got %v (%d calls); the hazard: %s, deliveries %+v", pl.events("GD20261123-0042"), pl.calls, h.Status, h.Deliveries)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		var h contract.Hazard
		call(t, "GET", base+"/api/v1/hazards/"+id, "", "", &h)
		n := 0
		for _, d := range h.Deliveries {
			if d.Status == contract.DeliveryDelivered && d.Notifier == "12345" {
				n++
			}
		}
		return n == 3
	}, "three deliveries shown on the hazard")
	pl.mu.Lock()
	n := len(pl.updates)
	pl.mu.Unlock()
	if n != 3 {
		t.Errorf("the platform got %d updates, want its order's three only", n)
	}
}

// WorkOrderAnswer is the answer to a work order, as a platform reads it.
type WorkOrderAnswer struct {
	Hazard    contract.Hazard `json:"hazard"`
	Duplicate bool            `json:"duplicate"`
}

// instant is a clock that never makes anyone wait: a people file played
// on it takes as long as its requests.
type instant struct {
	mu  sync.Mutex
	now time.Time
}

func (c *instant) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *instant) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// TestDemoPeopleWorkTheLoop: what the demo's people do, played against
// serve --demo as its printed users and its 12345 channel, goes through
// with nothing refused: a hazard from report to close by four people, a
// signed work order, a door-knocking round that finds a dead detector, a
// grid worker's report.
func TestDemoPeopleWorkTheLoop(t *testing.T) {
	s := startServe(t, "", "", func(c *Config) { c.Demo.Enabled = true })
	if !s.DemoOrders || len(s.DemoLogins) == 0 {
		t.Fatalf("the demo opened no 12345 channel or made no users")
	}
	p, err := LoadDemoPeople()
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, l := range s.DemoLogins {
		pw[l.Username] = l.Password
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := simulator.PlayPeople(ctx, p, simulator.PeopleTarget{BaseURL: "http://" + s.HTTPAddr, Passwords: pw,
		Secrets: map[string][]byte{DemoOrderChannel: []byte(DemoOrderSecret)}, Clock: &instant{now: time.Now()}})
	if err != nil || len(run.Failed) > 0 {
		t.Fatalf("refused: %v %v", run.Failed, err)
	}
	get := func(name string) *contract.Hazard {
		h, err := s.Hazards.Get(ctx, run.Hazards[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return h
	}
	lead := get("lead")
	var who []string
	for _, st := range lead.Steps {
		who = append(who, st.Action+" "+st.By)
	}
	if want := []string{"reported gw-z-04", "registered c-2", "dispatched c-2", "rectified property", "verified gw-z-04", "closed c-2"}; !slices.Equal(who, want) ||
		len(lead.Photos) != 2 {
		t.Errorf("the flying lead: %v, %d photos", who, len(lead.Photos))
	}
	if lane := get("lane"); lane.Source != "12345" || lane.Order.ID != "GD20261123-0001" || lane.Category != "blocked_fire_lane" {
		t.Errorf("the work order's hazard: %+v", lane)
	}
	found, _ := s.Hazards.List(ctx, hazard.Filter{Source: contract.SourceInspection})
	if len(found) != 1 || found[0].Site != "H-0005" || found[0].Category != "dead_detector" {
		t.Errorf("the round's hazard: %+v", found)
	}
	if b := get("batteries"); b.Status != "reported" || b.Zone != "Z-07" {
		t.Errorf("the batteries: %+v", b)
	}
}
