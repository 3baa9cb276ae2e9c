package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

// TestChirpStackSubscribesWithItsCredentials: events published to a
// ChirpStack broker (Mosquitto with a password file) reach ingest with
// the chirpstack source; a subscription with a wrong password never does.
func TestChirpStackSubscribesWithItsCredentials(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	dir := t.TempDir()
	// A broker started as root reads its files as the mosquitto user.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, "firegrid", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	if out, err := exec.Command(passwd, "-b", pwFile, "chirpstack", "cs-pw").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	_ = os.Chmod(pwFile, 0o644)
	broker := testenv.Mosquitto(t, testenv.WithMosquittoConfig("allow_anonymous false\npassword_file "+pwFile))
	if broker == "" {
		return
	}
	t.Setenv("FIREGRID_TEST_CS_PASSWORD", "s3cret")
	cfg := DefaultConfig().ChirpStack
	cfg.URL, cfg.Username, cfg.PasswordEnv = broker, "firegrid", "FIREGRID_TEST_CS_PASSWORD"
	cfg.ClientID = "firegrid-cs-test"
	s := &sink{}
	cs, err := NewChirpStack(cfg, Options{Accept: s.accept})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cs.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-cs.Subscribed():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(15 * time.Second):
		t.Fatal("not subscribed")
	}
	// ChirpStack's side: its own user publishes the integration events.
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID("chirpstack-server").SetUsername("chirpstack").SetPassword("cs-pw")
	pub := paho.NewClient(opts)
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	up := `{"deduplicationId":"d1","time":"2026-11-23T08:00:05Z","deviceInfo":{"devEui":"70b3d57ed0001001"},"fCnt":1,"object":{"alarm":1}}`
	for _, topic := range []string{
		"application/app-1/device/70b3d57ed0001001/event/up",
		"application/app-1/device/70b3d57ed0001001/event/status",
		"application/app-1/device/70b3d57ed0001001/event/txack", // not subscribed
	} {
		if tok := pub.Publish(topic, 1, false, up); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	testenv.Eventually(t, 10*time.Second, func() bool { n, _ := s.counts(); return n == 2 }, "two events reach ingest")
	s.mu.Lock()
	for _, u := range s.accepted {
		if u.Source != contract.SourceChirpStack || !strings.HasPrefix(u.Topic, "application/app-1/device/70b3d57ed0001001/event/") || string(u.Payload) != up {
			t.Errorf("uplink %+v", u)
		}
	}
	s.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	if n, _ := s.counts(); n != 2 {
		t.Errorf("%d events, want 2 (txack is not subscribed)", n)
	}
	if v := testutil.ToFloat64(cs.events.WithLabelValues("kept")); v != 2 {
		t.Errorf("kept %v", v)
	}

	// Without its own credentials the subscription gets nothing.
	t.Setenv("FIREGRID_TEST_CS_PASSWORD", "wrong")
	cfg.ClientID = "firegrid-cs-test-2"
	bad, err := NewChirpStack(cfg, Options{Accept: s.accept})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	bdone := make(chan error, 1)
	go func() { bdone <- bad.Run(bctx) }()
	select {
	case <-bad.Subscribed():
		t.Error("subscribed with a wrong password")
	case <-time.After(2 * time.Second):
	}
	bcancel()
	<-bdone
}

func TestChirpStackFilters(t *testing.T) {
	cfg := DefaultConfig().ChirpStack
	cfg.Applications, cfg.SharedGroup = []string{"a1"}, "ingest"
	c, err := NewChirpStack(cfg, Options{Accept: (&sink{}).accept})
	if err != nil {
		t.Fatal(err)
	}
	want := "$share/ingest/application/a1/device/+/event/up $share/ingest/application/a1/device/+/event/status $share/ingest/application/a1/device/+/event/join"
	if got := strings.Join(c.Filters(), " "); got != want {
		t.Errorf("filters %s", got)
	}
	cfg.PasswordEnv = "FIREGRID_TEST_NOT_SET_ANYWHERE"
	if _, err := NewChirpStack(cfg, Options{Accept: (&sink{}).accept}); err == nil {
		t.Error("a password variable that is not set was taken")
	}
	if deviceOf("application/a1/device/70b3d57ed0001001/event/up") != deviceOf("application/a1/device/70b3d57ed0001001/event/status") {
		t.Error("a device's events go to different workers")
	}
}

// startPush serves the push endpoints with CTWing allowed from 127.0.0.1
// and OneNET from anywhere.
func startPush(t *testing.T, s *sink, ctwFrom []string) (*Push, string) {
	t.Helper()
	t.Setenv("FIREGRID_TEST_CTW_TOKEN", "ctw-secret")
	t.Setenv("FIREGRID_TEST_ONENET_TOKEN", "onenet-secret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig().Push
	cfg.Listen = ln.Addr().String()
	cfg.CTWing = CTWingConfig{TokenEnv: "FIREGRID_TEST_CTW_TOKEN", From: ctwFrom}
	cfg.OneNET = OneNETConfig{TokenEnv: "FIREGRID_TEST_ONENET_TOKEN"}
	p, err := NewPush(ln, cfg, Options{Accept: s.accept})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, "http://" + ln.Addr().String()
}

func post(t *testing.T, u, body string) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCTWingPush: a push with the subscription's token is kept and
// answered 200; without it, or from another network, it is refused and
// nothing is kept; one ingest cannot keep is answered 503.
func TestCTWingPush(t *testing.T) {
	s := &sink{}
	p, base := startPush(t, s, []string{"127.0.0.0/8"})
	body := `{"messageType":"dataReport","deviceId":"ctw-sd-0011","IMEI":"861234560000011","timestamp":1795392005250,"payload":{"battery_value":76}}`
	if code := post(t, base+CTWingPath+"?token=ctw-secret", body); code != http.StatusOK {
		t.Fatalf("push: %d", code)
	}
	if n, _ := s.counts(); n != 1 || s.accepted[0].Source != contract.SourceCTWing || string(s.accepted[0].Payload) != body {
		t.Fatalf("kept %d: %+v", n, s.accepted)
	}
	if code := post(t, base+CTWingPath, body); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code := post(t, base+CTWingPath+"?token=guess", body); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	resp, err := http.Get(base + CTWingPath + "?token=ctw-secret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	s.mu.Lock()
	s.fail = context.DeadlineExceeded
	s.mu.Unlock()
	if code := post(t, base+CTWingPath+"?token=ctw-secret", body); code != http.StatusServiceUnavailable {
		t.Errorf("not kept: %d, want 503 so that CTWing retries", code)
	}
	if n, _ := s.counts(); n != 1 {
		t.Errorf("kept %d", n)
	}
	if v := testutil.ToFloat64(p.refused.WithLabelValues(contract.SourceCTWing, "token")); v != 2 {
		t.Errorf("refused for the token: %v", v)
	}

	s2 := &sink{}
	_, base2 := startPush(t, s2, []string{"10.0.0.0/8"})
	if code := post(t, base2+CTWingPath+"?token=ctw-secret", body); code != http.StatusForbidden {
		t.Errorf("from another network: %d", code)
	}
	if n, _ := s2.counts(); n != 0 {
		t.Errorf("kept %d from another network", n)
	}
}

// TestOneNETPush: the URL check is answered with msg when signed with the
// token; a push is kept only when its msg_signature matches.
func TestOneNETPush(t *testing.T) {
	s := &sink{}
	p, base := startPush(t, s, nil)
	q := url.Values{"msg": {"a1b2c3"}, "nonce": {"n0nce"}, "signature": {OneNETSignature("onenet-secret", "n0nce", "a1b2c3")}}
	resp, err := http.Get(base + OneNETPath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b[:n]) != "a1b2c3" {
		t.Errorf("URL check: %d %q", resp.StatusCode, b[:n])
	}
	q.Set("signature", OneNETSignature("other", "n0nce", "a1b2c3"))
	if resp, err := http.Get(base + OneNETPath + "?" + q.Encode()); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("URL check with a wrong signature: %v %v", resp.StatusCode, err)
	}
	msg := `{"type":1,"dev_id":20230001,"ds_id":"gas_lel","at":1795392030000,"value":32}`
	signed := `{"msg":` + msg + `,"nonce":"abc","msg_signature":"` + OneNETSignature("onenet-secret", "abc", msg) + `"}`
	if code := post(t, base+OneNETPath, signed); code != http.StatusOK {
		t.Fatalf("signed push: %d", code)
	}
	forged := `{"msg":` + strings.Replace(msg, "32", "99", 1) + `,"nonce":"abc","msg_signature":"` + OneNETSignature("onenet-secret", "abc", msg) + `"}`
	if code := post(t, base+OneNETPath, forged); code != http.StatusUnauthorized {
		t.Errorf("a msg that is not the one signed: %d", code)
	}
	if code := post(t, base+OneNETPath, `not json`); code != http.StatusBadRequest {
		t.Errorf("not a push: %d", code)
	}
	if n, _ := s.counts(); n != 1 || string(s.accepted[0].Payload) != signed || s.accepted[0].Source != contract.SourceOneNET {
		t.Errorf("kept %d: %+v", n, s.accepted)
	}
	if v := testutil.ToFloat64(p.refused.WithLabelValues(contract.SourceOneNET, "signature")); v != 2 {
		t.Errorf("refused signatures: %v", v)
	}
}
