// Package bus is the pipeline between firegrid's stages: ingest publishes
// readings (telemetry and events), rules publishes signals, alarm publishes
// incident changes and commands, the console publishes control messages.
// It has two implementations picked by configuration: Memory, in process,
// for `firegrid serve`, which passes contract values as they are; and Kafka
// for the scale-out roles, which encodes them at its edge with a versioned
// codec per topic (codec.go): protocol buffers of the schema in
// proto/firegrid/v1 for every topic but incidents, which stays JSON for
// other systems to read.
//
// Both give the same guarantees, checked by one conformance suite: Publish
// returns only once the bus has taken the records (so a device's message
// may then be acknowledged); records with one key are handled in order; a
// consumer's handler is called again for a record until it returns nil, and
// a record a stopped consumer had not finished is delivered again (at least
// once), so handlers must be idempotent; a group declared before anything
// is published gets every record published after. The bus never looks
// inside a value.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Handler consumes one record. A nil error commits it; an error makes the
// bus deliver the record again after a back-off, unless the error wraps
// contract.ErrPoison, which drops it (the handler has counted or logged it).
type Handler func(ctx context.Context, r contract.Record) error

// ErrClosed is returned by a closed bus.
var ErrClosed = errors.New("bus closed")

// Group is a consumer group: the records of its topics are shared among
// the group's consumers (one, in process), each record handled once per
// group. Groups named after their instance get every record in every
// instance.
type Group struct {
	// Name is the group's name; the Kafka bus puts its configured prefix
	// in front.
	Name string
	// Topics the group consumes. A group of several topics is assigned the
	// same partitions of each (co-partitioned topics: telemetry and
	// events), so that one consumer sees all of a key's records.
	Topics []string
	// FromEnd starts a group that has no committed offset at the end of
	// its topics instead of their beginning: a console's view wants what
	// happens from now on, not the history. In process every group starts
	// when it is declared.
	FromEnd bool
	// OnAssign is called with the partitions this consumer owns, each time
	// the group rebalances, before any record of the new assignment is
	// handled. The Memory bus calls it once with every partition.
	OnAssign func(ctx context.Context, partitions []int) error
	// Checkpoint, when set, is called before the bus commits what the
	// group handled (every CheckpointEvery, and when a consumer stops or
	// loses its partitions); an error keeps the commit back. The rule
	// engine saves its state there, so that offsets are committed no
	// further than its snapshot; the sink writes what it buffered. The
	// Memory bus commits nothing and refuses a group with a Checkpoint:
	// in serve, the journal of uplinks is what is committed, and its
	// checkpoint saves the same things (see Memory.Sync).
	Checkpoint      func(ctx context.Context) error
	CheckpointEvery time.Duration
}

// Bus publishes records and runs consumer groups.
type Bus interface {
	contract.Publisher
	// Declare makes the group exist before anything is published, so
	// that it gets every record published from now on even before its
	// consumer runs. The assembly declares every group first.
	Declare(g Group) error
	// Consume runs the group's consumer until ctx is done, calling h for
	// every record. Records with one key are handled in order.
	Consume(ctx context.Context, g Group, h Handler) error
	// Close releases the bus's resources.
	Close() error
}

// Handle adapts a function of one contract value to a Handler: a record
// whose value is not a T is poison.
func Handle[T any](f func(ctx context.Context, v T) error) Handler {
	return func(ctx context.Context, r contract.Record) error {
		v, ok := r.Value.(T)
		if !ok {
			return fmt.Errorf("%w: %s record holds %T, want %T", contract.ErrPoison, r.Topic, r.Value, v)
		}
		return f(ctx, v)
	}
}

type partitionKey struct{}

// Partition returns the partition of the record a handler is called for,
// from the handler's context.
func Partition(ctx context.Context) (partition int, ok bool) {
	p, ok := ctx.Value(partitionKey{}).(int)
	return p, ok
}

// Partitioner tells the partition of a key on a topic of n partitions;
// both buses use the same hash, so that a stage can tell which keys it
// owns from the partitions it was assigned.
func Partitioner(key string, n int) int {
	if n <= 1 || key == "" {
		return 0
	}
	return int(murmur2(key) & 0x7fffffff % uint32(n))
}

// murmur2 is the hash Kafka's Java client and kafka-go's Murmur2Balancer
// use for keys, so that firegrid's producers partition like any other
// Kafka producer would.
func murmur2(key string) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(key)
	h := seed ^ uint32(n)
	i := 0
	for ; n-i >= 4; i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(key[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// deliver calls h until it takes r, backing off between tries. It reports
// false when ctx ended before h took r.
func deliver(ctx context.Context, log logger, group string, h Handler, r contract.Record) bool {
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := h(ctx, r)
		if err == nil {
			return true
		}
		if errors.Is(err, contract.ErrPoison) {
			log.Warn("dropping poison record", "topic", r.Topic, "group", group, "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt == 1 || attempt%100 == 0 {
			log.Warn("handler failed; retrying", "topic", r.Topic, "group", group, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

type logger interface {
	Warn(msg string, args ...any)
}
