package notify_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/notify"
	"github.com/firegrid/firegrid/store"
)

// receiver is a webhook endpoint that checks signatures and fails the
// first attempts.
type receiver struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	fail   int
	calls  int
	bodies [][]byte
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if !notify.Verify(rc.secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.calls <= rc.fail {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	rc.bodies = append(rc.bodies, body)
}

func (rc *receiver) got() (calls int, bodies [][]byte, bad int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls, append([][]byte(nil), rc.bodies...), rc.bad
}

// spy records every delivery status on the way to the manager.
type spy struct {
	next notify.Recorder
	mu   sync.Mutex
	seen []contract.Delivery
}

func (s *spy) RecordDelivery(ctx context.Context, id string, d contract.Delivery) error {
	s.mu.Lock()
	s.seen = append(s.seen, d)
	s.mu.Unlock()
	return s.next.RecordDelivery(ctx, id, d)
}

func fire(t *testing.T) (*alarm.Manager, *store.SQL, *contract.Incident) {
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
	m, err := alarm.NewManager(context.Background(), alarm.Options{Store: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range reg.Devices(contract.KindSmoke) {
		if site, _ := reg.Site(d.Site); site.Flags.ElderlyAlone && site.Guardian.Phone != "" {
			in, err := m.Apply(context.Background(), &contract.Signal{ID: "sig-1", Rule: "smoke-alarm", Action: contract.ActionRaise, Type: "fire",
				Severity: contract.SeverityCritical, Dispatchable: true, Kind: d.Kind, Device: d.ID, Site: d.Site, At: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return m, st, in
		}
	}
	t.Fatal("no elderly household with a guardian")
	return nil, nil, nil
}

// run starts a dispatcher and returns a stop that waits for it.
func run(t *testing.T, o notify.Options) (*notify.Dispatcher, func()) {
	t.Helper()
	if o.Poll == 0 {
		o.Poll = 10 * time.Millisecond
	}
	d, err := notify.NewDispatcher(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return d, stop
}

func handle(t *testing.T, d *notify.Dispatcher, c contract.IncidentChange) {
	t.Helper()
	if err := d.Handle(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookRetriesSignedAndRecorded: the receiver fails twice; the
// webhook retries with backoff, every attempt is signed, and the incident
// shows retrying, then delivered after three attempts.
func TestWebhookRetriesSignedAndRecorded(t *testing.T) {
	m, st, in := fire(t)
	rc := &receiver{t: t, secret: []byte("s3cret"), fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	routes, err := notify.Routes([]notify.Config{{Name: "province", URL: srv.URL, Secret: "s3cret",
		Retry: notify.Retry{Attempts: 5, Backoff: 5 * time.Millisecond}}}, capalert.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := &spy{next: m}
	d, _ := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: sp, Workers: 2})
	handle(t, d, contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in})
	handle(t, d, contract.IncidentChange{Event: "updated", At: in.OpenedAt, Incident: in}) // not selected by default
	testenv.Eventually(t, 10*time.Second, func() bool {
		got, _ := m.Get(context.Background(), in.ID)
		return len(got.Deliveries) == 1 && got.Deliveries[0].Status == contract.DeliveryDelivered
	}, "delivery recorded as delivered on the incident")
	got, _ := m.Get(context.Background(), in.ID)
	if dl := got.Deliveries[0]; dl.Attempts != 3 || dl.Notifier != "province" || dl.Event != "opened" || dl.Error != "" {
		t.Errorf("delivery %+v, want delivered on attempt 3", dl)
	}
	calls, bodies, bad := rc.got()
	if calls != 3 || bad != 0 || len(bodies) != 1 {
		t.Fatalf("receiver: %d calls, %d bad signatures, %d accepted", calls, bad, len(bodies))
	}
	var c contract.IncidentChange
	if err := json.Unmarshal(bodies[0], &c); err != nil || c.Incident.ID != in.ID || c.Event != "opened" {
		t.Errorf("body: %v %+v", err, c)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.seen) != 3 || sp.seen[0].Status != contract.DeliveryRetrying || sp.seen[0].Error == "" || sp.seen[2].Status != contract.DeliveryDelivered {
		t.Errorf("statuses %+v, want retrying, retrying, delivered", sp.seen)
	}
}

// TestWebhookGivesUp: a receiver that always fails ends as failed, with
// the error on the incident; a 4xx is not retried.
func TestWebhookGivesUp(t *testing.T) {
	m, st, in := fire(t)
	rc := &receiver{t: t, secret: []byte("right"), fail: 100}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	routes, _ := notify.Routes([]notify.Config{
		{Name: "down", URL: srv.URL, Secret: "right", Retry: notify.Retry{Attempts: 3, Backoff: time.Millisecond}},
		{Name: "wrong-secret", URL: srv.URL, Secret: "wrong", Retry: notify.Retry{Attempts: 3, Backoff: time.Millisecond}},
	}, capalert.DefaultConfig(), nil, nil)
	reg := prometheus.NewRegistry()
	d, _ := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Workers: 2, Registerer: reg})
	handle(t, d, contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in})
	testenv.Eventually(t, 10*time.Second, func() bool {
		got, _ := m.Get(context.Background(), in.ID)
		n := 0
		for _, dl := range got.Deliveries {
			if dl.Status == contract.DeliveryFailed {
				n++
			}
		}
		return n == 2
	}, "both deliveries failed")
	got, _ := m.Get(context.Background(), in.ID)
	for _, dl := range got.Deliveries {
		want := map[string]int{"down": 3, "wrong-secret": 1}[dl.Notifier]
		if dl.Attempts != want || dl.Error == "" {
			t.Errorf("%s: %d attempts (%q), want %d", dl.Notifier, dl.Attempts, dl.Error, want)
		}
	}
	// Given up is counted, and listed with why.
	if n := testutil.ToFloat64(gathered(t, reg, "firegrid_notifications_given_up_total", "down")); n != 1 {
		t.Errorf("given up (down) counted %v, want 1", n)
	}
	failed, err := st.Notifications(context.Background(), contract.NotificationFailed, 10)
	if err != nil || len(failed) != 2 || failed[0].Error == "" || failed[0].Subject != in.ID {
		t.Errorf("failed notifications listed: %v %+v", err, failed)
	}
}

// gathered is the value of a counter with one label value.
func gathered(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return nil
}

// TestRetriesAcrossARestart: the receiver is down when the fire opens; the
// process stops after the first attempt; the next process of the same
// instance takes the notification at once, tries it again after the
// backoff, and it is delivered once.
func TestRetriesAcrossARestart(t *testing.T) {
	m, st, in := fire(t)
	rc := &receiver{t: t, secret: []byte("s"), fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	routes, _ := notify.Routes([]notify.Config{{Name: "province", URL: srv.URL, Secret: "s",
		Retry: notify.Retry{Attempts: 5, Backoff: 200 * time.Millisecond}}}, capalert.DefaultConfig(), nil, nil)
	d, stop := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Instance: "alarm-1", Workers: 1})
	handle(t, d, contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in})
	testenv.Eventually(t, 5*time.Second, func() bool { calls, _, _ := rc.got(); return calls >= 1 }, "first attempt")
	stop()
	if calls, bodies, _ := rc.got(); calls != 1 || len(bodies) != 0 {
		t.Fatalf("before the restart: %d calls, %d delivered; want 1 failed attempt", calls, len(bodies))
	}
	run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Instance: "alarm-1", Workers: 1})
	testenv.Eventually(t, 10*time.Second, func() bool { _, bodies, _ := rc.got(); return len(bodies) == 1 }, "delivered after the restart")
	time.Sleep(300 * time.Millisecond)
	calls, bodies, _ := rc.got()
	if calls != 3 || len(bodies) != 1 {
		t.Errorf("%d calls, %d delivered; want 3 attempts and one delivery", calls, len(bodies))
	}
	got, _ := m.Get(context.Background(), in.ID)
	if len(got.Deliveries) != 1 || got.Deliveries[0].Status != contract.DeliveryDelivered || got.Deliveries[0].Attempts != 3 {
		t.Errorf("deliveries %+v, want delivered on attempt 3", got.Deliveries)
	}
}

// TestTakenOverFromAGoneProcess: a process dies in the middle of an
// attempt, holding the notification's lease. Another instance leaves it
// alone until the lease ends; the next process of the same instance takes
// it at once.
func TestTakenOverFromAGoneProcess(t *testing.T) {
	m, st, in := fire(t)
	hang := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-hang // the attempt of the process that dies
		}
	}))
	defer srv.Close()
	defer close(hang)
	routes, _ := notify.Routes([]notify.Config{{Name: "province", URL: srv.URL, Secret: "s"}}, capalert.DefaultConfig(), nil, nil)
	d, stop := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Instance: "alarm-1", Workers: 1})
	handle(t, d, contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in})
	testenv.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 }, "the first attempt hangs")
	stop() // gone in the middle of the attempt: nothing settled
	run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Instance: "alarm-2", Workers: 1})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if calls != 1 {
		t.Errorf("another instance took a notification whose lease holds: %d calls", calls)
	}
	mu.Unlock()
	run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, Instance: "alarm-1", Workers: 1})
	testenv.Eventually(t, 5*time.Second, func() bool {
		got, _ := m.Get(context.Background(), in.ID)
		return len(got.Deliveries) == 1 && got.Deliveries[0].Status == contract.DeliveryDelivered
	}, "delivered by the next process of alarm-1")
}

// TestKeptOnceAndBeforeHandleReturns: a change taken twice (the bus
// delivered it again) is one notification; Handle fails while the store
// cannot keep it, so the bus does not move past it.
func TestKeptOnceAndBeforeHandleReturns(t *testing.T) {
	m, st, in := fire(t)
	rc := &receiver{t: t, secret: []byte("s")}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	routes, _ := notify.Routes([]notify.Config{{Name: "province", URL: srv.URL, Secret: "s"}}, capalert.DefaultConfig(), nil, nil)
	d, _ := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m})
	c := contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in}
	handle(t, d, c)
	handle(t, d, c)
	testenv.Eventually(t, 5*time.Second, func() bool { _, b, _ := rc.got(); return len(b) == 1 }, "delivered")
	time.Sleep(200 * time.Millisecond)
	if calls, _, _ := rc.got(); calls != 1 {
		t.Errorf("a change taken twice was sent %d times", calls)
	}
	st.Close()
	if err := d.Handle(context.Background(), &c); err == nil {
		t.Error("Handle returned nil with the store closed")
	}
}

// TestCAPWebhook: the cap format posts a CAP 1.2 alert.
func TestCAPWebhook(t *testing.T) {
	_, _, in := fire(t)
	wh := &notify.Webhook{Format: notify.FormatCAP, CAP: capalert.DefaultConfig()}
	b, ctype, err := wh.Body(notify.Notification{Event: "opened", Incident: in})
	if err != nil || ctype != "application/cap+xml" {
		t.Fatal(err, ctype)
	}
	var a capalert.Alert
	if err := xml.Unmarshal(b, &a); err != nil || a.XMLName.Space != capalert.Namespace || a.Identifier == "" || len(a.Info) != 1 {
		t.Fatalf("CAP body: %v %+v", err, a)
	}
}

// TestHazardStatusGoesBackToThePlatform: a route of format hazard for
// source 12345 posts a work order's status changes, signed, retried, with
// the order's id; the delivery shows on the hazard. A grid worker's hazard
// and incident changes do not go there.
func TestHazardStatusGoesBackToThePlatform(t *testing.T) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "firegrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	l, err := hazard.New(ctx, hazard.Options{Store: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	site := reg.Sites()[0].ID
	order, _, err := l.Report(ctx, hazard.Report{Category: "blocked_fire_lane", Description: "占用消防通道", Site: site, Source: "12345", By: "12345",
		Order: &contract.WorkOrder{Channel: "12345", ID: "GD-7"}})
	if err != nil {
		t.Fatal(err)
	}
	own, _, _ := l.Report(ctx, hazard.Report{Category: "other", Description: "x", Site: site, By: "gw"})
	registered, _ := l.Act(ctx, order.ID, hazard.StepRegister, hazard.Step{By: "c-1"})

	rc := &receiver{t: t, secret: []byte("back to 12345"), fail: 1}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := notify.Config{Name: "12345", URL: srv.URL, Format: notify.FormatHazard, Secret: "back to 12345", Sources: []string{"12345"},
		Retry: notify.Retry{Attempts: 4, Backoff: 5 * time.Millisecond}}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	routes, err := notify.Routes([]notify.Config{cfg}, capalert.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _, in := fire(t)
	d, _ := run(t, notify.Options{Routes: routes, Outbox: st, Recorder: m, HazardRecorder: l, Workers: 2})
	handle(t, d, contract.IncidentChange{Event: "opened", At: in.OpenedAt, Incident: in})
	for _, c := range []contract.HazardChange{
		{Event: "reported", At: own.ReportedAt, Hazard: own},
		{Event: "registered", At: registered.UpdatedAt, Hazard: registered},
	} {
		if err := d.HandleHazard(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		h, _ := l.Get(ctx, order.ID)
		return len(h.Deliveries) == 1 && h.Deliveries[0].Status == contract.DeliveryDelivered
	}, "the status update shown as delivered on the hazard")
	calls, bodies, bad := rc.got()
	if calls != 2 || bad != 0 || len(bodies) != 1 {
		t.Fatalf("platform: %d calls, %d bad signatures, %d taken", calls, bad, len(bodies))
	}
	var c contract.HazardChange
	if err := json.Unmarshal(bodies[0], &c); err != nil || c.Event != "registered" || c.Hazard.Order.ID != "GD-7" || c.Hazard.Status != "registered" {
		t.Errorf("body: %v %+v", err, c)
	}
	if h, _ := l.Get(ctx, order.ID); h.Deliveries[0].Attempts != 2 || h.Deliveries[0].Notifier != "12345" {
		t.Errorf("delivery %+v", h.Deliveries[0])
	}
	if got, _ := m.Get(ctx, in.ID); len(got.Deliveries) != 0 {
		t.Errorf("an incident change went to the hazard route: %+v", got.Deliveries)
	}
	bad2 := notify.Config{Name: "x", URL: srv.URL, Format: notify.FormatJSON, Secret: "s", Sources: []string{"12345"}, Events: []string{"dispatched"}}
	bad2.Defaults()
	if err := bad2.Validate(); err == nil {
		t.Error("an incident webhook with sources and a hazard event was accepted")
	}
}
