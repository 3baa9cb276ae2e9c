package console_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/store"
)

// testOrg is the property company of the tests' property user.
const testOrg = "福寿街物业"

// testZone is the first zone of a station: the tests' grid worker's; its
// community is the tests' community user's.
func testZone(reg *devices.Registry, station string) string {
	for _, z := range reg.Areas(devices.LevelZone) {
		if z.Station == station {
			return z.ID
		}
	}
	return ""
}

// roleUser is the user of each role in these tests; its password is
// password(role).
func password(r access.Role) string { return "the secret of " + string(r) }

// secured serves the rig's console with a user of every role (a crew of
// station) kept in the store, sessions and failed log-ins in the store,
// and the rules admin.
func (r *rig) secured(station string, st *store.SQL) (*httptest.Server, *console.API) {
	r.t.Helper()
	ctx := context.Background()
	have, err := st.Users(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, role := range access.Roles {
		if len(have) > 0 {
			break // another instance on this store made them
		}
		h, err := access.HashPasswordCost(password(role), bcrypt.MinCost)
		if err != nil {
			r.t.Fatal(err)
		}
		u := access.User{Username: "u-" + string(role), Role: role, PasswordHash: h}
		switch role {
		case access.RoleCrew:
			u.Station = station
		case access.RoleGridWorker:
			u.Area = testZone(r.reg, station)
		case access.RoleCommunity:
			z, _ := r.reg.Area(testZone(r.reg, station))
			u.Area = z.Parent
		case access.RoleProperty:
			u.Org = testOrg
		}
		if err := st.SaveUser(ctx, u); err != nil {
			r.t.Fatal(err)
		}
	}
	auth, err := access.NewAuthWith(ctx, access.AuthOptions{UserStore: st, Sessions: st, Secret: []byte("shared"), Clock: r.clk,
		Cost: bcrypt.MinCost, Refresh: 200 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	rulesFile, _ := fs.ReadFile(configs.FS, "rules.yaml")
	if _, err := st.SaveRules(ctx, "rules.yaml", rulesFile, "test"); err != nil {
		r.t.Fatal(err)
	}
	api := &console.API{Auth: auth, Audit: st, Metrics: http.NotFoundHandler(),
		Rules: &console.RulesAdmin{Store: st, Control: contract.PublisherFunc(func(context.Context, ...contract.Record) error { return nil }),
			Read: func() (string, []byte, error) { return "rules.yaml", rulesFile, nil }}}
	return r.serve(api), api
}

func loginAs(t *testing.T, base, user, pw string) (int, console.LoginResponse, http.Header) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, pw)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr console.LoginResponse
	json.NewDecoder(resp.Body).Decode(&lr)
	return resp.StatusCode, lr, resp.Header
}

// do makes one request with a bearer token (none when empty) and returns
// the status; a stream's status is read from its headers.
func do(t *testing.T, method, url, token, body string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
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
	resp.Body.Close()
	return resp.StatusCode
}

// TestEveryRouteEveryRole walks every route of the API with every role
// (and with no token) and checks the answer against the table: who may
// call what is declared with each route, period changes and rules reloads
// are the administrator's and the 119 centre's only, and a route without
// a row here fails the test.
func TestEveryRouteEveryRole(t *testing.T) {
	r := newRig(t)
	d := smokeDetector(t, r.reg)
	in := raise(t, r.m, d, "sig-route", "fire", contract.SeverityCritical)
	r.relay()
	srv, api := r.secured(d.Station(), r.store)
	// A hazard in the crew's, the grid worker's and the community's scope,
	// with a photo, dispatched to the property company.
	site := siteOfZone(t, r.reg, testZone(r.reg, d.Station()))
	dispatched := dispatchedHazard(t, r, site, testOrg)
	hzPhoto := dispatched.Photos[0].ID

	const (
		crew, c119, sub, admin = access.RoleCrew, access.RoleCenter119, access.RoleSubdistrict, access.RoleAdmin
		grid, comm, prop       = access.RoleGridWorker, access.RoleCommunity, access.RoleProperty
	)
	// ok is the answer of each role that may call a route (every other
	// role gets 403, no token 401); a public route answers everyone the
	// same.
	type row struct {
		path, body string
		public     int // a public route's answer to anyone
		ok         map[access.Role]int
	}
	all := func(code int, roles ...access.Role) map[access.Role]int {
		m := map[access.Role]int{}
		for _, r := range roles {
			m[r] = code
		}
		return m
	}
	operations := []access.Role{crew, c119, sub}
	viewers := []access.Role{crew, c119, sub, admin}
	everyone := access.Roles
	inc := "/api/v1/incidents/" + in.ID
	hazardViewers := []access.Role{crew, c119, sub, grid, comm, prop}
	reporters := []access.Role{crew, sub, grid, comm, prop}
	desk := []access.Role{sub, comm}
	inspectors := []access.Role{sub, grid, comm, prop}
	supervisors := []access.Role{c119, sub, comm, grid}
	hz := "/api/v1/hazards/" + dispatched.ID
	photo := "/api/v1/photos/" + hzPhoto
	table := map[string]row{
		"POST /api/v1/login":                  {body: `{"username":"nobody","password":"x"}`, public: 401},
		"GET /healthz":                        {public: 200},
		"GET /metrics":                        {public: 404},
		"POST /api/v1/logout":                 {body: `{}`, ok: all(200, everyone...)},
		"GET /api/v1/me":                      {ok: all(200, everyone...)},
		"POST /api/v1/password":               {body: `{"current":"wrong","new":"a new long secret 1"}`, ok: all(400, everyone...)},
		"GET /api/v1/incidents":               {ok: all(200, operations...)},
		"GET /api/v1/incidents/{id}":          {path: inc, ok: all(200, operations...)},
		"GET /api/v1/incidents/{id}/context":  {path: inc + "/context", ok: all(200, operations...)},
		"POST /api/v1/incidents/{id}/ack":     {path: inc + "/ack", body: `{"outcome":"x","note":"","by":"","bad":1}`, ok: all(400, operations...)},
		"POST /api/v1/incidents/{id}/arrive":  {path: inc + "/arrive", body: `{"bad":1}`, ok: all(400, operations...)},
		"POST /api/v1/incidents/{id}/resolve": {path: inc + "/resolve", body: `{}`, ok: all(400, operations...)},
		"GET /api/v1/stream":                  {ok: all(200, operations...)},
		"GET /api/v1/cap":                     {ok: all(200, operations...)},
		"GET /api/v1/cap/{id}":                {path: "/api/v1/cap/" + in.ID, ok: all(200, operations...)},
		"GET /api/v1/map":                     {ok: all(200, viewers...)},
		"GET /api/v1/devices":                 {ok: all(200, viewers...)},
		"GET /api/v1/stations":                {ok: all(200, viewers...)},
		"GET /api/v1/zones":                   {ok: all(200, viewers...)},
		"GET /api/v1/registry/gaps":           {ok: all(200, viewers...)},
		"GET /api/v1/deadletters":             {ok: all(200, viewers...)},
		"GET /api/v1/notifications":           {ok: all(200, c119, sub, admin)},
		"GET /api/v1/reports/stations":        {ok: all(200, viewers...)},
		"GET /api/v1/reports/communities":     {ok: all(200, c119, sub, admin)},
		"GET /api/v1/audit":                   {ok: all(200, c119, sub, admin)},
		"GET /api/v1/rules":                   {ok: all(200, viewers...)},
		"GET /api/v1/period":                  {ok: all(200, viewers...)},
		"POST /api/v1/rules/reload":           {body: `{}`, ok: all(200, c119, admin)},
		"PUT /api/v1/period":                  {body: `{"period":"","reason":"back to the calendar"}`, ok: all(200, c119, admin)},

		// Each step is refused by the hazard's state or the body, the
		// same for every role that may take it, so that the walk changes
		// nothing.
		"GET /api/v1/hazards":                {ok: all(200, hazardViewers...)},
		"POST /api/v1/hazards":               {body: `{"category":"aliens","description":"x","site":"` + site + `"}`, ok: all(400, reporters...)},
		"GET /api/v1/hazards/categories":     {ok: all(200, hazardViewers...)},
		"GET /api/v1/hazards/{id}":           {path: hz, ok: all(200, hazardViewers...)},
		"POST /api/v1/hazards/{id}/register": {path: hz + "/register", body: `{}`, ok: all(409, desk...)},
		"POST /api/v1/hazards/{id}/dispatch": {path: hz + "/dispatch", body: `{"responsible":{"kind":"landlord"}}`, ok: all(400, desk...)},
		"POST /api/v1/hazards/{id}/deadline": {path: hz + "/deadline", body: `{}`, ok: all(400, desk...)},
		"POST /api/v1/hazards/{id}/rectify":  {path: hz + "/rectify", body: `{}`, ok: all(400, sub, grid, comm, prop)},
		"POST /api/v1/hazards/{id}/verify":   {path: hz + "/verify", body: `{}`, ok: all(409, sub, grid, comm)},
		"POST /api/v1/hazards/{id}/close":    {path: hz + "/close", body: `{}`, ok: all(409, desk...)},
		"POST /api/v1/hazards/{id}/reopen":   {path: hz + "/reopen", body: `{"note":"x"}`, ok: all(409, desk...)},
		"POST /api/v1/hazards/{id}/reject":   {path: hz + "/reject", body: `{"note":"x"}`, ok: all(409, desk...)},
		"POST /api/v1/hazards/{id}/handover": {path: hz + "/handover", body: `{}`, ok: all(400, sub)},
		"GET /api/v1/photos/{id}":            {path: photo, ok: all(200, hazardViewers...)},
		"GET /api/v1/sites":                  {ok: all(200, reporters...)},
		"GET /api/v1/lists/{list}":           {path: "/api/v1/lists/responsibility", ok: all(200, supervisors...)},
		"GET /api/v1/reports/hazards":        {ok: all(200, c119, sub, admin, comm)},
		"GET /api/v1/inspections/plans":      {ok: all(200, c119, sub, comm, grid, prop)},
		"POST /api/v1/inspections/plans":     {body: `{"id":"Bad Id","scope":"` + testCommunity(r.reg, d.Station()) + `"}`, ok: all(400, desk...)},
		"GET /api/v1/inspections/rounds":     {ok: all(200, inspectors...)},
		"POST /api/v1/inspections/checkins":  {body: `{"plan":"no-such-plan"}`, ok: all(404, inspectors...)},
		"GET /api/v1/inspections/checkins":   {ok: all(200, c119, sub, comm, grid, prop)},
		"GET /api/v1/inspections/coverage":   {ok: all(200, supervisors...)},
		"POST /api/v1/workorders/{channel}":  {path: "/api/v1/workorders/12345", body: `{"order_id":"1"}`, public: 401},
	}
	routes := api.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		tc, ok := table[key]
		if !ok {
			t.Errorf("route %s has no row in the table: say who may call it", key)
			continue
		}
		if tc.path == "" {
			tc.path = rt.Pattern
		}
		if rt.Public != (tc.public != 0) {
			t.Errorf("%s: public %v, the table says otherwise", key, rt.Public)
		}
		if rt.Public {
			if code := do(t, rt.Method, srv.URL+tc.path, "", tc.body); code != tc.public {
				t.Errorf("%s (public): %d, want %d", key, code, tc.public)
			}
			continue
		}
		if code := do(t, rt.Method, srv.URL+tc.path, "", tc.body); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", key, code)
		}
		for _, role := range access.Roles {
			// A fresh session for every call: logging out or changing a
			// password ends it.
			code, lr, _ := loginAs(t, srv.URL, "u-"+string(role), password(role))
			if code != 200 {
				t.Fatalf("log in as %s: %d", role, code)
			}
			want, allowed := tc.ok[role]
			if !allowed {
				want = http.StatusForbidden
			}
			if slices.Contains(rt.Roles, role) != allowed {
				t.Errorf("%s: the route's roles %v and the table disagree about %s", key, rt.Roles, role)
			}
			if got := do(t, rt.Method, srv.URL+tc.path, lr.Token, tc.body); got != want {
				t.Errorf("%s as %s: %d, want %d", key, role, got, want)
			}
		}
	}
	for key := range table {
		if !seen[key] {
			t.Errorf("the table has %s, the API does not", key)
		}
	}
	// Refusals are audited with the role and the route.
	var audit struct{ Audit []access.AuditEntry }
	_, lr, _ := loginAs(t, srv.URL, "u-center119", password(c119))
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+lr.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&audit)
	resp.Body.Close()
	if !slices.ContainsFunc(audit.Audit, func(e access.AuditEntry) bool {
		return e.Username == "u-crew" && e.Action == "PUT /api/v1/period" && !e.Allowed
	}) {
		t.Error("a crew's refused period change is not in the audit log")
	}
}

// TestLoginThrottledAndAudited: thirty wrong passwords in a row: the
// first five are 401, then 429 with Retry-After, also for the right
// password, on a second instance sharing the store too; every attempt is
// audited, and no password (nor a password typed as a user name) is.
func TestLoginThrottledAndAudited(t *testing.T) {
	r := newRig(t)
	srv, _ := r.secured("MFS-1", r.store)
	other, _ := r.secured("MFS-1", r.store) // another alarm instance on the same store
	var codes []int
	for range 30 {
		code, _, h := loginAs(t, srv.URL, "u-center119", "wrong guess number")
		codes = append(codes, code)
		if code == 429 {
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After %q", h.Get("Retry-After"))
			}
		}
	}
	for i, c := range codes {
		if want := map[bool]int{true: 401, false: 429}[i < 5]; c != want {
			t.Fatalf("attempt %d: %d, want %d (all: %v)", i+1, c, want, codes)
		}
	}
	if code, _, _ := loginAs(t, other.URL, "u-center119", password(access.RoleCenter119)); code != 429 {
		t.Errorf("the right password on another instance while locked: %d, want 429", code)
	}
	r.clk.Advance(16 * time.Minute)
	if code, _, _ := loginAs(t, other.URL, "u-center119", password(access.RoleCenter119)); code != 200 {
		t.Errorf("after the lock: %d, want 200", code)
	}
	loginAs(t, srv.URL, "the secret of admin", "guess") // a password typed as the user name
	entries, err := r.store.Audits(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	refused, throttled := 0, 0
	for _, e := range entries {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "wrong guess") || strings.Contains(string(b), "the secret of") {
			t.Errorf("a password is in the audit log: %s", b)
		}
		if e.Action == "login" && !e.Allowed {
			refused++
			if strings.Contains(e.Detail, "throttled") {
				throttled++
			}
		}
	}
	if refused != 32 || throttled != 26 {
		t.Errorf("audited %d refused log-ins (%d throttled), want 32 (26)", refused, throttled)
	}
}

// TestLogoutAndPasswordChangeRevokeEverywhere: two alarm instances share a
// store (SQLite, and PostgreSQL as the scaled-out alarm role runs); a
// log-out on one ends the session on the other within 2 s; a password
// change ends every older session on both within 2 s; a session expires.
func TestLogoutAndPasswordChangeRevokeEverywhere(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (*store.SQL, *store.SQL){
		"sqlite": func(t *testing.T) (*store.SQL, *store.SQL) {
			path := filepath.Join(t.TempDir(), "shared.db")
			a, err := store.OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := store.OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		},
		"postgres": func(t *testing.T) (*store.SQL, *store.SQL) {
			dsn := testenv.Postgres(t)
			var out [2]*store.SQL
			for i := range out {
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				if out[i], err = store.New(context.Background(), db, store.Postgres); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { out[i].Close() })
			}
			return out[0], out[1]
		},
	} {
		t.Run(name, func(t *testing.T) {
			sa, sb := open(t)
			r := newRig(t)
			a, _ := r.secured("MFS-1", sa)
			b, _ := r.secured("MFS-1", sb)
			_, s1, _ := loginAs(t, a.URL, "u-subdistrict", password(access.RoleSubdistrict))
			_, s2, _ := loginAs(t, a.URL, "u-subdistrict", password(access.RoleSubdistrict))
			if code := do(t, "GET", b.URL+"/api/v1/me", s1.Token, ""); code != 200 {
				t.Fatalf("the other instance refuses the session: %d", code)
			}
			if code := do(t, "POST", a.URL+"/api/v1/logout", s1.Token, "{}"); code != 200 {
				t.Fatalf("log-out: %d", code)
			}
			start := time.Now()
			testenv.Eventually(t, 2*time.Second, func() bool { return do(t, "GET", b.URL+"/api/v1/me", s1.Token, "") == 401 },
				"a logged-out session still works on the other instance")
			t.Logf("log-out reached the other instance in %v", time.Since(start).Round(time.Millisecond))
			if code := do(t, "GET", a.URL+"/api/v1/me", s1.Token, ""); code != 401 {
				t.Errorf("a logged-out session works where it logged out: %d", code)
			}
			if code := do(t, "GET", b.URL+"/api/v1/me", s2.Token, ""); code != 200 {
				t.Errorf("another session ended with the log-out: %d", code)
			}

			// A password change on b: s2 ends on both, the new session works
			// on both, the weak and the wrong are refused.
			if code := do(t, "POST", b.URL+"/api/v1/password", s2.Token, `{"current":"`+password(access.RoleSubdistrict)+`","new":"short"}`); code != 400 {
				t.Errorf("a weak new password: %d, want 400", code)
			}
			req, _ := http.NewRequest("POST", b.URL+"/api/v1/password", strings.NewReader(`{"current":"`+password(access.RoleSubdistrict)+`","new":"a brand new secret 2"}`))
			req.Header.Set("Authorization", "Bearer "+s2.Token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var s3 console.LoginResponse
			json.NewDecoder(resp.Body).Decode(&s3)
			resp.Body.Close()
			if resp.StatusCode != 200 || s3.Token == "" {
				t.Fatalf("password change: %d", resp.StatusCode)
			}
			start = time.Now()
			testenv.Eventually(t, 2*time.Second, func() bool { return do(t, "GET", a.URL+"/api/v1/me", s2.Token, "") == 401 },
				"an older session still works on the other instance after the password changed")
			t.Logf("the password change reached the other instance in %v", time.Since(start).Round(time.Millisecond))
			testenv.Eventually(t, 2*time.Second, func() bool { return do(t, "GET", a.URL+"/api/v1/me", s3.Token, "") == 200 },
				"the new session does not work on the other instance")
			if code, _, _ := loginAs(t, a.URL, "u-subdistrict", password(access.RoleSubdistrict)); code != 401 {
				t.Errorf("the old password on the other instance: %d, want 401", code)
			}
			// Sessions expire.
			r.clk.Advance(13 * time.Hour)
			if code := do(t, "GET", a.URL+"/api/v1/me", s3.Token, ""); code != 401 {
				t.Errorf("a session after 13 hours: %d, want 401", code)
			}
		})
	}
}
