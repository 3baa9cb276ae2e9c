package broker

import (
	"strings"
	"testing"
)

func TestShardKeepsADeviceOnOneWorker(t *testing.T) {
	seen := map[int]bool{}
	for i := range 100 {
		topic := "fg/v1/smoke/SD-" + strings.Repeat("x", i%7) + "/telemetry"
		if shard(topic, 4) != shard(topic, 4) {
			t.Fatal("one topic, two workers")
		}
		seen[shard("fg/v1/smoke/SD-"+string(rune('A'+i%26))+"/event", 4)] = true
	}
	if len(seen) < 3 {
		t.Errorf("devices spread over %d of 4 workers", len(seen))
	}
}
