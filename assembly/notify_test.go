package assembly

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/notify"
)

// TestFireNotifiesGuardianAndGridWorker: a fire in an elderly resident's
// home is texted (through an SMS gateway's webhook) to the guardian and to
// the zone's grid worker; the gateway fails the first attempt, the retry
// passes and the incident shows it. A receiver that hangs does not delay
// the incident reaching the console.
func TestFireNotifiesGuardianAndGridWorker(t *testing.T) {
	var mu sync.Mutex
	var texts []notify.SMS
	calls := 0
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify([]byte("gw-secret"), r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var m notify.SMS
		json.Unmarshal(body, &m)
		texts = append(texts, m)
	}))
	defer gateway.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hanging.Close()
	defer close(release)

	s := startServe(t, "", "", func(c *Config) {
		c.Dispatch.Notifiers = []notify.Config{
			{Name: "hangs", URL: hanging.URL, Secret: "x", Timeout: time.Minute},
			{Name: "sms", URL: gateway.URL, Format: notify.FormatSMS, Secret: "gw-secret", Types: []string{"fire"}, Events: []string{"opened"},
				Recipients: []string{"guardian", "grid_worker"}, Retry: notify.Retry{Attempts: 4, Backoff: 10 * time.Millisecond}},
		}
	})
	st := openStream(t, s.HTTPAddr)
	d := elderlyDetector(t, s.Registry)
	site, _ := s.Registry.Site(d.Site)
	zone, _ := s.Registry.Area(d.Zone())
	dev := connectDevices(t, s)
	start := time.Now()
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	in := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Event == "opened" }).Incident
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("alarm to console took %v with a hanging webhook", took)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(texts) == 2
	}, "guardian and grid worker texted")
	mu.Lock()
	to := map[string]string{}
	for _, m := range texts {
		to[m.Role] = m.To
		if m.Incident != in.ID || m.Text == "" {
			t.Errorf("text %+v", m)
		}
	}
	mu.Unlock()
	if to["guardian"] != site.Guardian.Phone || to["grid_worker"] != zone.GridWorker.Phone {
		t.Errorf("texted %v, want guardian %s and grid worker %s", to, site.Guardian.Phone, zone.GridWorker.Phone)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		var got contract.Incident
		getJSON(t, "http://"+s.HTTPAddr+"/api/v1/incidents/"+in.ID, &got)
		n := 0
		for _, dl := range got.Deliveries {
			if dl.Notifier == "sms" && dl.Status == contract.DeliveryDelivered {
				n++
			}
		}
		return n == 2
	}, "both texts shown as delivered on the incident")
}
