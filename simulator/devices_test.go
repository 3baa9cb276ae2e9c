package simulator

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

func TestCredentialsFile(t *testing.T) {
	creds := Credentials{
		"SD-0002": {ID: "SD-0002", Username: "SD-0002", Password: "b"},
		"SD-0001": {ID: "SD-0001", Username: "SD-0001", Password: "a"},
	}
	var buf bytes.Buffer
	if err := WriteCredentials(&buf, creds); err != nil {
		t.Fatal(err)
	}
	if want := "id,username,password\nSD-0001,SD-0001,a\nSD-0002,SD-0002,b\n"; buf.String() != want {
		t.Fatalf("file:\n%s\nwant\n%s", buf.String(), want)
	}
	got, err := ReadCredentials("c.csv", &buf)
	if err != nil || len(got) != 2 || got["SD-0002"].Password != "b" {
		t.Fatalf("read back %+v %v", got, err)
	}
	for _, bad := range []string{"", "id,user,password\n", "id,username,password\nSD-1,,x\n", "id,username,password\nA,A,x\nA,A,y\n"} {
		if _, err := ReadCredentials("c.csv", strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDeviceConnectionsOnMosquitto: against a Mosquitto that lets in
// only accounts (password and ACL files as firegrid writes them), every
// device publishes on its own connection, a device without credentials
// cannot, and each device receives its own commands.
func TestDeviceConnectionsOnMosquitto(t *testing.T) {
	devs := demoDevices()
	var charger string
	creds := Credentials{}
	var accts []access.MQTTAccount
	add := func(a access.MQTTAccount) string {
		s := access.NewSecret()
		a.Hash, _ = access.HashSecret(s)
		accts = append(accts, a)
		return s
	}
	var ids []string
	kinds := map[string]contract.Kind{}
	for _, d := range devs[:6] {
		creds[d.ID] = Credential{ID: d.ID, Username: d.ID, Password: add(access.MQTTAccount{Username: d.ID, Role: access.MQTTDevice, Kind: d.Kind, Device: d.ID})}
		ids = append(ids, d.ID)
		kinds[d.ID] = d.Kind
	}
	for _, d := range devs {
		if d.Kind == contract.KindCharger {
			charger = d.ID
			creds[d.ID] = Credential{ID: d.ID, Username: d.ID, Password: add(access.MQTTAccount{Username: d.ID, Role: access.MQTTDevice, Kind: d.Kind, Device: d.ID})}
			ids = append(ids, d.ID)
			kinds[d.ID] = d.Kind
			break
		}
	}
	obsSecret := add(access.MQTTAccount{Username: "firegrid-observer", Role: access.MQTTObserver})
	ingestSecret := add(access.MQTTAccount{Username: "firegrid-ingest", Role: access.MQTTIngest})
	var pw, acl bytes.Buffer
	access.WriteMosquittoPasswd(&pw, accts)
	access.WriteMosquittoACL(&acl, accts)
	url := testenv.Mosquitto(t, testenv.WithMosquittoFile("passwd", pw.Bytes()), testenv.WithMosquittoFile("acl", acl.Bytes()),
		testenv.WithMosquittoConfig("allow_anonymous false\npassword_file passwd\nacl_file acl"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	sub, err := Subscribe(ctx, url, "fg/v1/#", "firegrid-observer-test", func(topic string, _ byte, _ bool, _ []byte) {
		mu.Lock()
		seen[topic]++
		mu.Unlock()
	}, WithLogin("firegrid-observer", obsSecret))
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	defer sub.Close()
	if _, err := Subscribe(ctx, url, "fg/v1/#", "", func(string, byte, bool, []byte) {}); err == nil {
		t.Error("an anonymous watcher got in")
	}

	cmds := make(chan string, 4)
	dc, err := DialDevices(ctx, url, creds, ids, DeviceOptions{Kinds: kinds, OnCommand: func(topic string, _ byte, _ bool, p []byte) { cmds <- topic }})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	for _, id := range ids {
		topic := contract.UplinkTopic(kinds[id], id, contract.ChannelTelemetry)
		if err := dc.Publish(ctx, topic, 1, false, []byte(`{"seq":1}`)); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == len(ids)
	}, "the observer did not see every device's telemetry: %v", seen)
	if err := dc.Publish(ctx, "fg/v1/smoke/SD-NOPE/event", 1, false, []byte(`{}`)); err == nil {
		t.Error("a device without credentials published")
	}
	if _, err := DialDevices(ctx, url, Credentials{"SD-X": {ID: "SD-X", Username: "SD-X", Password: "nope"}}, []string{"SD-X"}, DeviceOptions{}); err == nil {
		t.Error("a device with a wrong secret connected")
	}

	// firegrid's ingest publishes a command; only its charger gets it.
	pub, err := NewMQTTPublisher(ctx, url, "firegrid-ingest-test", WithLogin("firegrid-ingest", ingestSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, contract.CommandTopic(contract.KindCharger, charger), 1, false, []byte(`{"cmd":"port_off","port":1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-cmds:
		if topic != contract.CommandTopic(contract.KindCharger, charger) {
			t.Errorf("command on %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the charger did not receive its command")
	}
}
