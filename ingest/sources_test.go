package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest/gb26875"
)

var (
	fieldRegOnce sync.Once
	fieldReg     *devices.Registry
	fieldRegErr  error
)

// fieldRegistry is the demo territory with testdata/registry's devices (a
// building with a transmission unit's detectors, LoRaWAN and NB-IoT
// devices) instead of the demo's.
func fieldRegistry(t testing.TB) *devices.Registry {
	t.Helper()
	fieldRegOnce.Do(func() {
		files, err := devices.ReadFilesFS(configs.FS, "demo")
		if err != nil {
			fieldRegErr = err
			return
		}
		dev, err := os.ReadFile("testdata/registry/devices.csv")
		if err != nil {
			fieldRegErr = err
			return
		}
		sites, err := os.ReadFile("testdata/registry/sites-extra.csv")
		if err != nil {
			fieldRegErr = err
			return
		}
		files[devices.DevicesFile] = dev
		files[devices.SitesFile] = append(files[devices.SitesFile], sites...)
		fieldReg, fieldRegErr = devices.LoadFiles(files)
	})
	if fieldRegErr != nil {
		t.Fatal(fieldRegErr)
	}
	return fieldReg
}

func testModels(t testing.TB) *Models {
	t.Helper()
	b, err := os.ReadFile("testdata/models.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseModels("testdata/models.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testDecoder(t testing.TB, source string) SourceDecoder {
	t.Helper()
	d, err := NewDecoder(source, Setup{Registry: fieldRegistry(t), Models: testModels(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// goldenResult is a decoder's result as expected.json holds it.
type goldenResult struct {
	Key      string             `json:"key,omitempty"`
	Messages []contract.Message `json:"messages,omitempty"`
	Rejected []goldenReject     `json:"rejected,omitempty"`
	Error    *goldenReject      `json:"error,omitempty"`
}

type goldenReject struct {
	Reason contract.Reason `json:"reason"`
	Detail string          `json:"detail"`
}

func resultOf(d Decoded, err error) goldenResult {
	r := goldenResult{Key: d.Key, Messages: d.Messages}
	for _, rej := range d.Rejected {
		r.Rejected = append(r.Rejected, goldenReject{rej.Reason, rej.Detail})
	}
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) {
			r.Error = &goldenReject{rej.Reason, rej.Detail}
		} else {
			r.Error = &goldenReject{"not a RejectError", err.Error()}
		}
	}
	return r
}

// asJSON normalises a value through JSON, for comparing with a file.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSourceGolden walks testdata/{chirpstack,ctwing,onenet}: each case
// is a folder with the uplink (input.json, and topic for ChirpStack) and
// what the source's decoder must make of it (expected.json).
func TestSourceGolden(t *testing.T) {
	received := time.Date(2026, 11, 23, 8, 0, 30, 0, time.UTC)
	for _, source := range []string{contract.SourceChirpStack, contract.SourceCTWing, contract.SourceOneNET} {
		dec := testDecoder(t, source)
		cases, _ := filepath.Glob(filepath.Join("testdata", source, "*"))
		if len(cases) < 3 {
			t.Fatalf("%s: %d cases", source, len(cases))
		}
		for _, dir := range cases {
			t.Run(source+"/"+filepath.Base(dir), func(t *testing.T) {
				input, err := os.ReadFile(filepath.Join(dir, "input.json"))
				if err != nil {
					t.Fatal(err)
				}
				topic := "/push/" + source
				if b, err := os.ReadFile(filepath.Join(dir, "topic")); err == nil {
					topic = strings.TrimSpace(string(b))
				}
				want, err := os.ReadFile(filepath.Join(dir, "expected.json"))
				if err != nil {
					t.Fatal(err)
				}
				d, err := dec.DecodeUplink(&contract.Uplink{Source: source, Topic: topic, Payload: input, ReceivedAt: received})
				got := asJSON(t, resultOf(d, err))
				var wantV any
				if err := json.Unmarshal(want, &wantV); err != nil {
					t.Fatalf("expected.json: %v", err)
				}
				if !reflect.DeepEqual(got, wantV) {
					gb, _ := json.MarshalIndent(got, "", "  ")
					t.Errorf("decoded\n%s\nwant (expected.json)\n%s", gb, want)
				}
				for _, m := range d.Messages {
					if rej := checkMessage(&m); rej != nil {
						t.Errorf("a decoded message fails the contract: %v", rej)
					}
				}
			})
		}
	}
}

// goldenFrame reads a golden frame of package gb26875.
func goldenFrame(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("gb26875", "testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		h, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h...)
	}
	return out
}

// TestGB26875Decoder reads the golden frames: each becomes the messages of
// the devices the test registry maps behind unit 0000A0010001.
func TestGB26875Decoder(t *testing.T) {
	dec := testDecoder(t, contract.SourceGB26875)
	received := time.Date(2026, 11, 23, 8, 0, 11, 0, time.UTC)
	// The frames' time tags are China Standard Time: 16:00:08 is 08:00:08 UTC.
	utc := func(sec int) time.Time { return time.Date(2026, 11, 23, 8, 0, sec, 0, time.UTC) }
	ev := func(dev string, kind contract.Kind, seq uint64, ts time.Time, event string) contract.Message {
		return contract.Message{Kind: kind, Device: dev, Channel: contract.ChannelEvent, TS: ts, Seq: seq, Event: event}
	}
	alive := func(dev string, kind contract.Kind, seq uint64, ts time.Time) contract.Message {
		return contract.Message{Kind: kind, Device: dev, Channel: contract.ChannelTelemetry, TS: ts, Seq: seq}
	}
	behind := func(serial uint64, ts time.Time) []contract.Message {
		var out []contract.Message
		for _, id := range []string{"CAM-T1", "EF-T1", "FAS-T1", "FD-T1", "FD-T2"} {
			d, _ := fieldRegistry(t).Device(id)
			out = append(out, alive(id, d.Kind, serial<<8|0xFF, ts))
		}
		return out
	}
	cases := []struct {
		frame    string
		messages []contract.Message
		rejected []contract.Reason
		err      contract.Reason
	}{
		{frame: "component-fire", messages: []contract.Message{ev("FD-T1", contract.KindSmoke, 258<<8, utc(8), "alarm")}},
		{frame: "two-components", messages: []contract.Message{
			ev("FD-T2", contract.KindSmoke, 10<<8, utc(1), "fault"), ev("FD-T1", contract.KindSmoke, 10<<8|1, utc(2), "clear")}},
		{frame: "system-state", messages: []contract.Message{ev("FAS-T1", contract.KindSmoke, 7<<8, utc(9), "alarm")}},
		{frame: "operation-reset", messages: []contract.Message{ev("FAS-T1", contract.KindSmoke, 8<<8, utc(0).Add(5*time.Minute), "clear")}},
		{frame: "unit-heartbeat", messages: behind(9, utc(10))},
		{frame: "confirm"},
		{frame: "time-sync"},
		{frame: "bad-checksum", err: contract.ReasonBadChecksum},
		{frame: "bad-end", err: contract.ReasonBadFrame},
		{frame: "bad-length", err: contract.ReasonBadFrame},
		{frame: "bad-objects", err: contract.ReasonBadFrame},
	}
	for _, c := range cases {
		t.Run(c.frame, func(t *testing.T) {
			d, err := dec.DecodeUplink(&contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/0000A0010001",
				Payload: goldenFrame(t, c.frame), ReceivedAt: received})
			var rej *RejectError
			if c.err != "" {
				if !errors.As(err, &rej) || rej.Reason != c.err {
					t.Fatalf("%v, want %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Messages, c.messages) {
				t.Errorf("messages\n%+v\nwant\n%+v", d.Messages, c.messages)
			}
			if len(d.Rejected) != len(c.rejected) {
				t.Errorf("rejected %+v, want %v", d.Rejected, c.rejected)
			}
		})
	}
}

// TestGB26875UnmappedAndMismatched: a component the registry does not
// map, or maps to a device a fire alarm system does not report, is a dead
// letter; the frame's other objects go on.
func TestGB26875UnmappedAndMismatched(t *testing.T) {
	at := gb26875.StampOf(time.Date(2026, 11, 23, 16, 0, 0, 0, ChinaStandardTime))
	comp := func(addr uint32) gb26875.Object {
		return &gb26875.ComponentState{SystemType: 1, SystemAddr: 1, ComponentType: 42, ComponentAddr: addr,
			Status: gb26875.StatusNormal | gb26875.StatusFire, Time: at}
	}
	data := (&gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{comp(1009), comp(3001), comp(2001), comp(1001)}}).Append(nil)
	f := &gb26875.Frame{Serial: 40, Version: gb26875.Version10, Time: at, Source: gb26875.AddressOf(0xA0010001), Command: gb26875.CmdSend, Data: data}
	d, err := testDecoder(t, contract.SourceGB26875).DecodeUplink(&contract.Uplink{Source: contract.SourceGB26875, Payload: f.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rejected) != 2 || d.Rejected[0].Reason != contract.ReasonUnknownDevice || d.Rejected[1].Reason != contract.ReasonKindMismatch ||
		!strings.Contains(d.Rejected[0].Detail, "0000A0010001/1/1009") {
		t.Errorf("rejected %+v", d.Rejected)
	}
	if len(d.Messages) != 2 || d.Messages[0].Device != "EF-T1" || d.Messages[0].Event != "residual_current_alarm" ||
		d.Messages[1].Device != "FD-T1" || d.Messages[1].Event != "alarm" {
		t.Errorf("messages %+v", d.Messages)
	}
	// A component in test state reports a test, not a fire.
	data = (&gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{&gb26875.ComponentState{SystemAddr: 1, ComponentAddr: 1001,
		Status: gb26875.StatusFire, Time: at}}}).Append(nil)
	f.Data = data
	d, _ = testDecoder(t, contract.SourceGB26875).DecodeUplink(&contract.Uplink{Source: contract.SourceGB26875, Payload: f.Bytes()})
	if len(d.Messages) != 1 || d.Messages[0].Event != "test" {
		t.Errorf("test state: %+v", d.Messages)
	}
}

func TestModelsFileErrors(t *testing.T) {
	_, err := ParseModels("m.yaml", []byte(`models:
  - model: A
    kind: smoke
    values: {pressure_mpa: p, temp_c: ""}
    event: {field: s, map: {"1": fire}}
  - model: A
    data: nope
  - kind: toaster
    colour: red
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"m.yaml:9:5: models.2.colour: unknown field",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = ParseModels("m.yaml", []byte(`models:
  - model: A
    kind: smoke
    values: {pressure_mpa: p, temp_c: ""}
    event: {field: s, map: {"1": fire}}
  - model: A
    data: nope
  - kind: toaster
`))
	for _, want := range []string{
		`m.yaml:4:14: models.0.values.pressure_mpa (id "A"): not a contract-v1 value of smoke devices`,
		`m.yaml:4:31: models.0.values.temp_c (id "A"): want the field that holds it`,
		`m.yaml:5:29: models.0.event.map.1 (id "A"): "fire" is not a contract-v1 event of smoke devices`,
		`m.yaml:6:5: models.1.model (id "A"): listed twice`,
		`m.yaml:7:5: models.1.data (id "A"): no payload codec "nope"`,
		`m.yaml:8:5: models.2.model: required`,
		`m.yaml:8:5: models.2.kind: unknown device kind "toaster"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	b, err := configs.FS.ReadFile("models.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseModels("configs/models.yaml", b); err != nil {
		t.Errorf("the shipped models: %v", err)
	}
}

// recorder is a contract.Publisher that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	recs []contract.Record
	fail error
}

func (r *recorder) Publish(_ context.Context, recs ...contract.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.recs = append(r.recs, recs...)
	return nil
}

func (r *recorder) take() []contract.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

// TestAcceptFromSources: a field source's uplink goes through its decoder
// and then the checks, enrichment and dead letters of contract v1; a
// repeat is dropped once kept, not before; an uplink of a source the
// process has no decoder for is a dead letter.
func TestAcceptFromSources(t *testing.T) {
	reg := fieldRegistry(t)
	rec := &recorder{}
	sources := map[string]SourceDecoder{}
	for _, s := range []string{contract.SourceGB26875, contract.SourceChirpStack} {
		sources[s] = testDecoder(t, s)
	}
	in, err := New(DefaultConfig(), Options{Registry: reg, Publisher: rec, Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 8, 0, 11, 0, time.UTC)
	// A frame with a mapped and an unmapped component: a reading at the
	// building, and a dead letter.
	at := gb26875.StampOf(now.In(ChinaStandardTime))
	data := (&gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{
		&gb26875.ComponentState{SystemAddr: 1, ComponentAddr: 1001, Status: gb26875.StatusNormal | gb26875.StatusFire, Time: at},
		&gb26875.ComponentState{SystemAddr: 1, ComponentAddr: 1077, Status: gb26875.StatusNormal | gb26875.StatusFire, Time: at},
	}}).Append(nil)
	frame := (&gb26875.Frame{Serial: 5, Version: gb26875.Version10, Time: at, Source: gb26875.AddressOf(0xA0010001), Command: gb26875.CmdSend, Data: data}).Bytes()
	u := &contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/0000A0010001", Payload: frame, ReceivedAt: now}
	if err := in.Accept(ctx, u); err != nil {
		t.Fatal(err)
	}
	recs := rec.take()
	if len(recs) != 2 {
		t.Fatalf("%d records, want a reading and a dead letter", len(recs))
	}
	r, ok := recs[0].Value.(*contract.Reading)
	if !ok || r.Device != "FD-T1" || r.Site != "B-T1" || r.Event != "alarm" || r.Station == "" || recs[0].Topic != contract.TopicEvents {
		t.Errorf("reading %+v on %s", recs[0].Value, recs[0].Topic)
	}
	if dl, ok := recs[1].Value.(*contract.DeadLetter); !ok || dl.Reason != contract.ReasonUnknownDevice || dl.Encoding != "base64" || dl.Topic != u.Topic {
		t.Errorf("dead letter %+v", recs[1].Value)
	}
	// A bad checksum: a dead letter, nothing else.
	bad := append([]byte(nil), frame...)
	bad[len(bad)-3]++
	if err := in.Accept(ctx, &contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/0000A0010001", Payload: bad}); err != nil {
		t.Fatal(err)
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.DeadLetter).Reason != contract.ReasonBadChecksum {
		t.Errorf("bad checksum: %+v", recs)
	}
	// A ChirpStack event: a repeat (same deduplicationId) is dropped once
	// the first was kept, but not when the first could not be published.
	up, _ := os.ReadFile("testdata/chirpstack/up-alarm/input.json")
	cu := &contract.Uplink{Source: contract.SourceChirpStack, Topic: "application/a/device/70b3d57ed0001001/event/up", Payload: up, ReceivedAt: now}
	rec.fail = errors.New("bus down")
	if err := in.Accept(ctx, cu); err == nil {
		t.Fatal("an uplink the pipeline did not take was reported kept")
	}
	rec.fail = nil
	for range 2 {
		if err := in.Accept(ctx, cu); err != nil {
			t.Fatal(err)
		}
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.Reading).Device != "LS-T1" {
		t.Errorf("ChirpStack uplink and its repeat: %+v", recs)
	}
	// Values beyond the contract's ranges are refused as JSON's are.
	hot := strings.Replace(string(up), `"temperature": 41.5`, `"temperature": 900`, 1)
	hot = strings.Replace(hot, "8f1c2a3b", "8f1c2a3c", 1)
	if err := in.Accept(ctx, &contract.Uplink{Source: contract.SourceChirpStack, Topic: cu.Topic, Payload: []byte(hot), ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.DeadLetter).Reason != contract.ReasonInvalidField {
		t.Errorf("absurd value: %+v", recs)
	}
	// No decoder for the source in this process.
	if err := in.Accept(ctx, &contract.Uplink{Source: contract.SourceOneNET, Topic: "/push/onenet", Payload: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.DeadLetter).Reason != contract.ReasonUnknownSource {
		t.Errorf("unknown source: %+v", recs)
	}
	// Reject: a refused uplink is a dead letter with the reason.
	if err := in.Reject(ctx, &contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/0000A0019999", Payload: frame}, contract.ReasonUnknownSource, "not configured"); err != nil {
		t.Fatal(err)
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.DeadLetter).Reason != contract.ReasonUnknownSource {
		t.Errorf("Reject: %+v", recs)
	}
	// The contract-v1 path is unchanged, and takes a camera's media.
	m := contract.Message{Kind: contract.KindSmoke, Device: "SD-0001", Channel: contract.ChannelEvent, TS: now, Seq: 1, Event: "alarm"}
	if err := in.Accept(ctx, &contract.Uplink{Topic: m.Topic(), Payload: contract.Payload(m), ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	if recs := rec.take(); len(recs) != 1 || recs[0].Value.(*contract.Reading).Device != "SD-0001" {
		t.Errorf("contract v1: %+v", recs)
	}
}
