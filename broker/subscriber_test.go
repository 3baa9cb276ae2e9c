package broker

import (
	"context"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

// TestSubscriberTakesAnAlarmSentRightAfterABrokerRestart: Mosquitto,
// persistence on, is restarted as an administrator does. A detector that
// sends its alarm as soon as the broker is back, before ingest has
// connected again, gets its PUBACK from the broker and will not send the
// alarm again: ingest must still get it. (Mosquitto 2.0 keeps a
// persistent session's plain subscriptions across a restart, and queues
// for them; not its shared subscriptions, so an alarm that only a shared
// subscription would have taken is acknowledged and dropped.)
func TestSubscriberTakesAnAlarmSentRightAfterABrokerRestart(t *testing.T) {
	t.Parallel()
	ms := testenv.StartMosquitto(t, testenv.WithMosquittoConfig("persistence true\npersistence_location ./"))
	got := make(chan string, 16)
	sub := NewSubscriber(SubscriberOptions{URL: ms.URL, ClientID: "ingest-restart", SharedGroup: "firegrid-ingest",
		Accept: func(_ context.Context, u *contract.Uplink) error { got <- u.Topic; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-sub.Subscribed():
	case <-time.After(10 * time.Second):
		t.Fatal("not subscribed")
	}
	alarm := func(id string) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			c := paho.NewClient(paho.NewClientOptions().AddBroker(ms.URL).SetClientID(id).SetAutoReconnect(false).SetConnectRetry(false))
			tok := c.Connect()
			if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				tok = c.Publish(contract.UplinkTopic(contract.KindSmoke, id, contract.ChannelEvent), 1, false, `{"seq":1,"event":"alarm"}`)
				ok := tok.WaitTimeout(5*time.Second) && tok.Error() == nil
				c.Disconnect(50)
				if ok {
					return
				}
			}
			err = tok.Error()
		}
		t.Fatalf("the broker did not acknowledge %s's alarm: %v", id, err)
	}
	want := func(id string) {
		t.Helper()
		topic := contract.UplinkTopic(contract.KindSmoke, id, contract.ChannelEvent)
		deadline := time.After(15 * time.Second)
		for {
			select {
			case got := <-got:
				if got == topic {
					return
				}
			case <-deadline:
				t.Fatalf("ingest never got %s's alarm, which the broker acknowledged", id)
			}
		}
	}
	alarm("SD-0001")
	want("SD-0001")

	ms.Stop()
	time.Sleep(300 * time.Millisecond) // ingest has lost its connection and waits to try again
	ms.Start()
	alarm("SD-0002")
	want("SD-0002")
}
