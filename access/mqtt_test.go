package access_test

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
)

// mosquittoVector was written by mosquitto_passwd 2.0 for the secret
// "secret123": firegrid must read what Mosquitto writes.
const mosquittoVector = "$7$101$Haa85JGTxJVlUQC8$beKgY9ulUPfLtkj3ytZgtj2plg7RsNpUX1audltrJjJ7tvirvbhmsMG+beWGcJmJ4LIlN5jdz5vqpXO+21ItLw=="

func TestSecretHash(t *testing.T) {
	if !access.VerifySecret(mosquittoVector, "secret123") {
		t.Fatal("a hash written by mosquitto_passwd does not verify")
	}
	if access.VerifySecret(mosquittoVector, "secret124") {
		t.Fatal("a wrong secret verifies")
	}
	s := access.NewSecret()
	if len(s) != 32 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz234567") != "" || s == access.NewSecret() {
		t.Fatalf("secret %q: want 32 random base32 characters", s)
	}
	h, err := access.HashSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	// Mosquitto's layout: $7$101$ + 16 base64 characters of a 12-byte
	// salt + $ + 88 of a 64-byte key.
	parts := strings.Split(h, "$")
	if len(parts) != 5 || parts[1] != "7" || parts[2] != "101" || len(parts[3]) != 16 || len(parts[4]) != 88 {
		t.Fatalf("hash %q is not in mosquitto's $7$ layout", h)
	}
	if strings.Contains(h, s) || !access.VerifySecret(h, s) || access.VerifySecret(h, s+"x") {
		t.Fatalf("hash %q of %q", h, s)
	}
	h2, _ := access.HashSecret(s)
	if h2 == h {
		t.Error("two hashes of one secret share a salt")
	}
	for _, bad := range []string{"", "plain", "$6$abc$def", "$7$0$Haa85JGTxJVlUQC8$" + parts[4], "$7$101$short$" + parts[4], "$7$101$Haa85JGTxJVlUQC8$c2hvcnQ="} {
		if _, err := access.ParseSecretHash(bad); err == nil {
			t.Errorf("hash %q accepted", bad)
		}
	}
}

func TestMQTTAccountACL(t *testing.T) {
	dev := access.MQTTAccount{Username: "SD-0001", Role: access.MQTTDevice, Kind: contract.KindSmoke, Device: "SD-0001"}
	ingest := access.MQTTAccount{Username: "firegrid-ingest", Role: access.MQTTIngest}
	obs := access.MQTTAccount{Username: "firegrid-observer", Role: access.MQTTObserver}
	for _, tc := range []struct {
		a     *access.MQTTAccount
		topic string
		write bool
		want  bool
	}{
		{&dev, "fg/v1/smoke/SD-0001/event", true, true},
		{&dev, "fg/v1/smoke/SD-0001/telemetry", true, true},
		{&dev, "fg/v1/smoke/SD-0002/event", true, false},
		{&dev, "fg/v1/hydrant/SD-0001/event", true, false},
		{&dev, "fg/v1/smoke/SD-0001/cmd", true, false},
		{&dev, "fg/v1/smoke/SD-0001/event/x", true, false},
		{&dev, "site/notes", true, false},
		{&dev, "fg/v1/smoke/SD-0001/cmd", false, true},
		{&dev, "fg/v1/smoke/SD-0001/event", false, false},
		{&dev, "fg/v1/smoke/SD-0002/cmd", false, false},
		{&dev, "fg/v1/smoke/+/cmd", false, false},
		{&dev, "fg/v1/smoke/SD-0001/+", false, false},
		{&dev, "#", false, false},
		{&dev, "fg/v1/#", false, false},
		{&dev, "$share/g/fg/v1/smoke/SD-0001/cmd", false, true},
		{&ingest, "$share/firegrid-ingest/fg/v1/+/+/event", false, true},
		{&ingest, "fg/v1/+/+/telemetry", false, true},
		{&ingest, "fg/v1/smoke/+/event", false, true},
		{&ingest, "fg/v1/smoke/SD-0001/event", false, true},
		{&ingest, "fg/v1/+/+/cmd", false, false},
		{&ingest, "fg/v1/#", false, false},
		{&ingest, "#", false, false},
		{&ingest, "fg/v1/charger/CH-001/cmd", true, true},
		{&ingest, "fg/v1/charger/CH-001/event", true, false},
		{&obs, "fg/v1/#", false, true},
		{&obs, "fg/v1/+/+/cmd", false, true},
		{&obs, "#", false, false},
		{&obs, "$SYS/broker/version", false, true},
		{&dev, "$SYS/broker/version", false, false},
		{&obs, "fg/v1/smoke/SD-0001/event", true, false},
	} {
		var got bool
		if tc.write {
			got = tc.a.MayPublish(tc.topic)
		} else {
			got = tc.a.MayRead(tc.topic)
		}
		if got != tc.want {
			t.Errorf("%s (%s) write=%v %s: %v, want %v", tc.a.Username, tc.a.Role, tc.write, tc.topic, got, tc.want)
		}
	}
}

func TestMosquittoFiles(t *testing.T) {
	h, _ := access.HashSecret(access.NewSecret())
	accts := []access.MQTTAccount{
		{Username: "firegrid-ingest", Role: access.MQTTIngest, Hash: h},
		{Username: "CH-001", Role: access.MQTTDevice, Kind: contract.KindCharger, Device: "CH-001", Hash: h},
	}
	var pw, acl bytes.Buffer
	if err := access.WriteMosquittoPasswd(&pw, accts); err != nil {
		t.Fatal(err)
	}
	if want := "CH-001:" + h + "\nfiregrid-ingest:" + h + "\n"; pw.String() != want {
		t.Errorf("password file:\n%s\nwant\n%s", pw.String(), want)
	}
	if err := access.WriteMosquittoACL(&acl, accts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nuser CH-001\ntopic write fg/v1/charger/CH-001/event\ntopic write fg/v1/charger/CH-001/telemetry\ntopic read fg/v1/charger/CH-001/cmd\n",
		"\nuser firegrid-ingest\ntopic write fg/v1/+/+/cmd\ntopic read fg/v1/+/+/event\ntopic read fg/v1/+/+/telemetry\n",
	} {
		if !strings.Contains(acl.String(), want) {
			t.Errorf("ACL file lacks %q:\n%s", want, acl.String())
		}
	}
	bad := append(accts, access.MQTTAccount{Username: "bad name", Role: access.MQTTObserver, Hash: h})
	if err := access.WriteMosquittoPasswd(&pw, bad); err == nil {
		t.Error("a user name with a space was written")
	}
}

// BenchmarkVerifySecret is the cost of one device's CONNECT: its secret
// checked against its $7$ hash. 1e9 / ns/op is the connects a second one
// core checks.
func BenchmarkVerifySecret(b *testing.B) {
	s := access.NewSecret()
	hs, _ := access.HashSecret(s)
	h, err := access.ParseSecretHash(hs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !h.Verify(s) {
				b.Fatal("no match")
			}
		}
	})
}

// TestEMQXUsers: an account converts into what EMQX's built-in database
// checks (pbkdf2 sha512, 101 iterations, 64 bytes, the hex key compared
// with the key of the secret and the salt string).
func TestEMQXUsers(t *testing.T) {
	s := access.NewSecret()
	h, _ := access.HashSecret(s)
	accts := []access.MQTTAccount{{Username: "SD-0001", Role: access.MQTTDevice, Kind: contract.KindSmoke, Device: "SD-0001", Hash: h}}
	us, err := access.EMQXUsers(accts)
	if err != nil || len(us) != 1 || us[0].UserID != "SD-0001" || len(us[0].Salt) != 12 {
		t.Fatalf("%+v %v", us, err)
	}
	key, _ := pbkdf2.Key(sha512.New, s, []byte(us[0].Salt), 101, 64)
	if hex.EncodeToString(key) != us[0].PasswordHash {
		t.Error("the EMQX hash is not pbkdf2-sha512(secret, salt string)")
	}
	accts[0].Hash = mosquittoVector
	if _, err := access.EMQXUsers(accts); err == nil {
		t.Error("a binary salt was converted")
	}
	var acl bytes.Buffer
	access.WriteEMQXACL(&acl, append(accts[:0], access.MQTTAccount{Username: "firegrid-ingest", Role: access.MQTTIngest, Hash: h}))
	want := `{allow, {username, "firegrid-ingest"}, subscribe, [{eq, "fg/v1/+/+/event"}, {eq, "fg/v1/+/+/telemetry"}]}.`
	if !strings.Contains(acl.String(), want) || !strings.HasSuffix(acl.String(), "{deny, all}.\n") {
		t.Errorf("EMQX acl:\n%s", acl.String())
	}
}
