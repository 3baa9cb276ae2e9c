package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// A SourceDecoder reads the uplinks of one field source — a GB/T 26875.3
// frame, a ChirpStack event, a carrier platform's push — into contract-v1
// messages of registered devices. It finds the device by the source's own
// address (devices.Registry.DeviceByGB26875, DeviceByDevEUI, ...), so each
// message names its registry id. Ingest then checks, enriches and
// publishes every message as it does those of contract-v1 JSON: the same
// validation, dead letters and metrics.
//
// Decoders are an open family: each registers a factory by name
// (RegisterDecoder), and a process builds the decoders of the sources it
// runs (NewDecoder). A decoder must be safe for concurrent use and never
// panic on input.
type SourceDecoder interface {
	DecodeUplink(u *contract.Uplink) (Decoded, error)
}

// SourceDecoderFunc adapts a function to SourceDecoder.
type SourceDecoderFunc func(u *contract.Uplink) (Decoded, error)

// DecodeUplink calls f.
func (f SourceDecoderFunc) DecodeUplink(u *contract.Uplink) (Decoded, error) { return f(u) }

// Decoded is what a source decoder made of one uplink. An error from
// DecodeUplink (a *RejectError) dead-letters the whole uplink instead.
type Decoded struct {
	// Messages are the contract-v1 messages the uplink carries; a GB/T
	// 26875.3 frame may carry several, a push about a device going offline
	// none.
	Messages []contract.Message
	// Rejected are parts of the uplink that cannot be taken (an object of
	// a component the registry does not map): each becomes a dead letter
	// with its reason, and the rest is published.
	Rejected []*RejectError
	// Key, when set, identifies the uplink at its source (ChirpStack's
	// deduplicationId): an uplink whose key ingest took recently is a
	// repeat and is dropped, counted.
	Key string
}

// Setup is what a source decoder is built from.
type Setup struct {
	Registry *devices.Registry
	// Models maps device models to their fields (configs/models.yaml); nil
	// means none.
	Models *Models
	// Location is the zone of clocks that send local time with no zone
	// (a GB/T 26875.3 time tag); nil means China Standard Time, UTC+8.
	Location *time.Location
}

// ChinaStandardTime is UTC+8, the default zone of time tags.
var ChinaStandardTime = time.FixedZone("CST", 8*3600)

// DecoderFactory builds a source's decoder.
type DecoderFactory func(Setup) (SourceDecoder, error)

var (
	registryMu sync.RWMutex
	factories  = map[string]DecoderFactory{}
)

// RegisterDecoder makes a decoder available under name: a source names
// the decoder that reads it. Registering a name twice panics (it is a
// programming error, found at start).
func RegisterDecoder(name string, f DecoderFactory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := factories[name]; dup || name == "" || f == nil {
		panic(fmt.Sprintf("ingest: decoder %q registered twice, or empty", name))
	}
	factories[name] = f
}

// DecoderNames lists the registered decoders, sorted.
func DecoderNames() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewDecoder builds the decoder registered as name.
func NewDecoder(name string, s Setup) (SourceDecoder, error) {
	registryMu.RLock()
	f := factories[name]
	registryMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("ingest: no decoder %q (registered: %v)", name, DecoderNames())
	}
	if s.Registry == nil {
		return nil, errors.New("ingest: a source decoder needs the registry")
	}
	if s.Location == nil {
		s.Location = ChinaStandardTime
	}
	if s.Models == nil {
		s.Models = &Models{}
	}
	return f(s)
}

// repeats remembers the keys of the uplinks a source sent last, a bounded
// number per source.
type repeats struct {
	mu    sync.Mutex
	size  int
	bySrc map[string]*keyRing
}

type keyRing struct {
	seen map[string]struct{}
	ring []string
	next int
}

func (r *repeats) has(src, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	kr := r.bySrc[src]
	if kr == nil {
		return false
	}
	_, ok := kr.seen[key]
	return ok
}

func (r *repeats) add(src, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySrc == nil {
		r.bySrc = map[string]*keyRing{}
	}
	kr := r.bySrc[src]
	if kr == nil {
		kr = &keyRing{seen: map[string]struct{}{}, ring: make([]string, r.size)}
		r.bySrc[src] = kr
	}
	if _, ok := kr.seen[key]; ok {
		return
	}
	if old := kr.ring[kr.next]; old != "" {
		delete(kr.seen, old)
	}
	kr.ring[kr.next] = key
	kr.seen[key] = struct{}{}
	kr.next = (kr.next + 1) % len(kr.ring)
}

// RepeatMemory is how many uplink keys of each source ingest remembers to
// drop repeats.
const RepeatMemory = 8192

// sourceMetrics count what field sources bring.
type sourceMetrics struct {
	uplinks  *prometheus.CounterVec
	messages *prometheus.CounterVec
}

func newSourceMetrics(reg prometheus.Registerer) *sourceMetrics {
	m := &sourceMetrics{
		uplinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_source_uplinks_total",
			Help: "Uplinks of field sources (GB/T 26875.3 frames, ChirpStack events, platform pushes) taken by ingest, by source and result: kept (published, whatever each message became), rejected (dead-lettered whole), repeat (dropped).",
		}, []string{"source", "result"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_source_messages_total",
			Help: "Device messages read from field sources' uplinks, by source.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.uplinks, m.messages)
	}
	return m
}

// acceptSource takes an uplink of a field source through its decoder.
func (in *Ingester) acceptSource(ctx context.Context, now time.Time, u *contract.Uplink) error {
	dec := in.sources[u.Source]
	var d Decoded
	var err error
	switch {
	case dec == nil:
		err = reject(contract.ReasonUnknownSource, "no decoder for source %q in this process", u.Source)
	case len(u.Payload) > in.cfg.MaxPayload:
		err = reject(contract.ReasonOversized, "payload of %d bytes, limit %d", len(u.Payload), in.cfg.MaxPayload)
	default:
		uu := *u
		uu.ReceivedAt = now
		d, err = dec.DecodeUplink(&uu)
	}
	if err != nil {
		var rej *RejectError
		if !errors.As(err, &rej) {
			rej = reject(contract.ReasonMalformed, "%v", err)
		}
		in.m.unknown.Inc()
		in.sm.uplinks.WithLabelValues(u.Source, "rejected").Inc()
		return in.Reject(ctx, u, rej.Reason, rej.Detail)
	}
	if d.Key != "" && in.repeats.has(u.Source, d.Key) {
		in.sm.uplinks.WithLabelValues(u.Source, "repeat").Inc()
		return nil
	}
	recs := make([]contract.Record, 0, len(d.Messages)+len(d.Rejected))
	var kinds []contract.Kind
	var reasons []contract.Reason
	for _, msg := range d.Messages {
		in.m.receivedFor(msg.Kind).Inc()
		r, rej := in.checkDecoded(now, msg)
		if rej != nil {
			d.Rejected = append(d.Rejected, rej)
			continue
		}
		recs = append(recs, r.Record())
		kinds = append(kinds, r.Kind)
	}
	for _, rej := range d.Rejected {
		recs = append(recs, contract.NewDeadLetter(now, u.Topic, u.Payload, rej.Reason, rej.Detail).Record())
		reasons = append(reasons, rej.Reason)
	}
	if len(recs) > 0 {
		if err := in.out.Publish(ctx, recs...); err != nil {
			return fmt.Errorf("ingest: publish what %s sent: %w", u.Source, err)
		}
	}
	for _, k := range kinds {
		in.m.acceptedBy[k].Inc()
	}
	for _, r := range reasons {
		in.m.rejected.WithLabelValues(string(r)).Inc()
	}
	if len(reasons) > 0 {
		in.log.Debug("parts of a field uplink rejected", "source", u.Source, "topic", u.Topic, "rejected", len(reasons))
	}
	in.sm.uplinks.WithLabelValues(u.Source, "kept").Inc()
	in.sm.messages.WithLabelValues(u.Source).Add(float64(len(d.Messages)))
	if d.Key != "" {
		in.repeats.add(u.Source, d.Key)
	}
	return nil
}

// checkDecoded checks a message a source decoder made as the contract-v1
// decoder checks what it reads, then enriches it.
func (in *Ingester) checkDecoded(now time.Time, msg contract.Message) (*contract.Reading, *RejectError) {
	if rej := checkMessage(&msg); rej != nil {
		return nil, rej
	}
	return in.enrich(now, msg)
}

// Reject dead-letters an uplink a source refused before decoding it (a
// frame from a transmission unit that is not configured, a frame that is
// not one), with the reason, and counts it; it returns once the pipeline
// has the dead letter.
func (in *Ingester) Reject(ctx context.Context, u *contract.Uplink, reason contract.Reason, detail string) error {
	now := u.ReceivedAt
	if now.IsZero() {
		now = in.clock.Now()
	}
	d := contract.NewDeadLetter(now, u.Topic, u.Payload, reason, detail)
	if err := in.out.Publish(ctx, d.Record()); err != nil {
		return fmt.Errorf("ingest: publish dead letter: %w", err)
	}
	in.m.rejected.WithLabelValues(string(reason)).Inc()
	in.log.Debug("rejected device message", "source", u.Source, "topic", u.Topic, "reason", reason, "detail", detail)
	return nil
}

// Sources lists the field sources this ingester has decoders for.
func (in *Ingester) Sources() []string {
	out := make([]string, 0, len(in.sources))
	for s := range in.sources {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
