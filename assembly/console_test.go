package assembly

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/journal"
)

// browser starts headless Chromium (Debian's chromium package) for the
// test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.Binary(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // the test may run as root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	return ctx
}

// screenshot saves the page as PNG into FIREGRID_SCREENSHOTS (the README's
// docs/screenshots) when set, else into the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FIREGRID_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	a, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return a.Value
}

// TestConsoleInChromium: a station's crew logs in to the console in a
// real browser, sees an alarm published over MQTT appear in its queue with
// a countdown, acknowledges it with a click, and the ack time is recorded;
// when firegrid goes away the page says it is disconnected.
func TestConsoleInChromium(t *testing.T) {
	ctx := browser(t)
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	d := elderlyDetector(t, reg)
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := access.AddUser(users, access.User{Username: "crew1", Role: access.RoleCrew, Station: d.Station(), PasswordHash: quickHash(t, "crew1-password")}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "", "", func(c *Config) { c.Dispatch.Users = users })
	url := "http://" + s.HTTPAddr + "/"
	dev := connectDevices(t, s)
	// A hydrant near the home reports its pressure before the fire.
	hyd := reg.Nearby(d.Location, "hydrant", 1)[0]
	dev.publish("fg/v1/hydrant/"+hyd.ID+"/telemetry", `{"ts":"`+time.Now().UTC().Format(time.RFC3339Nano)+`","seq":1,"values":{"pressure_mpa":0.31,"battery_pct":90}}`)

	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Do(tctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible("#login"),
		chromedp.SendKeys("#username", "crew1"),
		chromedp.SendKeys("#password", "crew1-password"),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#conn.up"),
	)
	if err != nil {
		screenshot(t, ctx, "console-failed.png")
		t.Fatalf("log in: %v", err)
	}
	connText := text(t, tctx, "#conn")
	if connText != "live" {
		t.Errorf("connection says %q, want live", connText)
	}

	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	err = chromedp.Do(tctx,
		chromedp.WaitVisible("#queue tbody tr.sev-critical"),
		chromedp.Click("#queue tbody tr.sev-critical"),
		chromedp.WaitVisible("#detail-panel"),
		chromedp.WaitVisible("#hydrants li"),
	)
	if err != nil {
		t.Fatalf("alarm in the queue: %v", err)
	}
	id := attr(t, tctx, "#queue tbody tr.sev-critical", "data-id")
	if n := attr(t, tctx, "body", "data-alarms"); n != "1" {
		t.Errorf("audible alarms sounded: %q, want 1 for the new critical incident", n)
	}
	countdown := text(t, tctx, "#queue tbody tr.sev-critical .countdown")
	guardian := text(t, tctx, ".guardian-phone")
	if !strings.HasPrefix(countdown, "respond 0:") && !strings.HasPrefix(countdown, "respond 1:") {
		t.Errorf("countdown %q, want the 1-minute response deadline", countdown)
	}
	if site, _ := reg.Site(d.Site); guardian != site.Guardian.Phone {
		t.Errorf("guardian phone %q, want %q", guardian, site.Guardian.Phone)
	}
	if err := chromedp.Do(tctx, chromedp.WaitVisible("#hydrants .st-ok")); err != nil {
		t.Fatalf("hydrants: %v", err)
	}
	hydrants := text(t, tctx, "#hydrants")
	if !strings.Contains(hydrants, hyd.ID) || !strings.Contains(hydrants, "0.31 MPa") {
		t.Errorf("hydrants %q lack %s at 0.31 MPa", hydrants, hyd.ID)
	}
	if err := chromedp.Do(tctx, chromedp.WaitVisible("#map circle.incident")); err != nil {
		t.Fatalf("map: %v", err)
	}
	screenshot(t, tctx, "console-alarm.png")

	before := time.Now()
	err = chromedp.Do(tctx,
		chromedp.Click(`button[data-act="ack"]`),
		chromedp.WaitVisible(`#acked-at:not([data-at=""])`),
	)
	if err != nil {
		t.Fatalf("ack click: %v", err)
	}
	ackedAt := attr(t, tctx, "#acked-at", "data-at")
	after := time.Now()
	var in contract.Incident
	token := login(t, s.HTTPAddr, "crew1", "crew1-password")
	if code, _ := call(t, "GET", "http://"+s.HTTPAddr+"/api/v1/incidents/"+id, token, "", &in); code != 200 || in.AckedAt == nil {
		t.Fatalf("incident after the click: %d %+v", code, in.AckedAt)
	}
	if in.AckedAt.Before(before.Add(-time.Second)) || in.AckedAt.After(after) || in.Stage != contract.StageAcknowledged {
		t.Errorf("recorded ack at %v, clicked between %v and %v", in.AckedAt, before, after)
	}
	if shown, _ := time.Parse(time.RFC3339Nano, ackedAt); !shown.Equal(*in.AckedAt) {
		t.Errorf("page shows ack at %q, store has %v", ackedAt, in.AckedAt)
	}
	if last := in.Steps[len(in.Steps)-1]; last.Action != "acknowledged" || last.By != "crew1" {
		t.Errorf("last step %+v, want acknowledged by crew1", last)
	}
	screenshot(t, tctx, "console-acknowledged.png")

	// firegrid goes away: the page must not pass the queue off as live.
	s.Close()
	if err := chromedp.Do(tctx, chromedp.WaitVisible("#banner"), chromedp.WaitVisible("#conn.down"), chromedp.WaitVisible("body.stale")); err != nil {
		t.Fatalf("disconnected state: %v", err)
	}
	screenshot(t, tctx, "console-disconnected.png")
}

// TestConsoleBannerSaysWhatIsWrong: while the journal cannot write, the
// console says so above the queue, on the log-in page too; once it writes
// again the banner goes.
func TestConsoleBannerSaysWhatIsWrong(t *testing.T) {
	ctx := browser(t)
	fs := &journal.Faulty{}
	s := startServeWith(t, Options{JournalFS: fs}, "", "")
	d := elderlyDetector(t, s.Registry)
	dev := connectDevices(t, s)
	evt := contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent)
	c := dev.conn(evt)
	fs.Full.Store(true)
	c.Publish(evt, 1, false, alarmPayload(1, time.Now())).WaitTimeout(2 * time.Second) // refused
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate("http://"+s.HTTPAddr+"/"), chromedp.WaitVisible(`#health li[data-check="journal"]`)); err != nil {
		screenshot(t, ctx, "banner-failed.png")
		t.Fatalf("no banner about the journal: %v", err)
	}
	if got := text(t, tctx, "#health"); !strings.Contains(got, "refused") {
		t.Errorf("banner says %q; want it to say device messages are refused", got)
	}
	fs.Full.Store(false)
	dev.publish(evt, alarmPayload(2, time.Now()))
	if err := chromedp.Do(tctx, chromedp.WaitNotVisible("#health")); err != nil {
		t.Errorf("the banner stayed once the journal wrote again: %v", err)
	}
}

// phone makes the page a phone's: 390×844 CSS pixels, a touch screen.
func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile)
}

// desk makes the page a desktop's.
func desk() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1400, 1000) }

// eval runs JavaScript on the page and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// fitsTheScreen fails the test when the page scrolls sideways.
func fitsTheScreen(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if w := eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		wide := eval[string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.offsetParent).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className).join(", ")`)
		t.Errorf("%s: the page is %.0f px wider than the screen (%s)", what, w, wide)
	}
}

// reachable fails the test unless sel is on screen and big enough for a
// thumb (44 CSS px high).
func reachable(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return [r.left, r.top, r.right, r.bottom, r.height]; })()`, sel)
	r := eval[[]float64](t, ctx, js)
	if r[0] < 0 || r[1] < 0 || r[2] > 390.5 || r[3] > 844.5 || r[4] < 40 {
		t.Errorf("%s is at %v: not on the phone's screen, or too small to tap", sel, r)
	}
}

// TestDutyConsoleOnAPhone: a crew member on the way to the scene, at
// 390×844: the queue fits the screen as cards; tapping the alarm shows the
// incident instead of the queue, not over it; acknowledge, on scene and
// resolve are on screen, big enough, and work; back shows the queue.
func TestDutyConsoleOnAPhone(t *testing.T) {
	ctx := browser(t)
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	d := elderlyDetector(t, reg)
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := access.AddUser(users, access.User{Username: "crew1", Role: access.RoleCrew, Station: d.Station(), PasswordHash: quickHash(t, "crew1-password")}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "", "", func(c *Config) { c.Dispatch.Users = users })
	dev := connectDevices(t, s)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Do(tctx, phone(),
		chromedp.Navigate("http://"+s.HTTPAddr+"/"),
		chromedp.WaitVisible("#login"),
		chromedp.SendKeys("#username", "crew1"),
		chromedp.SendKeys("#password", "crew1-password"),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#conn.up"),
	)
	if err != nil {
		t.Fatalf("log in on a phone: %v", err)
	}
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	if err := chromedp.Do(tctx, chromedp.WaitVisible("#queue tbody tr.sev-critical")); err != nil {
		t.Fatalf("alarm in the queue: %v", err)
	}
	fitsTheScreen(t, tctx, "the queue")
	if v := eval[bool](t, tctx, `getComputedStyle(document.querySelector("#detail-panel")).display === "none"`); !v {
		t.Error("the incident view shows beside the queue before anything is tapped")
	}
	countdown := text(t, tctx, "#queue tbody tr.sev-critical .countdown")
	if !strings.HasPrefix(countdown, "respond ") {
		t.Errorf("the card's countdown says %q", countdown)
	}
	screenshot(t, tctx, "console-phone-queue.png")
	if err := chromedp.Do(tctx, chromedp.Click("#queue tbody tr.sev-critical"), chromedp.WaitVisible("#detail-panel"), chromedp.WaitVisible(".guardian-phone")); err != nil {
		t.Fatalf("open the incident: %v", err)
	}
	if v := eval[bool](t, tctx, `getComputedStyle(document.querySelector("#queue-panel")).display === "none"`); !v {
		t.Error("the queue is still there under the incident view")
	}
	fitsTheScreen(t, tctx, "the incident view")
	for _, b := range []string{`button[data-act="ack"]`, `button[data-act="arrive"]`, `button[data-act="resolve"]`, "#back"} {
		reachable(t, tctx, b)
	}
	// Scrolled to the bottom of a long incident, the buttons stay.
	eval[bool](t, tctx, `window.scrollTo(0, document.body.scrollHeight), true`)
	reachable(t, tctx, `button[data-act="ack"]`)
	screenshot(t, tctx, "console-phone-incident.png")
	err = chromedp.Do(tctx,
		chromedp.Click(`button[data-act="ack"]`),
		chromedp.WaitVisible(`#acked-at:not([data-at=""])`),
		chromedp.Click(`button[data-act="arrive"]`),
		chromedp.WaitVisible(`#steps li:nth-child(3)`),
		chromedp.SetValue("#outcome", "false_alarm"),
		chromedp.Click(`button[data-act="resolve"]`),
	)
	if err != nil {
		t.Fatalf("acknowledge, on scene, resolve: %v", err)
	}
	token := login(t, s.HTTPAddr, "crew1", "crew1-password")
	testenv.Eventually(t, 5*time.Second, func() bool {
		var list struct{ Incidents []contract.Incident }
		call(t, "GET", "http://"+s.HTTPAddr+"/api/v1/incidents?status=resolved", token, "", &list)
		return len(list.Incidents) == 1 && list.Incidents[0].ArrivedAt != nil && list.Incidents[0].Outcome == "false_alarm"
	}, "acknowledged, on scene and resolved from the phone")
	if err := chromedp.Do(tctx, chromedp.Click("#back"), chromedp.WaitVisible("#queue-panel")); err != nil {
		t.Fatalf("back to the queue: %v", err)
	}
}

// TestHazardsViewOnAPhone: a grid worker on a phone is taken to the
// hazards view, reports flying-lead charging with a photo, and checks in a
// door-knocking visit with a failed item; at a desk, the community
// registers and dispatches the hazard to the property company; on a
// phone, the company records the rectification with a photo; the grid
// worker verifies, the community closes. Each page fits the phone.
func TestHazardsViewOnAPhone(t *testing.T) {
	ctx := browser(t)
	users := filepath.Join(t.TempDir(), "users.yaml")
	for _, u := range []access.User{
		{Username: "gw-z04", Role: access.RoleGridWorker, Area: "Z-04"},
		{Username: "c-2", Role: access.RoleCommunity, Area: "C-2"},
		{Username: "pm", Role: access.RoleProperty, Org: "福寿街物业"},
	} {
		u.PasswordHash = quickHash(t, u.Username+" secret 12")
		if err := access.AddUser(users, u); err != nil {
			t.Fatal(err)
		}
	}
	s := startServe(t, "", "", func(c *Config) { c.Dispatch.Users = users })
	base := "http://" + s.HTTPAddr
	var site string
	for _, x := range s.Registry.Sites() {
		if x.Zone == "Z-04" && x.Type == contract.SiteHousehold {
			site = x.ID
			break
		}
	}
	pic := filepath.Join(t.TempDir(), "lead.jpg")
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	for x := range 400 {
		img.Set(x, x%300, color.RGBA{200, 30, 30, 255})
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	os.WriteFile(pic, b.Bytes(), 0o644)
	after := filepath.Join(filepath.Dir(pic), "after.jpg")
	for x := range 400 {
		img.Set(x, 150, color.RGBA{30, 160, 30, 255})
	}
	b.Reset()
	jpeg.Encode(&b, img, nil)
	os.WriteFile(after, b.Bytes(), 0o644)

	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	logIn := func(user string) {
		t.Helper()
		err := chromedp.Do(tctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible("#login"),
			chromedp.SendKeys("#username", user),
			chromedp.SendKeys("#password", user+" secret 12"),
			chromedp.Click("#login-btn"),
			chromedp.WaitVisible(`body[data-ready="1"]`),
		)
		if err != nil {
			t.Fatalf("log in as %s: %v", user, err)
		}
		if u := eval[string](t, tctx, `location.pathname`); u != "/hazards.html" {
			t.Errorf("%s landed on %s, want the hazards view", user, u)
		}
	}
	logOut := func() {
		t.Helper()
		if err := chromedp.Do(tctx, chromedp.Click("#logout"), chromedp.WaitVisible("#login")); err != nil {
			t.Fatalf("log out: %v", err)
		}
	}
	hazardStatus := func(id string) string {
		h, err := s.Hazards.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return string(h.Status)
	}

	// The grid worker reports, on a phone.
	if err := chromedp.Do(tctx, phone()); err != nil {
		t.Fatal(err)
	}
	logIn("gw-z04")
	fitsTheScreen(t, tctx, "the hazards list")
	err := chromedp.Do(tctx,
		chromedp.Click(`.tabs button[data-tab="report"]`),
		chromedp.WaitVisible("#report-form"),
		chromedp.SetValue("#r-category", "flying_lead_charging"),
		chromedp.SendKeys("#r-site-q", site),
		chromedp.WaitReady(`#r-site option[value="`+site+`"]`),
		chromedp.SetValue("#r-site", site),
		chromedp.SendKeys("#r-description", "三楼窗口垂下电线给电动车充电"),
		chromedp.SetUploadFiles("#r-photos", []string{pic}),
	)
	if err != nil {
		t.Fatalf("fill the report: %v", err)
	}
	fitsTheScreen(t, tctx, "the report form")
	reachable(t, tctx, `.tabs button[data-tab="rounds"]`)
	screenshot(t, tctx, "hazards-phone-report.png")
	if err := chromedp.Do(tctx, chromedp.Click("#r-submit"), chromedp.WaitVisible("#hz-title")); err != nil {
		t.Fatalf("report: %v", err)
	}
	list, err := s.Hazards.List(context.Background(), hazard.Filter{Zone: "Z-04"})
	if err != nil || len(list) != 1 {
		t.Fatalf("hazards after the report: %d %v", len(list), err)
	}
	h := list[0]
	if h.Site != site || h.ReportedBy != "gw-z04" || len(h.Photos) != 1 || h.Photos[0].ContentType != "image/jpeg" {
		t.Fatalf("reported %+v", h)
	}
	if err := chromedp.Do(tctx, chromedp.WaitVisible("#hz-photos img")); err != nil {
		t.Fatalf("the photo on the hazard: %v", err)
	}
	if w := eval[float64](t, tctx, `document.querySelector("#hz-photos img").naturalWidth`); w == 0 {
		t.Error("the hazard's photo does not load")
	}
	screenshot(t, tctx, "hazards-phone-hazard.png")

	// A door-knocking visit with a failed item.
	err = chromedp.Do(tctx,
		chromedp.Click(`.tabs button[data-tab="rounds"]`),
		chromedp.WaitVisible("#rounds li"),
		chromedp.Click("#rounds li"),
		chromedp.WaitVisible(`#checkin-form li[data-item="detector"]`),
		chromedp.Click(`#checkin-form li[data-item="detector"] button.fail`),
		chromedp.SendKeys(`#checkin-form li[data-item="detector"] input[name="note"]`, "烟感电池没电"),
	)
	if err != nil {
		t.Fatalf("open a round: %v", err)
	}
	fitsTheScreen(t, tctx, "the round's checklist")
	screenshot(t, tctx, "hazards-phone-round.png")
	if err := chromedp.Do(tctx, chromedp.Click(`#checkin-form button[type="submit"]`), chromedp.WaitReady(`body[data-last-checkin]`)); err != nil {
		t.Fatalf("check in: %v", err)
	}
	cis, _ := s.Hazards.CheckIns(context.Background(), hazard.CheckInFilter{Plan: "door-knocking"})
	if len(cis) != 1 || len(cis[0].Hazards) != 1 || cis[0].By != "gw-z04" {
		t.Fatalf("check-ins %+v", cis)
	}
	logOut()

	// The community, at a desk: register and dispatch.
	if err := chromedp.Do(tctx, desk()); err != nil {
		t.Fatal(err)
	}
	logIn("c-2")
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.WaitVisible(`#hz-actions button[data-step="register"]`),
		chromedp.Click(`#hz-actions button[data-step="register"]`),
		chromedp.WaitVisible(`#hz-actions button[data-step="dispatch"]`),
		chromedp.Click(`#hz-actions button[data-step="dispatch"]`),
		chromedp.WaitVisible(`#hz-form input[name="name"]`),
		chromedp.SetValue(`#hz-form select[name="kind"]`, "property"),
		chromedp.SendKeys(`#hz-form input[name="name"]`, "福寿街物业"),
		chromedp.SendKeys(`#hz-form input[name="phone"]`, "0371-66000000"),
		chromedp.Click(`#hz-form button[type="submit"]`),
		chromedp.WaitVisible(`#hz-title .status.dispatched`),
	)
	if err != nil {
		t.Fatalf("register and dispatch: %v", err)
	}
	if st := hazardStatus(h.ID); st != "dispatched" {
		t.Fatalf("after dispatch: %s", st)
	}
	screenshot(t, tctx, "hazards-desk.png")
	logOut()

	// The property company, on a phone: rectified, with a photo.
	if err := chromedp.Do(tctx, phone()); err != nil {
		t.Fatal(err)
	}
	logIn("pm")
	if n := eval[float64](t, tctx, `document.querySelectorAll('.tabs button[data-tab="lists"]:not([hidden])').length`); n != 0 {
		t.Error("the property company is offered the lists")
	}
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hz-actions button[data-step="rectify"]`),
		chromedp.WaitVisible(`#hz-form textarea[name="note"]`),
		chromedp.SendKeys(`#hz-form textarea[name="note"]`, "已拆除飞线，引导到集中充电棚"),
		chromedp.SetUploadFiles(`#hz-form input[name="photos"]`, []string{after}),
		chromedp.Click(`#hz-form button[type="submit"]`),
		chromedp.WaitVisible(`#hz-title .status.rectified`),
	)
	if err != nil {
		t.Fatalf("rectify: %v", err)
	}
	if n := eval[float64](t, tctx, `document.querySelectorAll('#hz-actions button[data-step="verify"]').length`); n != 0 {
		t.Error("the company is offered to verify its own work")
	}
	logOut()

	// The grid worker verifies, the community closes.
	logIn("gw-z04")
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hz-actions button[data-step="verify"]`),
		chromedp.WaitVisible(`#hz-title .status.verified`),
	)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	logOut()
	logIn("c-2")
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hazards li[data-id="`+h.ID+`"]`),
		chromedp.Click(`#hz-actions button[data-step="close"]`),
		chromedp.WaitVisible(`#hz-title .status.closed`),
	)
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	got, _ := s.Hazards.Get(context.Background(), h.ID)
	var who []string
	for _, st := range got.Steps {
		who = append(who, st.Action+" "+st.By)
	}
	want := []string{"reported gw-z04", "registered c-2", "dispatched c-2", "rectified pm", "verified gw-z04", "closed c-2"}
	if !slices.Equal(who, want) || len(got.Photos) != 2 {
		t.Errorf("steps %v (want %v), %d photos", who, want, len(got.Photos))
	}
}
