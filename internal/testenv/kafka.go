package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts an in-process Kafka cluster (kfake: the Kafka protocol over
// TCP on a free 127.0.0.1 port, one broker) for the test and returns its
// bootstrap addresses. Topics are not created automatically; seed them with
// kfake.SeedTopics or create them as a client would. Consumer groups may use
// session timeouts down to 100 ms. The cluster is closed when the test
// ends.
func Kafka(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100e6)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: kfake cluster: %v", err)
		return nil
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}
