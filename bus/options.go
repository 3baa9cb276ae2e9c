package bus

import "context"

// ConsumeOptions adjust one consumer. They travel in the context given to
// Consume (WithConsumeOptions), so that the Bus interface stays one method
// for both implementations; the Memory bus needs none of them.
type ConsumeOptions struct {
	// FromEnd starts a group that has no committed offset at the end of
	// the topic instead of its beginning: a console stream wants what
	// happens from now on, not the history. (Memory consumers always start
	// from now.)
	FromEnd bool
	// OnAssign is called with the topic's partitions this consumer owns,
	// every time the group rebalances, before any record of the new
	// assignment is handled. The Memory bus owns every partition and never
	// calls it.
	OnAssign func(partitions []int)
}

type optionsKey struct{}

// WithConsumeOptions returns ctx carrying o for a Consume call.
func WithConsumeOptions(ctx context.Context, o ConsumeOptions) context.Context {
	return context.WithValue(ctx, optionsKey{}, o)
}

func consumeOptions(ctx context.Context) ConsumeOptions {
	o, _ := ctx.Value(optionsKey{}).(ConsumeOptions)
	return o
}

type partitionKey struct{}

// Partition returns the partition of the record a handler is called for,
// from the handler's context; ok is false on the Memory bus.
func Partition(ctx context.Context) (partition int, ok bool) {
	p, ok := ctx.Value(partitionKey{}).(int)
	return p, ok
}
