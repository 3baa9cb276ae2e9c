package assembly

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
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
