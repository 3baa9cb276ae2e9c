package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/contract"
)

// fuzzSource fuzzes a source's decoder with its golden inputs as seeds:
// nothing panics, an error is a *RejectError with a known reason, every
// message names a registered device of its kind, and what passes the
// contract's checks would be published.
func fuzzSource(f *testing.F, source string, seeds [][]byte, topics []string) {
	for _, s := range seeds {
		for _, tp := range topics {
			f.Add(tp, s)
		}
	}
	dec := testDecoder(f, source)
	reg := fieldRegistry(f)
	reasons := map[contract.Reason]bool{}
	for _, r := range contract.Reasons {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		d, err := dec.DecodeUplink(&contract.Uplink{Source: source, Topic: topic, Payload: payload})
		if err != nil {
			rej, ok := err.(*RejectError)
			if !ok || !reasons[rej.Reason] {
				t.Fatalf("error %T %v: want a *RejectError with a known reason", err, err)
			}
			return
		}
		for _, m := range d.Messages {
			dev, ok := reg.Device(m.Device)
			if !ok || dev.Kind != m.Kind {
				t.Fatalf("message of %s (%s): not a registered device of that kind", m.Device, m.Kind)
			}
			_ = checkMessage(&m)
		}
		for _, r := range d.Rejected {
			if !reasons[r.Reason] {
				t.Fatalf("rejected part with reason %q", r.Reason)
			}
		}
	})
}

func goldenInputs(f *testing.F, source string) ([][]byte, []string) {
	var seeds [][]byte
	topics := map[string]bool{"/push/" + source: true}
	dirs, _ := filepath.Glob(filepath.Join("testdata", source, "*"))
	for _, dir := range dirs {
		if b, err := os.ReadFile(filepath.Join(dir, "input.json")); err == nil {
			seeds = append(seeds, b)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "topic")); err == nil {
			topics[strings.TrimSpace(string(b))] = true
		}
	}
	var ts []string
	for tp := range topics {
		ts = append(ts, tp)
	}
	return seeds, ts
}

func FuzzGB26875Decoder(f *testing.F) {
	var seeds [][]byte
	names, _ := filepath.Glob(filepath.Join("gb26875", "testdata", "*.hex"))
	for _, n := range names {
		seeds = append(seeds, goldenFrame(f, strings.TrimSuffix(filepath.Base(n), ".hex")))
	}
	fuzzSource(f, contract.SourceGB26875, seeds, []string{"gb26875/0000A0010001"})
}

func FuzzChirpStackDecoder(f *testing.F) {
	seeds, topics := goldenInputs(f, contract.SourceChirpStack)
	fuzzSource(f, contract.SourceChirpStack, seeds, topics)
}

func FuzzCTWingDecoder(f *testing.F) {
	seeds, topics := goldenInputs(f, contract.SourceCTWing)
	fuzzSource(f, contract.SourceCTWing, seeds, topics)
}

func FuzzOneNETDecoder(f *testing.F) {
	seeds, topics := goldenInputs(f, contract.SourceOneNET)
	fuzzSource(f, contract.SourceOneNET, seeds, topics)
}

func FuzzModels(f *testing.F) {
	b, _ := os.ReadFile("testdata/models.yaml")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseModels("m.yaml", b)
		if err != nil {
			return
		}
		for _, md := range m.Models {
			if md == nil {
				continue
			}
			if _, rej := md.apply(map[string]any{"a": 1.0, "b": map[string]any{"c": "2"}}, "x"); rej != nil && rej.Reason != contract.ReasonInvalidField {
				t.Fatalf("apply: %v", rej)
			}
		}
	})
}
