package main

import (
	"context"
	"fmt"
	"io"

	"github.com/firegrid/firegrid/internal/app"
)

// runRole runs one scale-out role until a signal or a failure. It takes
// the serve flags (--config, --http, --mqtt-url, --registry, --rules,
// --log-level) and --kafka, --postgres, --influx-url and --instance.
func runRole(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadServeConfig(role, args, stderr)
	if err != nil {
		return err
	}
	p, err := app.StartRole(ctx, role, cfg, nil, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "firegrid %s is up (instance %s)\n  http:   http://%s/ (metrics, healthz)\n  kafka:  %v\n",
		role, p.Instance, p.HTTPAddr, cfg.Kafka.Brokers)
	select {
	case <-ctx.Done():
		p.Log.Info("shutting down")
		return nil
	case err := <-p.Err():
		return err
	}
}
