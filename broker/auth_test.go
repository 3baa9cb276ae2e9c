package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

// memAccounts is an Accounts in memory.
type memAccounts struct {
	mu   sync.Mutex
	list []access.MQTTAccount
	rev  int64
}

func (m *memAccounts) MQTTAccounts(context.Context) ([]access.MQTTAccount, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]access.MQTTAccount(nil), m.list...), m.rev, nil
}

func (m *memAccounts) MQTTAccountsRevision(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev, nil
}

// add makes an account and returns its secret.
func (m *memAccounts) add(t testing.TB, a access.MQTTAccount) string {
	t.Helper()
	secret := access.NewSecret()
	h, err := access.HashSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	a.Hash = h
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.list {
		if m.list[i].Username == a.Username {
			m.list[i] = a
			m.rev++
			return secret
		}
	}
	m.list = append(m.list, a)
	m.rev++
	return secret
}

func (m *memAccounts) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.list {
		if m.list[i].Username == name {
			m.list = append(m.list[:i], m.list[i+1:]...)
			m.rev++
			return
		}
	}
}

func device(kind contract.Kind, id string) access.MQTTAccount {
	return access.MQTTAccount{Username: id, Role: access.MQTTDevice, Kind: kind, Device: id}
}

// secured starts a broker that lets in accts' accounts only; the uplinks
// it accepted are counted by topic.
type securedBroker struct {
	*Embedded
	mu       sync.Mutex
	accepted map[string]int
}

func (b *securedBroker) count(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted[topic]
}

func secured(t *testing.T, accts *memAccounts, flood FloodLimit, log *slog.Logger) *securedBroker {
	t.Helper()
	sb := &securedBroker{accepted: map[string]int{}}
	accept := func(_ context.Context, u *contract.Uplink) error {
		sb.mu.Lock()
		sb.accepted[u.Topic]++
		sb.mu.Unlock()
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ln, Options{Accept: accept, Registerer: prometheus.NewRegistry(), Accounts: accts, Flood: flood,
		AccountsRefresh: 100 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sb.Embedded = b
	return sb
}

// dial connects a paho client (MQTT 3.1.1) with a user name and secret.
func dial(url, id, user, secret string) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second)
	if user != "" {
		o.SetUsername(user).SetPassword(secret)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, fmt.Errorf("connect: no answer")
	}
	return c, tok.Error()
}

func mustDial(t *testing.T, url, id, user, secret string) paho.Client {
	t.Helper()
	c, err := dial(url, id, user, secret)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func (b *securedBroker) refused(reason string) float64 {
	return testutil.ToFloat64(b.m.refused.WithLabelValues(reason))
}

// TestConnectNeedsCredentials: no user name, an unknown one, a wrong
// secret: each refused and counted under its reason; the right secret
// gets in.
func TestConnectNeedsCredentials(t *testing.T) {
	accts := &memAccounts{}
	secret := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	b := secured(t, accts, FloodLimit{}, nil)
	for _, tc := range []struct {
		user, secret, reason string
	}{
		{"", "", refusedNoCredentials},
		{"SD-9999", secret, refusedUnknownUser},
		{"SD-0001", secret + "x", refusedBadSecret},
		{"SD-0001", "", refusedBadSecret},
	} {
		if _, err := dial(b.URL(), "x", tc.user, tc.secret); err == nil {
			t.Errorf("user %q secret %q: let in", tc.user, tc.secret)
		}
		if v := b.refused(tc.reason); v < 1 {
			t.Errorf("refused{reason=%s} = %v after user %q", tc.reason, v, tc.user)
		}
	}
	mustDial(t, b.URL(), "any-id", "SD-0001", secret)

	// A device issued after the broker started gets in at once.
	later := accts.add(t, device(contract.KindSmoke, "SD-0002"))
	time.Sleep(25 * time.Millisecond) // past refresh/5: a miss reads the accounts again
	mustDial(t, b.URL(), "x", "SD-0002", later)
}

// TestDeviceOnlyItsOwnTopics: a device publishes its own uplinks and reads
// its own cmd topic; another device's topics, a cmd topic, and wildcard
// reads are refused. A refused QoS 1 PUBLISH is not acknowledged and the
// MQTT 3.1.1 connection closes.
func TestDeviceOnlyItsOwnTopics(t *testing.T) {
	accts := &memAccounts{}
	s1 := accts.add(t, device(contract.KindCharger, "CH-001"))
	accts.add(t, device(contract.KindCharger, "CH-002"))
	b := secured(t, accts, FloodLimit{}, nil)
	c := mustDial(t, b.URL(), "CH-001", "CH-001", s1)

	if tok := c.Publish("fg/v1/charger/CH-001/event", 1, false, `{"seq":1,"event":"overload"}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("own event: %v", tok.Error())
	}
	if b.count("fg/v1/charger/CH-001/event") != 1 {
		t.Fatal("own event not accepted")
	}
	// Its own cmd topic: subscribed, and a command arrives.
	got := make(chan string, 1)
	tok := c.Subscribe("fg/v1/charger/CH-001/cmd", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil || tok.(*paho.SubscribeToken).Result()["fg/v1/charger/CH-001/cmd"] != 1 {
		t.Fatalf("own cmd topic: %v %v", tok.Error(), tok.(*paho.SubscribeToken).Result())
	}
	cmd := &contract.Command{Kind: contract.KindCharger, Device: "CH-001", Cmd: "port_off", Port: 2}
	if err := b.PublishCommand(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no command on the device's own cmd topic")
	}
	// Reads of others' traffic: refused in the SUBACK (0x80).
	for _, f := range []string{"#", "fg/v1/#", "fg/v1/charger/+/cmd", "fg/v1/charger/CH-002/cmd", "fg/v1/+/+/event", "$SYS/#"} {
		tok := c.Subscribe(f, 1, func(paho.Client, paho.Message) { t.Errorf("a message on refused filter %s", f) })
		if !tok.WaitTimeout(5*time.Second) || tok.(*paho.SubscribeToken).Result()[f] != 0x80 {
			t.Errorf("subscribe %s: %v, want refused (0x80)", f, tok.(*paho.SubscribeToken).Result())
		}
	}
	if v := b.refused(refusedRead); v < 6 {
		t.Errorf("refused{reason=read_denied} = %v, want 6", v)
	}
	// Publishing as another device: no PUBACK, the connection closes.
	for _, topic := range []string{"fg/v1/charger/CH-002/event", "fg/v1/charger/CH-002/cmd", "fg/v1/smoke/CH-001/event"} {
		c := mustDial(t, b.URL(), "CH-001", "CH-001", s1)
		tok := c.Publish(topic, 1, false, `{"seq":2,"event":"smoke"}`)
		if tok.WaitTimeout(time.Second) && tok.Error() == nil {
			t.Errorf("publish to %s acknowledged", topic)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return !c.IsConnectionOpen() }, "still connected after publishing to %s", topic)
		if b.count(topic) != 0 {
			t.Errorf("%s reached ingest", topic)
		}
	}
	if v := b.refused(refusedPublish); v != 3 {
		t.Errorf("refused{reason=publish_denied} = %v, want 3", v)
	}
}

// TestClientIDIsTheDevice: a device cannot take another's session by
// using its client id: its connection is named under its user name.
func TestClientIDIsTheDevice(t *testing.T) {
	accts := &memAccounts{}
	s1 := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	s2 := accts.add(t, device(contract.KindSmoke, "SD-0002"))
	b := secured(t, accts, FloodLimit{}, nil)
	victim := mustDial(t, b.URL(), "SD-0002", "SD-0002", s2)
	mustDial(t, b.URL(), "SD-0002", "SD-0001", s1) // SD-0001 claims SD-0002's client id
	time.Sleep(200 * time.Millisecond)
	if !victim.IsConnectionOpen() {
		t.Fatal("a device's connection was taken over by another device using its client id")
	}
	if _, ok := b.srv.Clients.Get("SD-0001:SD-0002"); !ok {
		t.Error("the impostor's connection is not named under its user name")
	}
	// A device's second connection (a person trying it by hand beside
	// the device) does not take over the first either.
	second := mustDial(t, b.URL(), "by-hand", "SD-0002", s2)
	time.Sleep(100 * time.Millisecond)
	if !victim.IsConnectionOpen() || !second.IsConnectionOpen() {
		t.Error("a device's second connection with another client id ended the first")
	}
	// A service account's client id must start with its name.
	svc := accts.add(t, access.MQTTAccount{Username: "firegrid-observer", Role: access.MQTTObserver})
	time.Sleep(25 * time.Millisecond)
	if _, err := dial(b.URL(), "SD-0002", "firegrid-observer", svc); err == nil {
		t.Error("a service connected under a device's client id")
	}
	obs := mustDial(t, b.URL(), "firegrid-observer-1", "firegrid-observer", svc)
	if tok := obs.Subscribe("fg/v1/#", 1, func(paho.Client, paho.Message) {}); !tok.WaitTimeout(5*time.Second) || tok.(*paho.SubscribeToken).Result()["fg/v1/#"] != 1 {
		t.Error("the observer may not read fg/v1/#")
	}
	if tok := obs.Publish("fg/v1/smoke/SD-0001/event", 1, false, "{}"); tok.WaitTimeout(time.Second) && tok.Error() == nil {
		t.Error("the observer published a device's event")
	}
}

// TestRotatedSecretRevokesTheConnection: a new secret ends the
// connection made with the old one, and only the new one gets in.
func TestRotatedSecretRevokesTheConnection(t *testing.T) {
	accts := &memAccounts{}
	old := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	accts.add(t, device(contract.KindSmoke, "SD-0003"))
	b := secured(t, accts, FloodLimit{}, nil)
	s3 := accts.add(t, device(contract.KindSmoke, "SD-0003"))
	time.Sleep(25 * time.Millisecond)
	c := mustDial(t, b.URL(), "x", "SD-0001", old)
	fresh := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	testenv.Eventually(t, 3*time.Second, func() bool { return !c.IsConnectionOpen() }, "the old secret's connection stays open")
	if _, err := dial(b.URL(), "x", "SD-0001", old); err == nil {
		t.Error("the old secret still gets in")
	}
	mustDial(t, b.URL(), "x", "SD-0001", fresh)
	other := mustDial(t, b.URL(), "x", "SD-0003", s3)
	accts.remove("SD-0003")
	testenv.Eventually(t, 3*time.Second, func() bool { return !other.IsConnectionOpen() }, "a removed account's connection stays open")
	if b.refused(refusedRevoked) < 2 {
		t.Errorf("refused{reason=revoked} = %v, want 2", b.refused(refusedRevoked))
	}
}

// TestFloodDisconnectsButAlarmsPass: a device sending telemetry above its
// limit is disconnected; during the cool-down its telemetry closes the
// connection again while its alarms are accepted; after it, telemetry
// passes again.
func TestFloodDisconnectsButAlarmsPass(t *testing.T) {
	accts := &memAccounts{}
	secret := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	quiet := accts.add(t, device(contract.KindSmoke, "SD-0002"))
	cool := 1500 * time.Millisecond
	b := secured(t, accts, FloodLimit{Rate: 2, Burst: 5, Cooldown: cool}, nil)
	tel, ev := "fg/v1/smoke/SD-0001/telemetry", "fg/v1/smoke/SD-0001/event"
	c := mustDial(t, b.URL(), "x", "SD-0001", secret)
	n := 0
	for ; n < 50 && c.IsConnectionOpen(); n++ {
		tok := c.Publish(tel, 1, false, fmt.Sprintf(`{"seq":%d,"values":{}}`, n))
		tok.WaitTimeout(time.Second)
	}
	start := time.Now()
	testenv.Eventually(t, 5*time.Second, func() bool { return !c.IsConnectionOpen() }, "a flooding device stays connected")
	if got := b.count(tel); got < 5 || got > 7 {
		t.Errorf("%d telemetry messages accepted before the limit, want the burst of 5 (and what the rate added)", got)
	}
	if b.refused(refusedFlood) != 1 {
		t.Errorf("refused{reason=flood} = %v, want 1", b.refused(refusedFlood))
	}
	// Another device is not touched.
	mustDial(t, b.URL(), "x", "SD-0002", quiet).Publish("fg/v1/smoke/SD-0002/telemetry", 1, false, `{"seq":1}`).WaitTimeout(5 * time.Second)
	if b.count("fg/v1/smoke/SD-0002/telemetry") != 1 {
		t.Error("a quiet device's telemetry was refused")
	}
	// Cooling down: an alarm passes, acknowledged.
	c = mustDial(t, b.URL(), "x", "SD-0001", secret)
	for i := range 3 {
		tok := c.Publish(ev, 1, false, fmt.Sprintf(`{"seq":%d,"event":"alarm"}`, 100+i))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("alarm during the cool-down: %v", tok.Error())
		}
	}
	if b.count(ev) != 3 {
		t.Fatalf("alarms accepted during the cool-down: %d, want 3", b.count(ev))
	}
	// Its telemetry still closes the connection.
	before := b.count(tel)
	c.Publish(tel, 1, false, `{"seq":200}`).WaitTimeout(time.Second)
	testenv.Eventually(t, 5*time.Second, func() bool { return !c.IsConnectionOpen() }, "telemetry during the cool-down accepted")
	if b.count(tel) != before || b.refused(refusedCooldown) < 1 {
		t.Errorf("telemetry during the cool-down: accepted %d, refused{cooldown} %v", b.count(tel)-before, b.refused(refusedCooldown))
	}
	time.Sleep(time.Until(start.Add(cool + 200*time.Millisecond)))
	c = mustDial(t, b.URL(), "x", "SD-0001", secret)
	if tok := c.Publish(tel, 1, false, `{"seq":300}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil || b.count(tel) != before+1 {
		t.Errorf("telemetry after the cool-down: %v, accepted %d", tok.Error(), b.count(tel)-before)
	}
}

// TestMQTT5RefusalIsAReasonCode: an MQTT 5 device publishing to another's
// topic gets a PUBACK with "not authorized", stays connected, and nothing
// reaches ingest; flooding ends with a DISCONNECT saying why.
func TestMQTT5RefusalIsAReasonCode(t *testing.T) {
	accts := &memAccounts{}
	secret := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	b := secured(t, accts, FloodLimit{Rate: 1, Burst: 2, Cooldown: time.Minute}, nil)
	addr := strings.TrimPrefix(b.URL(), "tcp://")
	if _, code := testenv.DialMQTT(t, addr, 5, "x", "SD-0001", "wrong"); code != packets.ErrBadUsernameOrPassword.Code {
		t.Errorf("MQTT 5 wrong secret: CONNACK 0x%x, want 0x86", code)
	}
	c, code := testenv.DialMQTT(t, addr, 5, "", "SD-0001", secret)
	if code != 0 {
		t.Fatalf("CONNACK 0x%x", code)
	}
	c.Publish(1, "fg/v1/smoke/SD-0002/event", `{"seq":1,"event":"alarm"}`)
	pk, err := c.Read(5 * time.Second)
	if err != nil || pk.FixedHeader.Type != packets.Puback || pk.PacketID != 1 || pk.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("refused publish: %v %+v, want PUBACK 0x87", err, pk)
	}
	c.Publish(2, "fg/v1/smoke/SD-0001/event", `{"seq":2,"event":"alarm"}`)
	if pk, err := c.Read(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != 0 {
		t.Fatalf("own alarm after a refusal: %v %+v", err, pk)
	}
	if b.count("fg/v1/smoke/SD-0002/event") != 0 || b.count("fg/v1/smoke/SD-0001/event") != 1 {
		t.Error("the refused message reached ingest, or the good one did not")
	}
	for i := uint16(10); ; i++ {
		c.Publish(i, "fg/v1/smoke/SD-0001/telemetry", `{"seq":9}`)
		pk, err := c.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("flooding: %v before a DISCONNECT", err)
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			if pk.ReasonCode != packets.ErrMessageRateTooHigh.Code {
				t.Errorf("DISCONNECT 0x%x, want 0x96 (message rate too high)", pk.ReasonCode)
			}
			break
		}
		if i > 20 {
			t.Fatal("no DISCONNECT after 10 messages above a limit of 2")
		}
	}
}

// TestSecretsNotLogged: at debug level the broker logs packets; a
// CONNECT's secret never appears, however it would be spelled.
func TestSecretsNotLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	accts := &memAccounts{}
	secret := accts.add(t, device(contract.KindSmoke, "SD-0001"))
	b := secured(t, accts, FloodLimit{}, log)
	addr := strings.TrimPrefix(b.URL(), "tcp://")
	mustDial(t, b.URL(), "x", "SD-0001", secret)
	dial(b.URL(), "x", "SD-0001", secret+"-wrong")
	// A second CONNECT is a protocol error, which mochi logs with the
	// whole packet.
	c, _ := testenv.DialMQTT(t, addr, 4, "x", "SD-0001", secret)
	c.Send(c.Connect("again", "second-connect-user", secret))
	c.Read(2 * time.Second)
	// Packets are logged with %+v: the user name as a list of bytes.
	user := strings.Trim(fmt.Sprint([]byte("second-connect-user")), "[]")
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(buf.String(), user) },
		"the second CONNECT was not logged: the test shows nothing")
	out := buf.String()
	for _, spelling := range []string{secret, strings.Trim(fmt.Sprint([]byte(secret)), "[]"), hex.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte(secret)), secret[:12]} {
		if strings.Contains(out, spelling) {
			t.Errorf("the secret is in the debug log as %q:\n%s", spelling, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkConnectAuthenticate is a device's CONNECT as the hook checks
// it: the account looked up, the secret verified, the client named.
func BenchmarkConnectAuthenticate(b *testing.B) {
	accts := &memAccounts{}
	secret := accts.add(b, device(contract.KindSmoke, "SD-0001"))
	h, err := newAuthHook(context.Background(), accts, nil, newBrokerMetrics(nil, nil), slog.New(slog.DiscardHandler), FloodLimit{}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	pk := packets.Packet{Connect: packets.ConnectParams{Username: []byte("SD-0001"), Password: []byte(secret), ClientIdentifier: "SD-0001"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cl := srv.NewClient(nil, "bench", "SD-0001", false)
		for pb.Next() {
			if !h.OnConnectAuthenticate(cl, pk) {
				b.Fatal("refused")
			}
		}
	})
}
