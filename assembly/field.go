package assembly

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/gateway"
	"github.com/firegrid/firegrid/ingest"
)

// LoadModels reads the models file (configs/models.yaml when path is
// empty).
func LoadModels(path string) (*ingest.Models, error) {
	name, b := "configs/models.yaml (embedded)", []byte(nil)
	var err error
	if path == "" {
		b, err = fs.ReadFile(configs.FS, "models.yaml")
	} else {
		name = path
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("sources.models: %w", err)
	}
	return ingest.ParseModels(name, b)
}

// fieldDecoders builds a decoder of every registered field source: the
// listeners that are on hand their uplinks to ingest, and so does a
// virtual run (a simulated transmission unit's frames).
func (e *env) fieldDecoders(reg *devices.Registry) (map[string]ingest.SourceDecoder, error) {
	models, err := LoadModels(e.cfg.Sources.Models)
	if err != nil {
		return nil, err
	}
	g := e.cfg.Sources.GB26875
	setup := ingest.Setup{Registry: reg, Models: models, Location: gbZone(g.UTCOffset)}
	out := map[string]ingest.SourceDecoder{}
	for _, name := range ingest.DecoderNames() {
		d, err := ingest.NewDecoder(name, setup)
		if err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
		out[name] = d
	}
	return out, nil
}

// fieldSources opens the configured field sources' listeners (so that an
// address in use fails the start, naming the flag) and returns the task
// that runs them; with none configured it returns at once. They hand what
// they take to accept.
func (e *env) fieldSources(accept gateway.Accept) (func(context.Context) error, error) {
	o := gateway.Options{Accept: accept, Reject: e.ingester.Reject, Now: e.clock.Now,
		Log: e.log.With("component", "ingest"), Registerer: e.metrics}
	var runs []func(context.Context) error
	cfg := e.cfg.Sources
	if cfg.GB26875.Listen != "" {
		if e.cfg.Demo.Enabled && len(cfg.GB26875.Units) == 0 {
			// The demo's simulated units send from this machine.
			for _, u := range e.registry.GB26875Units() {
				cfg.GB26875.Units = append(cfg.GB26875.Units, gateway.GB26875Unit{Address: u, From: []string{"127.0.0.0/8", "::1"}})
			}
		}
		ln, err := net.Listen("tcp", cfg.GB26875.Listen)
		if err != nil {
			return nil, addrError("GB/T 26875.3 listener", cfg.GB26875.Listen, "--gb26875-listen", err)
		}
		*e.closers = append(*e.closers, func() error { ln.Close(); return nil })
		g, err := gateway.NewGB26875(ln, cfg.GB26875, o)
		if err != nil {
			return nil, err
		}
		e.gb26875Addr = ln.Addr().String()
		runs = append(runs, g.Run)
	}
	if cfg.Push.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Push.Listen)
		if err != nil {
			return nil, addrError("platform push endpoints", cfg.Push.Listen, "--push-listen", err)
		}
		*e.closers = append(*e.closers, func() error { ln.Close(); return nil })
		p, err := gateway.NewPush(ln, cfg.Push, o)
		if err != nil {
			return nil, err
		}
		e.pushAddr = ln.Addr().String()
		runs = append(runs, p.Run)
	}
	if cfg.ChirpStack.URL != "" {
		cs := cfg.ChirpStack
		if cs.SharedGroup == "" && e.role != Serve {
			cs.SharedGroup = "firegrid-chirpstack"
		}
		if e.role != Serve {
			cs.ClientID += "-" + e.instance
		}
		c, err := gateway.NewChirpStack(cs, o)
		if err != nil {
			return nil, err
		}
		runs = append(runs, c.Run)
	}
	return func(ctx context.Context) error {
		// One failing stops the others: the process reports it and stops.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var once sync.Once
		var first error
		var wg sync.WaitGroup
		for _, run := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := run(ctx); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}()
		}
		wg.Wait()
		return first
	}, nil
}

// gbZone is the zone of GB/T 26875.3 time tags.
func gbZone(offset time.Duration) *time.Location {
	return time.FixedZone(fmt.Sprintf("UTC%+d", int(offset.Hours())), int(offset.Seconds()))
}
