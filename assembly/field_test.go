package assembly

import (
	"bufio"
	"context"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/gateway"
	"github.com/firegrid/firegrid/ingest/gb26875"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// fieldRegistry writes the demo territory with a building whose fire
// alarm system reports through transmission unit 0000A0010001, a LoRaWAN
// detector and an NB-IoT detector on CTWing.
func fieldRegistry(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"grid.geojson", "stations.geojson", "residents.csv"} {
		b, err := fs.ReadFile(configs.FS, "demo/"+f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sites, err := fs.ReadFile(configs.FS, "demo/sites.csv")
	if err != nil {
		t.Fatal(err)
	}
	sites = append(sites, "B-T1,building,测试养老服务中心,郑州市二七区 兴华北街 115号院 5号楼,113.633120,34.711060\n"...)
	devs := "id,kind,site,lon,lat,model,ports,gb26875,dev_eui,imei,platform_id\n" +
		"FD-T1,smoke,B-T1,,,JTY-GD-G3,,0000A0010001/1/1001,,,\n" +
		"FD-T2,smoke,B-T1,,,JTY-GD-G3,,0000A0010001/1/1002,,,\n" +
		"LS-T1,smoke,H-0001,,,LD-SD01 LoRaWAN 光电感烟探测器,,,70b3d57ed0001001,,\n" +
		"NS-T1,smoke,H-0003,,,NB-SD01 NB-IoT 独立式光电感烟探测器,,,,861234560000011,ctw-sd-0011\n"
	for f, b := range map[string][]byte{"sites.csv": sites, "devices.csv": []byte(devs)} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFieldSourcesEndToEnd: a GB/T 26875.3 component fire-alarm frame
// sent over TCP becomes a fire incident at the mapped building and is
// confirmed on the wire; a bad frame is denied and dead-lettered; a
// ChirpStack uplink published to Mosquitto and a CTWing push each become
// readings of registered devices.
func TestFieldSourcesEndToEnd(t *testing.T) {
	chirpstack := testenv.Mosquitto(t)
	if chirpstack == "" {
		return
	}
	t.Setenv("FIREGRID_TEST_CTWING_TOKEN", "ctw-token")
	reg := fieldRegistry(t)
	p := startServe(t, "", "", func(c *Config) {
		c.Registry = reg
		c.Sources.GB26875.Listen = "127.0.0.1:0"
		c.Sources.GB26875.Units = []gateway.GB26875Unit{{Address: "0000A0010001", From: []string{"127.0.0.1/32"}}}
		c.Sources.ChirpStack.URL = chirpstack
		c.Sources.ChirpStack.ClientID = "firegrid-e2e-chirpstack"
		c.Sources.Push.Listen = "127.0.0.1:0"
		c.Sources.Push.CTWing.TokenEnv = "FIREGRID_TEST_CTWING_TOKEN"
	})
	if p.GB26875Addr == "" || p.PushAddr == "" {
		t.Fatalf("listeners: %q %q", p.GB26875Addr, p.PushAddr)
	}
	st := openStream(t, p.HTTPAddr)

	// A transmission unit reports detector 1001 in fire alarm.
	conn, err := net.Dial("tcp", p.GB26875Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, gb26875.MaxFrame)
	cst := time.FixedZone("CST", 8*3600)
	now := gb26875.StampOf(time.Now().In(cst))
	data := (&gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{&gb26875.ComponentState{
		SystemType: gb26875.SystemFireAlarm, SystemAddr: 1, ComponentType: gb26875.ComponentPhotoSmoke, ComponentAddr: 1001,
		Status: gb26875.StatusNormal | gb26875.StatusFire, Time: now}}}).Append(nil)
	frame := &gb26875.Frame{Serial: 77, Version: gb26875.Version10, Time: now, Source: gb26875.AddressOf(0xA0010001), Command: gb26875.CmdSend, Data: data}
	if _, err := conn.Write(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _, err := gb26875.ReadFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	reply, _, err := gb26875.Parse(b)
	if err != nil || reply.Command != gb26875.CmdConfirm || reply.Serial != 77 {
		t.Fatalf("reply %+v %v, want the confirm of 77", reply, err)
	}
	c := st.next(t, 10*time.Second, func(c contract.IncidentChange) bool { return c.Event == contract.EventOpened })
	if c.Incident.Type != "fire" || c.Incident.Site != "B-T1" || c.Incident.Station == "" || !strings.Contains(strings.Join(c.Incident.Devices, ","), "FD-T1") {
		t.Errorf("incident %+v, want a fire at building B-T1 from FD-T1", c.Incident)
	}

	// The incident's context lists the building's detectors, those not
	// heard since start with an empty list of readings (the console reads
	// its length).
	var ctxv struct {
		Devices []struct {
			ID     string
			Recent *[]any
		}
	}
	getJSON(t, "http://"+p.HTTPAddr+"/api/v1/incidents/"+c.Incident.ID+"/context", &ctxv)
	if len(ctxv.Devices) != 2 {
		t.Errorf("context devices %+v", ctxv.Devices)
	}
	for _, d := range ctxv.Devices {
		if d.Recent == nil {
			t.Errorf("device %s: recent is null, want a list", d.ID)
		}
	}

	// A frame with a bad checksum: denied, dead-lettered.
	bad := frame.Bytes()
	bad[len(bad)-3]++
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	if b, _, err = gb26875.ReadFrame(r); err != nil {
		t.Fatal(err)
	}
	if reply, _, _ = gb26875.Parse(b); reply == nil || reply.Command != gb26875.CmdDeny {
		t.Fatalf("reply to a bad checksum: %+v", reply)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		var dls struct{ DeadLetters []contract.DeadLetter }
		getJSON(t, "http://"+p.HTTPAddr+"/api/v1/deadletters", &dls)
		for _, d := range dls.DeadLetters {
			if d.Reason == contract.ReasonBadChecksum && d.Topic == "gb26875/0000A0010001" {
				return true
			}
		}
		return false
	}, "the bad frame is a dead letter")

	// ChirpStack publishes an uplink of LS-T1 on its broker.
	cs := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(chirpstack).SetClientID("chirpstack-e2e"))
	if tok := cs.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cs.Disconnect(100)
	up := `{"deduplicationId":"e2e-1","time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","deviceInfo":{"devEui":"70b3d57ed0001001"},"fCnt":9,"object":{"alarm":0,"battery":91,"temperature":22.5}}`
	testenv.Eventually(t, 15*time.Second, func() bool {
		tok := cs.Publish("application/app-1/device/70b3d57ed0001001/event/up", 1, false, up)
		tok.WaitTimeout(5 * time.Second)
		return len(p.Recent.Of("LS-T1")) > 0
	}, "the ChirpStack uplink becomes a reading of LS-T1")

	// CTWing pushes a dataReport of NS-T1.
	push := `{"messageType":"dataReport","deviceId":"ctw-sd-0011","IMEI":"861234560000011","timestamp":` +
		strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"payload":{"battery_value":76,"temperature":21.5}}`
	resp, err := http.Post("http://"+p.PushAddr+gateway.CTWingPath+"?token=ctw-token", "application/json", strings.NewReader(push))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push answered %d", resp.StatusCode)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(p.Recent.Of("NS-T1")) > 0 }, "the push becomes a reading of NS-T1")
	// A push from the platform that is not one firegrid can read: kept as
	// a dead letter with the reason, answered 200 all the same.
	resp, err = http.Post("http://"+p.PushAddr+gateway.CTWingPath+"?token=ctw-token", "application/json", strings.NewReader(`{"deviceId":"ctw-sd-0011"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a push without messageType answered %d", resp.StatusCode)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		var dls struct{ DeadLetters []contract.DeadLetter }
		getJSON(t, "http://"+p.HTTPAddr+"/api/v1/deadletters", &dls)
		for _, d := range dls.DeadLetters {
			if d.Reason == contract.ReasonMissingField && d.Topic == gateway.CTWingPath {
				return true
			}
		}
		return false
	}, "the unreadable push is a dead letter")
	if v := metric(t, p.HTTPAddr, `firegrid_gb26875_frames_total{result="confirmed"}`); v != 1 {
		t.Errorf("confirmed frames: %v", v)
	}
}

// TestGB26875ScenarioSpeaksFrames: in a virtual run the devices behind a
// transmission unit publish nothing of contract v1; their unit sends the
// frames, and its heartbeat keeps them alive.
func TestGB26875ScenarioSpeaksFrames(t *testing.T) {
	sc := libraryScenario(t, "gb26875-building-fire.yaml")
	var frames, direct int
	rep, err := RunScenario(context.Background(), testConfig(t), sc, ScenarioRun{OnPublish: func(p simulator.Publication) {
		switch {
		case strings.HasPrefix(p.Topic, simulator.UnitTopicPrefix):
			frames++
		case strings.HasPrefix(p.Message.Device, "FD-"):
			direct++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.WriteSummary(&b)
		t.Fatal(b.String())
	}
	// Two units, a heartbeat each at least every minute for 8 minutes,
	// and the scenario's three frames.
	if frames < 2*8+3 || direct != 0 {
		t.Errorf("%d frames, %d contract-v1 publications of the detectors behind the units", frames, direct)
	}
}

// TestSimulatedUnitsOverTCP: `firegrid simulate --gb26875 ADDR` plays the
// devices behind transmission units over TCP to the listener, each frame
// confirmed, and the fire reaches the console.
func TestSimulatedUnitsOverTCP(t *testing.T) {
	p := startServe(t, "", "", func(c *Config) {
		c.Sources.GB26875.Listen = "127.0.0.1:0"
		c.Sources.GB26875.Units = []gateway.GB26875Unit{
			{Address: "0000A0010001", From: []string{"127.0.0.1"}}, {Address: "0000A0010002", From: []string{"127.0.0.1"}}}
	})
	st := openStream(t, p.HTTPAddr)
	sc, err := simulator.ParseScenario("unit.yaml", []byte("name: unit\nfleet: {off: true}\nsteps:\n  - {at: 0s, device: FD-0201, event: alarm}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The devices that speak for themselves connect with their own
	// credentials, as on any embedded broker.
	creds, _, err := IssueCredentials(ctx, p.Store, p.Registry.Devices(""), nil, IssueAll)
	if err != nil {
		t.Fatal(err)
	}
	dialAs(t, p.MQTTURL, creds["SD-0001"]).Disconnect(0) // once the broker knows them
	rep, err := simulator.Simulate(ctx, simulator.Config{MQTTURL: p.MQTTURL, GB26875: p.GB26875Addr, Credentials: creds}, p.Registry.Devices(""), sc, nil)
	if err != nil || rep.Published != 1 {
		t.Fatalf("simulate: %v, %+v", err, rep)
	}
	c := st.next(t, 10*time.Second, func(c contract.IncidentChange) bool { return c.Event == contract.EventOpened })
	if c.Incident.Type != "fire" || c.Incident.Site != "B-02" {
		t.Errorf("incident %+v", c.Incident)
	}
	if v := metric(t, p.HTTPAddr, `firegrid_gb26875_frames_total{result="confirmed"}`); v != 1 {
		t.Errorf("confirmed %v", v)
	}
}

// observed records what a virtual firegrid did.
type observed struct {
	*Virtual
	changes []*simulator.IncidentChange
	cmds    []*simulator.Command
}

func (o *observed) Observe() ([]*simulator.IncidentChange, []*simulator.Command) {
	ch, cmds := o.Virtual.Observe()
	o.changes, o.cmds = append(o.changes, ch...), append(o.cmds, cmds...)
	return ch, cmds
}

// TestDemoTimelineShowsEveryKind: the demo's timeline raises an incident
// of each kind added within contract v1, and the GB/T 26875.3 building's
// fire, in its first three minutes.
func TestDemoTimelineShowsEveryKind(t *testing.T) {
	sc, err := LoadDemoScenario()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := StartVirtual(ctx, testConfig(t), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	o := &observed{Virtual: v}
	r := &simulator.Runner{Config: simulator.Config{Duration: 3 * time.Minute, Units: true}, Scenario: sc, Devices: v.Processes[0].Registry.Devices("")}
	if _, err := simulator.RunVirtual(ctx, r, v.Clock, o); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	snapshot := false
	for _, c := range o.changes {
		if c.Event == contract.EventOpened {
			seen[c.Incident.Type+" "+c.Incident.Site] = true
		}
		for _, st := range c.Incident.Steps {
			snapshot = snapshot || (c.Incident.Type == "fire_lane_blocked" && strings.Contains(st.Note, "snapshot https://snapshots.example.com/CAM-001/"))
		}
	}
	if !snapshot {
		t.Error("the fire-lane ticket does not carry the camera's snapshot")
	}
	for _, want := range []string{"fire B-01", "gas_leak H-0006", "emergency_call H-0005", "electrical_fire_risk SHED-01",
		"fire_lane_blocked B-01", "ebike_in_lift COR-01", "fire H-0108"} {
		if !seen[want] {
			t.Errorf("no %s incident opened; opened: %v", want, seen)
		}
	}
	valve := false
	for _, c := range o.cmds {
		valve = valve || (c.Cmd == "valve_close" && c.Device == "GS-0001")
	}
	if !valve {
		t.Error("no valve_close to GS-0001")
	}
}
