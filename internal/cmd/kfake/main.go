// Command kfake runs a Kafka-compatible broker in one process (franz-go's
// kfake) on a local port, for development: the scale-out roles can be
// started by hand against it without a Kafka installation. It is a tool
// for the people who build firegrid, not part of the firegrid binary.
//
//	go run ./internal/cmd/kfake --port 9092 [--data DIR [--sync]]
//	firegrid rules --kafka 127.0.0.1:9092 --postgres ... &
//
// With --data it keeps its topics and committed offsets in DIR, so that it
// can be stopped and started again on the same port; --sync makes each
// write reach the disk before it is acknowledged.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "TCP port on 127.0.0.1")
	data := flag.String("data", "", "keep topics and offsets in this directory (default: memory only)")
	sync := flag.Bool("sync", false, "with --data: sync every write to disk before acknowledging it")
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data))
		if *sync {
			opts = append(opts, kfake.SyncWrites())
		}
	} else if *sync {
		fmt.Fprintln(os.Stderr, "kfake: --sync needs --data")
		os.Exit(2)
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Printf("kfake is up: %v\n", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
