package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/firegrid/firegrid/assembly"
)

// runRole runs one scale-out role until a signal or a failure. It takes
// the serve flags (--config, --http, --mqtt-url, --registry, --rules,
// --log-level) and --kafka, --postgres, --influx-url and --instance.
func runRole(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadServeConfig(role, args, stderr)
	if err != nil {
		return err
	}
	p, err := assembly.Start(ctx, role, cfg, assembly.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if p.RulesAdmin != nil {
		go p.ReloadOn(ctx, hup)
	}
	fmt.Fprintf(stdout, "firegrid %s is up (instance %s)\n  http:   http://%s/\n  kafka:  %v\n  runs:\n",
		role, p.Instance, p.HTTPAddr, cfg.Kafka.Brokers)
	for _, r := range p.Running() {
		fmt.Fprintf(stdout, "    %s\n", r)
	}
	select {
	case <-ctx.Done():
		p.Log.Info("shutting down")
		return nil
	case err := <-p.Err():
		return err
	}
}
