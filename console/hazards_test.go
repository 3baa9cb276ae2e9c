package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/notify"
)

func jpegPhoto(t testing.TB) []byte { return jpegOf(t, 255) }

// jpegOf is a small JPEG; different reds make different photos.
func jpegOf(t testing.TB, red uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := range 16 {
		img.Set(x, 3, color.RGBA{red, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// siteOfZone is a household of a zone.
func siteOfZone(t testing.TB, reg *devices.Registry, zone string) string {
	t.Helper()
	for _, s := range reg.Sites() {
		if s.Zone == zone && s.Type == contract.SiteHousehold {
			return s.ID
		}
	}
	t.Fatalf("no household in zone %q", zone)
	return ""
}

// testCommunity is the community of a station's first zone.
func testCommunity(reg *devices.Registry, station string) string {
	z, _ := reg.Area(testZone(reg, station))
	return z.Parent
}

// dispatchedHazard reports a hazard with a photo at site, registers it and
// dispatches it to a property company.
func dispatchedHazard(t testing.TB, r *rig, site, org string) *contract.Hazard {
	t.Helper()
	ctx := context.Background()
	h, _, err := r.hz.Report(ctx, hazard.Report{Category: "blocked_escape_route", Description: "楼道堆放杂物", Site: site, By: "gw",
		Photos: []hazard.Upload{{Name: "p.jpg", Data: jpegPhoto(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.hz.Act(ctx, h.ID, hazard.StepRegister, hazard.Step{By: "c"}); err != nil {
		t.Fatal(err)
	}
	h, err = r.hz.Act(ctx, h.ID, hazard.StepDispatch, hazard.Step{By: "c", Responsible: &contract.Responsible{Kind: "property", Name: org}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call makes a request with a token and decodes a JSON answer into v.
func call(t testing.TB, method, url, token, body string, v any) int {
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
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 && testing.Verbose() {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode
}

// users is a logged-in user of each role of rig r's secured console, plus
// a grid worker and a community of elsewhere.
type users map[string]string

func loginAll(t *testing.T, r *rig, station string) (string, users) {
	t.Helper()
	srv, _ := r.secured(station, r.store)
	ctx := context.Background()
	other := ""
	for _, z := range r.reg.Areas(devices.LevelZone) {
		if z.Parent != testCommunity(r.reg, station) {
			other = z.ID
			break
		}
	}
	oz, _ := r.reg.Area(other)
	for _, u := range []access.User{
		{Username: "gw-elsewhere", Role: access.RoleGridWorker, Area: other},
		{Username: "c-elsewhere", Role: access.RoleCommunity, Area: oz.Parent},
		{Username: "u-grid_worker-2", Role: access.RoleGridWorker, Area: testZone(r.reg, station)},
		{Username: "pm-other", Role: access.RoleProperty, Org: "另一家物业"},
	} {
		h, _ := access.HashPasswordCost(password(u.Role), 4)
		u.PasswordHash = h
		if err := r.store.SaveUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	out := users{}
	time.Sleep(300 * time.Millisecond) // the store's users are read again every 200 ms
	us, _ := r.store.Users(ctx)
	for _, u := range us {
		code, lr, _ := loginAs(t, srv.URL, u.Username, password(u.Role))
		if code != 200 {
			t.Fatalf("log in as %s: %d", u.Username, code)
		}
		out[u.Username] = lr.Token
	}
	return srv.URL, out
}

// TestHazardLoopOverHTTP: the loop from report to close and a reopen, as
// the people who take each step: a grid worker reports with a photo
// (JSON, base64), the community registers and dispatches to a property
// company, the company rectifies with a photo (multipart, as curl -F
// sends), may not verify, the grid worker does, the community closes and a
// look back reopens. Others' zones, communities and companies see
// nothing of it.
func TestHazardLoopOverHTTP(t *testing.T) {
	r := newRig(t)
	station := "MFS-2"
	base, u := loginAll(t, r, station)
	site := siteOfZone(t, r.reg, testZone(r.reg, station))
	pic := base64.StdEncoding.EncodeToString(jpegPhoto(t))
	var h contract.Hazard
	body := `{"category":"flying_lead_charging","description":"三楼飞线充电","site":"` + site + `","source":"resident",
		"reporter":{"name":"李阿姨","phone":"13800000001"},"ref":"p-1","photos":[{"name":"lead.jpg","data":"` + pic + `"}]}`
	if code := call(t, "POST", base+"/api/v1/hazards", u["u-grid_worker"], body, &h); code != 201 {
		t.Fatalf("report: %d", code)
	}
	if h.Source != "resident" || h.ReportedBy != "u-grid_worker" || len(h.Photos) != 1 || h.Steps[0].Role != "grid_worker" {
		t.Fatalf("reported %+v", h)
	}
	var again contract.Hazard
	if code := call(t, "POST", base+"/api/v1/hazards", u["u-grid_worker"], body, &again); code != 200 || again.ID != h.ID {
		t.Errorf("the same report again: %d %s", code, again.ID)
	}
	if code := call(t, "POST", base+"/api/v1/hazards", u["u-grid_worker"], `{"category":"other","description":"x","site":"`+site+`","source":"12345"}`, nil); code != 400 {
		t.Errorf("a person reporting as 12345: %d", code)
	}
	id := base + "/api/v1/hazards/" + h.ID
	for _, who := range []string{"gw-elsewhere", "c-elsewhere", "pm-other"} {
		if code := call(t, "GET", id, u[who], "", nil); code != 403 {
			t.Errorf("%s reads the hazard: %d", who, code)
		}
		var l struct{ Hazards []contract.Hazard }
		call(t, "GET", base+"/api/v1/hazards?status=all", u[who], "", &l)
		if len(l.Hazards) != 0 {
			t.Errorf("%s lists %d hazards", who, len(l.Hazards))
		}
	}
	if code := call(t, "GET", base+"/api/v1/hazards?community=C-9", u["u-community"], "", nil); code != 403 {
		t.Errorf("a community asking for another's hazards: %d", code)
	}
	if code := call(t, "POST", id+"/register", u["u-grid_worker"], `{}`, nil); code != 403 {
		t.Errorf("a grid worker registers: %d", code)
	}
	if code := call(t, "POST", id+"/register", u["c-elsewhere"], `{}`, nil); code != 403 {
		t.Errorf("another community registers: %d", code)
	}
	if code := call(t, "POST", id+"/register", u["u-community"], `{"note":"立案"}`, &h); code != 200 || h.Status != "registered" {
		t.Fatalf("register: %d %s", code, h.Status)
	}
	deadline := t0.Add(72 * time.Hour).Format(time.RFC3339)
	if code := call(t, "POST", id+"/dispatch", u["u-community"], `{"responsible":{"kind":"property","name":"`+testOrg+`","phone":"0371-1"},"deadline":"`+deadline+`"}`, &h); code != 200 ||
		h.RectifyBy.Format(time.RFC3339) != deadline {
		t.Fatalf("dispatch: %d %+v", code, h.RectifyBy)
	}
	// The property company sees it now, and rectifies with a photo sent
	// as a file.
	if code := call(t, "GET", id, u["u-property"], "", nil); code != 200 {
		t.Errorf("the company it was dispatched to: %d", code)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("body", `{"note":"飞线已拆除"}`)
	fw, _ := mw.CreateFormFile("photo", "after.jpg")
	fw.Write(jpegOf(t, 40))
	mw.Close()
	req, _ := http.NewRequest("POST", id+"/rectify", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u["u-property"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h.Status != "rectified" || len(h.Photos) != 2 || h.Photos[1].Step != "rectified" {
		t.Fatalf("rectify with a file: %d %s %d photos", resp.StatusCode, h.Status, len(h.Photos))
	}
	if code := call(t, "POST", id+"/verify", u["u-property"], `{}`, nil); code != 403 {
		t.Errorf("the company verifies its own work: %d", code)
	}
	if code := call(t, "POST", id+"/verify", u["u-grid_worker"], `{"note":"核查通过"}`, &h); code != 200 || h.Status != "verified" {
		t.Fatalf("verify: %d %s", code, h.Status)
	}
	if code := call(t, "POST", id+"/close", u["u-community"], `{}`, &h); code != 200 || h.Status != "closed" {
		t.Fatalf("close: %d", code)
	}
	if code := call(t, "POST", id+"/reopen", u["u-community"], `{"note":"回头看：又见飞线"}`, &h); code != 200 || h.Status != "registered" || h.Reopened != 1 {
		t.Fatalf("reopen: %d %+v", code, h)
	}
	var who []string
	for _, s := range h.Steps {
		who = append(who, s.Action+" by "+s.By)
	}
	want := []string{"reported by u-grid_worker", "registered by u-community", "dispatched by u-community", "rectified by u-property",
		"verified by u-grid_worker", "closed by u-community", "reopened by u-community"}
	if !slices.Equal(who, want) {
		t.Errorf("steps:\n  %s\nwant\n  %s", strings.Join(who, "\n  "), strings.Join(want, "\n  "))
	}
	// The photo: served with its type, not to be sniffed or run; not to
	// others.
	preq, _ := http.NewRequest("GET", base+"/api/v1/photos/"+h.Photos[0].ID, nil)
	preq.Header.Set("Authorization", "Bearer "+u["u-community"])
	presp, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != 200 || presp.Header.Get("Content-Type") != "image/jpeg" || presp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!bytes.Equal(got, jpegPhoto(t)) {
		t.Errorf("photo: %d %v", presp.StatusCode, presp.Header)
	}
	if code := call(t, "GET", base+"/api/v1/photos/"+h.Photos[0].ID, u["gw-elsewhere"], "", nil); code != 403 {
		t.Errorf("another zone's grid worker gets the photo: %d", code)
	}
	// A file that is not a photo is refused by its bytes.
	evil := base64.StdEncoding.EncodeToString([]byte("<svg onload=alert(1)></svg>"))
	if code := call(t, "POST", base+"/api/v1/hazards", u["u-grid_worker"], `{"category":"other","description":"x","site":"`+site+`","photos":[{"name":"x.jpg","data":"`+evil+`"}]}`, nil); code != 415 {
		t.Errorf("an SVG named .jpg: %d", code)
	}
	// The refusals were audited.
	entries, _ := r.store.Audits(context.Background(), 1000)
	if !slices.ContainsFunc(entries, func(e access.AuditEntry) bool { return e.Username == "c-elsewhere" && !e.Allowed && e.Target == h.ID }) {
		t.Error("another community's refused step is not in the audit log")
	}
}

// TestWorkOrderWebhook: the 12345 platform's signed order opens a hazard
// once; delivered again (the platform retries), it answers the same
// hazard; an order unsigned, signed wrong, with an old timestamp, for an
// unknown channel, without an id or outside the territory is refused.
func TestWorkOrderWebhook(t *testing.T) {
	r := newRig(t)
	srv := r.serve(&console.API{})
	site := siteOfZone(t, r.reg, "Z-07")
	send := func(channel, secret string, at time.Time, body string) (int, console.WorkOrderResponse) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/workorders/"+channel, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ts := strconv.FormatInt(at.Unix(), 10)
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, notify.Sign([]byte(secret), ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out console.WorkOrderResponse
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	order := `{"order_id":"GD20261123-0001","category":"占用消防通道","title":"小区消防通道被私家车占用","description":"市民来电",
		"site":"` + site + `","caller":{"name":"王先生","phone":"13900000000"}}`
	code, first := send("12345", orderSecret, t0, order)
	if code != 201 || first.Duplicate || first.Hazard.Category != "blocked_fire_lane" || first.Hazard.Source != "12345" ||
		first.Hazard.Order == nil || first.Hazard.Order.ID != "GD20261123-0001" || first.Hazard.Reporter.Phone != "13900000000" {
		t.Fatalf("order: %d %+v", code, first.Hazard)
	}
	for range 3 {
		code, again := send("12345", orderSecret, t0.Add(time.Minute), order)
		if code != 200 || !again.Duplicate || again.Hazard.ID != first.Hazard.ID {
			t.Errorf("the same order again: %d %+v", code, again)
		}
	}
	if list, _ := r.hz.List(context.Background(), hazard.Filter{Source: "12345"}); len(list) != 1 {
		t.Errorf("%d hazards from one order delivered four times", len(list))
	}
	if code, _ := send("12345", "a guessed secret", t0, order); code != 401 {
		t.Errorf("signed with another secret: %d", code)
	}
	if code, _ := send("12345", orderSecret, t0.Add(-10*time.Minute), strings.Replace(order, "0001", "0002", 1)); code != 401 {
		t.Errorf("a replay ten minutes old: %d", code)
	}
	if code, _ := send("fax", orderSecret, t0, order); code != 404 {
		t.Errorf("an unknown channel: %d", code)
	}
	if code, _ := send("12345", orderSecret, t0, `{"description":"x","site":"`+site+`"}`); code != 400 {
		t.Errorf("no order id: %d", code)
	}
	if code, _ := send("12345", orderSecret, t0, `{"order_id":"B-1","description":"x","location":{"lon":116.4,"lat":39.9}}`); code != 422 {
		t.Errorf("an order in Beijing: %d", code)
	}
	resp, _ := http.Post(srv.URL+"/api/v1/workorders/12345", "application/json", strings.NewReader(order))
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned: %d", resp.StatusCode)
	}
}

// TestTheThreeLists: the baseline, hazard and responsibility lists as
// CSV (with a byte-order mark for spreadsheets) and as a page to print,
// where what people typed is text, never markup; a grid worker gets its
// zone's and no other's.
func TestTheThreeLists(t *testing.T) {
	r := newRig(t)
	station := "MFS-1"
	base, u := loginAll(t, r, station)
	zone := testZone(r.reg, station)
	site := siteOfZone(t, r.reg, zone)
	h := dispatchedHazard(t, r, site, testOrg)
	r.hz.Report(context.Background(), hazard.Report{Category: "other", Description: `<script>alert("x")</script>`, Site: site, By: "gw"})
	r.hz.Report(context.Background(), hazard.Report{Category: "other", Description: `=HYPERLINK("http://evil/","x")`, Site: site, By: "gw", Ref: "f"})
	get := func(path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	code, hd, body := get("/api/v1/lists/responsibility?format=csv", u["u-grid_worker"])
	if code != 200 || !strings.HasPrefix(body, "\ufeff") || !strings.HasPrefix(hd.Get("Content-Type"), "text/csv") {
		t.Fatalf("responsibility CSV: %d %v %q", code, hd, body[:min(len(body), 40)])
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][0] != "id" || recs[1][0] != h.ID || recs[1][4] != testOrg || recs[1][7] == "" {
		t.Fatalf("responsibility rows: %v %v", recs, err)
	}
	_, _, body = get("/api/v1/lists/hazards?format=csv", u["u-community"])
	if !strings.Contains(body, `'=HYPERLINK`) {
		t.Errorf("a formula typed as a description is live in the CSV:\n%s", body)
	}
	code, _, body = get("/api/v1/lists/hazards?format=html", u["u-community"])
	if code != 200 || !strings.Contains(body, "隐患清单") || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("printable hazard list: %d, escaped %v", code, !strings.Contains(body, "<script>alert"))
	}
	var tb console.Table
	call(t, "GET", base+"/api/v1/lists/baseline", u["u-grid_worker"], "", &tb)
	n := 0
	for _, s := range r.reg.Sites() {
		if s.Zone == zone {
			n++
		}
	}
	if len(tb.Rows) != n || tb.Columns[len(tb.Columns)-1] != "open_hazards" {
		t.Errorf("baseline of %s: %d rows, want %d", zone, len(tb.Rows), n)
	}
	for _, row := range tb.Rows {
		if row[3] == site && row[len(row)-1] != "3" {
			t.Errorf("the site's open hazards: %v", row)
		}
	}
	if code := call(t, "GET", base+"/api/v1/lists/baseline?zone=Z-09", u["u-grid_worker"], "", nil); code != 403 {
		t.Errorf("a grid worker asking for another zone's list: %d", code)
	}
	if code := call(t, "GET", base+"/api/v1/lists/nothing", u["u-subdistrict"], "", nil); code != 404 {
		t.Errorf("an unknown list: %d", code)
	}
}

// TestInspectionsOverHTTP: a grid worker sees its zone's door-knocking
// rounds, checks one in with a failed item (which opens a hazard), may not
// check in another zone's; coverage says one done; a community may plan
// only its own zones.
func TestInspectionsOverHTTP(t *testing.T) {
	r := newRig(t)
	station := "MFS-3"
	base, u := loginAll(t, r, station)
	zone := testZone(r.reg, station)
	var rounds struct{ Rounds []hazard.Round }
	if code := call(t, "GET", base+"/api/v1/inspections/rounds?plan=door-knocking", u["u-grid_worker"], "", &rounds); code != 200 || len(rounds.Rounds) == 0 {
		t.Fatalf("rounds: %d %d", code, len(rounds.Rounds))
	}
	for _, rd := range rounds.Rounds {
		if rd.Object.Zone != zone || rd.Status != "due" {
			t.Errorf("a grid worker of %s sees %+v", zone, rd)
		}
	}
	obj := rounds.Rounds[0].Object.ID
	items := `[{"item":"detector","ok":false,"note":"烟感被拆下"},{"item":"electricity","ok":true},{"item":"gas_fire","ok":true},{"item":"escape","ok":true},{"item":"guardian","ok":true}]`
	var ci hazard.CheckIn
	if code := call(t, "POST", base+"/api/v1/inspections/checkins", u["u-grid_worker"], `{"plan":"door-knocking","object":"`+obj+`","items":`+items+`,"ref":"k1"}`, &ci); code != 201 ||
		len(ci.Hazards) != 1 || ci.By != "u-grid_worker" {
		t.Fatalf("check-in: %d %+v", code, ci)
	}
	var h contract.Hazard
	call(t, "GET", base+"/api/v1/hazards/"+ci.Hazards[0], u["u-community"], "", &h)
	if h.Source != "inspection" || h.Site != obj || h.Category != "dead_detector" {
		t.Errorf("the hazard the round found: %+v", h)
	}
	var elsewhere string
	var all struct{ Rounds []hazard.Round }
	call(t, "GET", base+"/api/v1/inspections/rounds?plan=door-knocking", u["u-subdistrict"], "", &all)
	for _, rd := range all.Rounds {
		if rd.Object.Zone != zone {
			elsewhere = rd.Object.ID
			break
		}
	}
	if code := call(t, "POST", base+"/api/v1/inspections/checkins", u["u-grid_worker"], `{"plan":"door-knocking","object":"`+elsewhere+`","items":`+items+`}`, nil); code != 403 {
		t.Errorf("checking in another zone's home: %d", code)
	}
	var sites struct{ Sites []console.SiteRef }
	call(t, "GET", base+"/api/v1/sites?q=住户", u["u-grid_worker"], "", &sites)
	if len(sites.Sites) == 0 {
		t.Error("a grid worker's report form offers no sites")
	}
	for _, s := range sites.Sites {
		if s.Zone != zone || !strings.Contains(s.Name, "住户") {
			t.Errorf("a grid worker of %s is offered %+v", zone, s)
		}
	}
	var cov struct{ Coverage []hazard.Coverage }
	call(t, "GET", base+"/api/v1/inspections/coverage", u["u-community"], "", &cov)
	found := false
	for _, c := range cov.Coverage {
		if c.Zone == zone && c.Plan == "door-knocking" {
			found = true
			if c.Done != 1 || c.Objects != len(rounds.Rounds) {
				t.Errorf("coverage %+v", c)
			}
		}
		if c.Community != testCommunity(r.reg, station) {
			t.Errorf("a community sees another's coverage: %+v", c)
		}
	}
	if !found {
		t.Errorf("no coverage row for %s", zone)
	}
	plan := `{"id":"sheds-daily","name":"充电棚每日巡查","objects":"charging_sheds","frequency":"daily","scope":"%s",
		"checklist":[{"id":"cutoff","text":"断电保护正常","category":"electrical"}]}`
	if code := call(t, "POST", base+"/api/v1/inspections/plans", u["u-community"], fmt.Sprintf(plan, "C-9"), nil); code != 403 {
		t.Errorf("a community planning elsewhere: %d", code)
	}
	var saved hazard.Plan
	if code := call(t, "POST", base+"/api/v1/inspections/plans", u["u-community"], fmt.Sprintf(plan, testCommunity(r.reg, station)), &saved); code != 200 ||
		!saved.Active || saved.UpdatedBy != "u-community" {
		t.Errorf("a community's plan: %d %+v", code, saved)
	}
}

// TestHazardReport: hazards per community and category: rectification
// rate and hours to close; the station report's rectification rate counts
// the register's hazards.
func TestHazardReport(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	site := siteOfZone(t, r.reg, "Z-01")
	var ids []string
	for i := range 3 {
		h, _, _ := r.hz.Report(ctx, hazard.Report{Category: "extinguisher", Description: "灭火器过期", Site: site, By: "gw", Ref: strconv.Itoa(i)})
		ids = append(ids, h.ID)
	}
	for i, hours := range []time.Duration{10, 30} {
		id := ids[i]
		r.hz.Act(ctx, id, hazard.StepRegister, hazard.Step{By: "c"})
		r.hz.Act(ctx, id, hazard.StepDispatch, hazard.Step{By: "c", Responsible: &contract.Responsible{Kind: "owner", Name: "x"}})
		r.clk.Set(t0.Add(hours * time.Hour))
		r.hz.Act(ctx, id, hazard.StepRectify, hazard.Step{By: "x", Note: "换新"})
		r.hz.Act(ctx, id, hazard.StepVerify, hazard.Step{By: "gw"})
		if _, err := r.hz.Act(ctx, id, hazard.StepClose, hazard.Step{By: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	srv := r.serve(&console.API{})
	var rep console.HazardReport
	if code := getJSON(t, srv.URL+"/api/v1/reports/hazards?from=2026-11-23&to=2026-11-25", &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	var row *console.HazardRow
	for i := range rep.Rows {
		if rep.Rows[i].Community == "C-1" && rep.Rows[i].Category == "extinguisher" {
			row = &rep.Rows[i]
		}
	}
	if row == nil || row.Reported != 3 || row.Closed != 2 || row.Open != 1 || *row.RectificationRate != 2.0/3 ||
		*row.CloseP50 != 10 || *row.CloseP90 != 30 {
		t.Fatalf("C-1 extinguishers: %+v", row)
	}
	var st console.Report
	getJSON(t, srv.URL+"/api/v1/reports/stations?from=2026-11-23&to=2026-11-25", &st)
	for _, row := range st.Rows {
		if row.ID == "MFS-1" && (row.Hazards != 3 || row.HazardsRectified != 2) {
			t.Errorf("station report's hazards: %+v", row)
		}
	}
}
