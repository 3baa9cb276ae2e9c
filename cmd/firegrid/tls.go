package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/firegrid/firegrid/access"
)

// devicesTLS writes a development CA and a server certificate it signed,
// for a broker's TLS listener (Mosquitto on 8883 in docker-compose.yml):
// ca.crt is what devices trust, server.crt and server.key what the broker
// serves. Files already there are kept. A deployment uses its own PKI.
func devicesTLS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices tls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write ca.crt, server.crt and server.key into")
	hosts := fs.String("host", "localhost,127.0.0.1,mosquitto", "names and addresses the server certificate is for, comma-separated")
	days := fs.Int("days", 825, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	paths := []string{filepath.Join(*out, "ca.crt"), filepath.Join(*out, "server.crt"), filepath.Join(*out, "server.key")}
	have := 0
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			have++
		}
	}
	if have == len(paths) {
		fmt.Fprintf(stdout, "TLS files in %s kept\n", *out)
		return nil
	}
	ca, cert, key, err := access.DevelopmentTLS(strings.Split(*hosts, ","), time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// The broker runs as another user and must read the key: a
	// development key only.
	for i, b := range [][]byte{ca, cert, key} {
		if err := writeFileAtomic(paths[i], b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "development CA and server certificate for %s written to %s (devices trust ca.crt)\n", *hosts, *out)
	return nil
}
