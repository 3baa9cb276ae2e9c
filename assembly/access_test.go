package assembly

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
)

// quickHash hashes at bcrypt's minimum cost, for speed.
func quickHash(t *testing.T, password string) string {
	t.Helper()
	h, err := access.HashPasswordCost(password, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call makes one API request with a bearer token (none when empty) and
// decodes a 200 answer into v.
func call(t *testing.T, method, url, token, body string, v any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, resp.Header
}

func login(t *testing.T, addr, user, password string) string {
	t.Helper()
	var lr console.LoginResponse
	code, h := call(t, "POST", "http://"+addr+"/api/v1/login", "", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password), &lr)
	if code != 200 || lr.Token == "" {
		t.Fatalf("login %s: %d", user, code)
	}
	if c := h.Get("Set-Cookie"); !strings.Contains(c, console.SessionCookie+"=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("login cookie %q", c)
	}
	return lr.Token
}

// TestAccessControl: log-in with hashed passwords from a users file; no
// token is 401; a crew sees and works its own station's incidents; another
// station's crew gets 403 (recorded) until the incident is escalated to
// it; the 119 centre sees everything.
func TestAccessControl(t *testing.T) {
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	d := elderlyDetector(t, reg)
	var next string
	for _, st := range reg.NearestStations(d.Location) {
		if st.ID != d.Station() {
			next = st.ID
			break
		}
	}
	users := filepath.Join(t.TempDir(), "users.yaml")
	for _, u := range []access.User{
		{Username: "crew-own", Role: access.RoleCrew, Station: d.Station()},
		{Username: "crew-next", Role: access.RoleCrew, Station: next},
		{Username: "c119", Role: access.RoleCenter119},
	} {
		u.PasswordHash = quickHash(t, "secret-of-"+u.Username)
		if err := access.AddUser(users, u); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Now())
	s := startServeWith(t, Options{Clock: clk}, "", "", func(c *Config) { c.Dispatch.Users = users })
	api := "http://" + s.HTTPAddr + "/api/v1"

	if code, h := call(t, "GET", api+"/incidents", "", "", nil); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d, want 401 with WWW-Authenticate", code)
	}
	if code, _ := call(t, "GET", api+"/incidents", "forged.token", "", nil); code != 401 {
		t.Fatalf("bad token: %d, want 401", code)
	}
	if code, _ := call(t, "POST", api+"/login", "", `{"username":"crew-own","password":"wrong"}`, nil); code != 401 {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	if code, _ := call(t, "GET", "http://"+s.HTTPAddr+"/", "", "", nil); code != 200 {
		t.Errorf("console page: %d, want 200 without a log-in", code)
	}
	own, other, center := login(t, s.HTTPAddr, "crew-own", "secret-of-crew-own"), login(t, s.HTTPAddr, "crew-next", "secret-of-crew-next"), login(t, s.HTTPAddr, "c119", "secret-of-c119")

	dev := connectDevices(t, s)
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	var list struct{ Incidents []contract.Incident }
	testenv.Eventually(t, 5*time.Second, func() bool {
		call(t, "GET", api+"/incidents", own, "", &list)
		return len(list.Incidents) == 1
	}, "the crew's incident in its queue")
	in := list.Incidents[0]
	if in.Deadlines == nil || in.Deadlines.Ack == nil {
		t.Fatalf("incident without deadlines: %+v", in.Deadlines)
	}
	if call(t, "GET", api+"/incidents", other, "", &list); len(list.Incidents) != 0 {
		t.Fatalf("another station's crew sees %d incidents", len(list.Incidents))
	}
	if call(t, "GET", api+"/incidents", center, "", &list); len(list.Incidents) != 1 {
		t.Fatalf("the 119 centre sees %d incidents", len(list.Incidents))
	}
	if code, _ := call(t, "GET", api+"/incidents/"+in.ID, other, "", nil); code != 403 {
		t.Errorf("other crew reads: %d, want 403", code)
	}
	if code, _ := call(t, "POST", api+"/incidents/"+in.ID+"/ack", other, `{}`, nil); code != 403 {
		t.Fatalf("other crew acks: %d, want 403", code)
	}
	var rep console.Report
	if code, _ := call(t, "GET", api+"/reports/stations", own, "", &rep); code != 200 || len(rep.Rows) != 1 || rep.Rows[0].ID != d.Station() {
		t.Errorf("crew's station report: %d %+v, want only %s", code, rep.Rows, d.Station())
	}
	if code, _ := call(t, "GET", api+"/reports/communities", own, "", nil); code != 403 {
		t.Errorf("crew reads community reports: %d, want 403", code)
	}
	if code, _ := call(t, "GET", api+"/reports/communities?format=csv", center, "", nil); code != 200 {
		t.Errorf("119 reads community reports: %d", code)
	}
	if code, _ := call(t, "GET", api+"/audit", other, "", nil); code != 403 {
		t.Errorf("crew reads the audit log: %d, want 403", code)
	}
	var audit struct{ Audit []access.AuditEntry }
	call(t, "GET", api+"/audit", center, "", &audit)
	found := false
	for _, e := range audit.Audit {
		if e.Username == "crew-next" && e.Action == "ack" && e.Target == in.ID && !e.Allowed {
			found = true
		}
	}
	if !found {
		t.Errorf("the refused ack is not in the audit log: %+v", audit.Audit)
	}

	// Nobody answers: at 60 s the incident goes to the next-nearest
	// station, whose crew may now see and acknowledge it.
	testenv.Eventually(t, 5*time.Second, func() bool { return clk.Waiters() > 0 }, "timer loop waiting")
	clk.Advance(61 * time.Second)
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, _ := call(t, "GET", api+"/incidents/"+in.ID, other, "", nil)
		return code == 200
	}, "escalated incident visible to the next station")
	var acked contract.Incident
	if code, _ := call(t, "POST", api+"/incidents/"+in.ID+"/ack", other, `{}`, &acked); code != 200 || acked.AckedAt == nil {
		t.Fatalf("escalated crew acks: %d", code)
	}
	last := acked.Steps[len(acked.Steps)-1]
	if last.Action != "acknowledged" || last.By != "crew-next" {
		t.Errorf("ack step %+v, want by crew-next", last)
	}
}

// TestCookieWritesMustBeJSON: a console's session cookie cannot be used by
// a form on a foreign page.
func TestCookieWritesMustBeJSON(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := access.AddUser(users, access.User{Username: "c119", Role: access.RoleCenter119, PasswordHash: quickHash(t, "pw-c119-long")}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "", "", func(c *Config) { c.Dispatch.Users = users })
	token := login(t, s.HTTPAddr, "c119", "pw-c119-long")
	req, _ := http.NewRequest("POST", "http://"+s.HTTPAddr+"/api/v1/incidents/INC-x/ack", strings.NewReader("note=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form post with the cookie: %d, want 415", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", "http://"+s.HTTPAddr+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: token})
	var me struct{ User access.Principal }
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me.User.Username != "c119" {
		t.Errorf("me with the cookie: %d %+v", resp.StatusCode, me.User)
	}
}
