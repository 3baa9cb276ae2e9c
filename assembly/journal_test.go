package assembly

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/journal"
)

func telemetryPayload(seq int, ts time.Time) string {
	return fmt.Sprintf(`{"ts":%q,"seq":%d,"values":{"battery_pct":88,"rssi_dbm":-91}}`, ts.UTC().Format(time.RFC3339Nano), seq)
}

// TestServeSyncsAnAlarmBeforeItsAcknowledgement: with the journal's sync
// held, a detector's telemetry is acknowledged (written is enough for
// it), its alarm is not; once the sync ends the alarm is acknowledged and
// reaches the console. A SIGKILL cannot tell a write from a sync; the
// journal's file system can.
func TestServeSyncsAnAlarmBeforeItsAcknowledgement(t *testing.T) {
	fs := &journal.Faulty{}
	s := startServeWith(t, Options{JournalFS: fs}, "", "")
	st := openStream(t, s.HTTPAddr)
	d := elderlyDetector(t, s.Registry)
	dev := connectDevices(t, s)
	tel := contract.UplinkTopic(d.Kind, d.ID, contract.ChannelTelemetry)
	evt := contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent)
	c := dev.conn(evt)

	release := make(chan struct{})
	entered := make(chan struct{}, 64)
	fs.SetBeforeSync(func() { entered <- struct{}{}; <-release })
	defer func() {
		fs.SetBeforeSync(nil)
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	if tok := c.Publish(tel, 1, false, telemetryPayload(1, time.Now())); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("telemetry not acknowledged while no sync was wanted: %v", tok.Error())
	}
	alarm := c.Publish(evt, 1, false, alarmPayload(2, time.Now()))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the alarm asked for no sync")
	}
	if alarm.WaitTimeout(300 * time.Millisecond) {
		t.Fatalf("the alarm was acknowledged while its sync was held (%v)", alarm.Error())
	}
	// The console does not wait for the disk: the incident opens while
	// the sync is held, and only the PUBACK waits.
	st.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
		return c.Event == contract.EventOpened && c.Incident.Site == d.Site
	})
	if alarm.WaitTimeout(0) {
		t.Fatalf("the alarm was acknowledged while its sync was held (%v)", alarm.Error())
	}
	close(release)
	if !alarm.WaitTimeout(5*time.Second) || alarm.Error() != nil {
		t.Fatalf("the alarm was not acknowledged once synced: %v", alarm.Error())
	}
	ops := fs.Recorded()
	last := strings.Join(ops[max(0, len(ops)-3):], ",")
	if last != "write,write,sync" {
		t.Errorf("the journal's last operations %v, want the telemetry's write, the alarm's write, then a sync", ops)
	}
}

// TestServeRefusesWhatItCannotKeep: while the journal's disk is full, an
// MQTT 3.1.1 device's alarm gets no PUBACK and its connection is closed,
// an MQTT 5 device's gets a PUBACK with a failure reason; /healthz says
// so with 503, as does the metric. Once the disk has room, the alarm sent
// again is kept and reaches the console, and /healthz is 200 again.
func TestServeRefusesWhatItCannotKeep(t *testing.T) {
	fs := &journal.Faulty{}
	s := startServeWith(t, Options{JournalFS: fs}, "", "")
	st := openStream(t, s.HTTPAddr)
	d := elderlyDetector(t, s.Registry)
	cred := credentials(t, s, d.ID)
	dialAs(t, s.MQTTURL, cred).Disconnect(0) // the broker knows the account
	addr := strings.TrimPrefix(s.MQTTURL, "tcp://")
	evt := contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent)

	fs.Full.Store(true)
	c4, code := testenv.DialMQTT(t, addr, 4, cred.Username, cred.Username, cred.Password)
	if code != 0 {
		t.Fatalf("CONNACK 0x%x", code)
	}
	c4.Publish(1, evt, alarmPayload(1, time.Now()))
	if pk, err := c4.Read(5 * time.Second); err == nil {
		t.Fatalf("MQTT 3.1.1 device got %v (reason 0x%x) for an alarm the journal could not keep; want no PUBACK and the connection closed",
			pk.FixedHeader.Type, pk.ReasonCode)
	}
	c5, code := testenv.DialMQTT(t, addr, 5, cred.Username, cred.Username, cred.Password)
	if code != 0 {
		t.Fatalf("CONNACK 0x%x", code)
	}
	c5.Publish(2, evt, alarmPayload(2, time.Now()))
	pk, err := c5.Read(5 * time.Second)
	if err != nil || pk.FixedHeader.Type != packets.Puback || pk.PacketID != 2 || pk.ReasonCode < 0x80 {
		t.Fatalf("MQTT 5 device: %v %+v, want a PUBACK with a failure reason", err, pk)
	}
	status, problems := health(t, s.HTTPAddr)
	if status != http.StatusServiceUnavailable || len(problems) == 0 || problems[0].Check != "journal" {
		t.Errorf("/healthz %d %+v while the journal cannot write; want 503 naming the journal", status, problems)
	}
	if v := metric(t, s.HTTPAddr, "firegrid_journal_healthy"); v != 0 {
		t.Errorf("firegrid_journal_healthy %v while the disk is full", v)
	}

	fs.Full.Store(false)
	c5.Publish(3, evt, alarmPayload(3, time.Now()))
	if pk, err := c5.Read(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != 0 {
		t.Fatalf("once the disk has room: %v %+v, want a PUBACK", err, pk)
	}
	st.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
		return c.Event == contract.EventOpened && c.Incident.Site == d.Site
	})
	if code, problems := health(t, s.HTTPAddr); code != http.StatusOK || len(problems) != 0 {
		t.Errorf("/healthz %d %+v once the journal writes again", code, problems)
	}
	if v := metric(t, s.HTTPAddr, "firegrid_journal_healthy"); v != 1 {
		t.Errorf("firegrid_journal_healthy %v once the disk has room", v)
	}
}

func health(t *testing.T, addr string) (int, []console.Problem) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status   string            `json:"status"`
		Problems []console.Problem `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Problems
}
