package assembly

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
	"github.com/firegrid/firegrid/store"
)

// Device credentials live in the store, beside the registry the devices
// come from: one MQTT account per device (its id as user name), the
// secret kept only as a $7$ hash. The embedded broker reads them there;
// `firegrid devices credentials mosquitto` writes them out for Mosquitto.
// A secret in clear exists only in what issuing hands back (a credentials
// file, id,username,password) for provisioning the devices.

// DemoCredentialsFile is the file in the data directory where `serve
// --demo` keeps its devices' secrets, for its fleet and for a person
// trying a device by hand.
const DemoCredentialsFile = "demo-device-credentials.csv"

// IssuePolicy says which devices get a new secret.
type IssuePolicy int

// Issue policies.
const (
	// IssueMissing issues secrets to devices without an account only:
	// a device in the field keeps the one it has.
	IssueMissing IssuePolicy = iota
	// IssueUnknown also replaces the secret of a device whose secret is
	// not among the known ones (the demo, which must know every secret).
	IssueUnknown
	// IssueAll gives every device a new secret: rotation.
	IssueAll
)

// IssueCredentials gives devices MQTT accounts under policy. known are
// secrets handed out before (a credentials file): a device's known secret
// counts only if it matches its account's hash. It returns every secret it
// knows of devs afterwards (the kept known ones and the new ones), and how
// many it issued; the store gets the new accounts in one transaction.
func IssueCredentials(ctx context.Context, st *store.SQL, devs []*devices.Device, known simulator.Credentials, policy IssuePolicy) (simulator.Credentials, int, error) {
	list, _, err := st.MQTTAccounts(ctx)
	if err != nil {
		return nil, 0, err
	}
	accounts := make(map[string]access.MQTTAccount, len(list))
	for _, a := range list {
		accounts[a.Username] = a
	}
	out := simulator.Credentials{}
	var issue []access.MQTTAccount
	now := time.Now()
	for _, d := range devs {
		want := access.DeviceAccount(d)
		a, has := accounts[d.ID]
		if has && a.Role != access.MQTTDevice {
			return nil, 0, fmt.Errorf("device %s: the user name belongs to a %s account", d.ID, a.Role)
		}
		same := has && a.Kind == d.Kind
		k, isKnown := known[d.ID]
		valid := same && isKnown && k.Username == d.ID && access.VerifySecret(a.Hash, k.Password)
		switch {
		case policy == IssueAll:
		case valid:
			out[d.ID] = k
			continue
		case same && policy == IssueMissing:
			continue
		}
		secret := access.NewSecret()
		if want.Hash, err = access.HashSecret(secret); err != nil {
			return nil, 0, err
		}
		want.IssuedAt = now
		issue = append(issue, want)
		out[d.ID] = simulator.Credential{ID: d.ID, Username: d.ID, Password: secret}
	}
	if len(issue) > 0 {
		if err := st.SaveMQTTAccounts(ctx, issue...); err != nil {
			return nil, 0, err
		}
	}
	return out, len(issue), nil
}

// IssueService makes sure firegrid's own component has an account named
// username in role: a known secret matching the account's hash is kept,
// otherwise a new one is issued. It returns the secret and whether it is
// new.
func IssueService(ctx context.Context, st *store.SQL, reg *devices.Registry, username string, role access.MQTTRole, known string) (string, bool, error) {
	if role == access.MQTTDevice {
		return "", false, errors.New("a service account is not a device's")
	}
	if _, ok := reg.Device(username); ok {
		return "", false, fmt.Errorf("%s is a device of the registry; pick another name for the service", username)
	}
	list, _, err := st.MQTTAccounts(ctx)
	if err != nil {
		return "", false, err
	}
	for _, a := range list {
		if a.Username == username && a.Role == role && known != "" && access.VerifySecret(a.Hash, known) {
			return known, false, nil
		}
	}
	secret := access.NewSecret()
	h, err := access.HashSecret(secret)
	if err != nil {
		return "", false, err
	}
	a := access.MQTTAccount{Username: username, Role: role, Hash: h, IssuedAt: time.Now()}
	if err := st.SaveMQTTAccounts(ctx, a); err != nil {
		return "", false, err
	}
	return secret, true, nil
}

// demoCredentials gives every device of the demo a secret the demo knows:
// the ones in the data directory's credentials file that still match,
// new ones for the rest; it writes the file again and returns the
// secrets and the file's path.
func demoCredentials(ctx context.Context, st *store.SQL, reg *devices.Registry, dataDir string) (simulator.Credentials, string, error) {
	path := filepath.Join(dataDir, DemoCredentialsFile)
	known, err := simulator.LoadCredentials(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("demo credentials: %w (delete the file to issue new ones)", err)
	}
	creds, _, err := IssueCredentials(ctx, st, reg.Devices(""), known, IssueUnknown)
	if err != nil {
		return nil, "", fmt.Errorf("demo credentials: %w", err)
	}
	if err := WriteCredentialsFile(path, creds); err != nil {
		return nil, "", fmt.Errorf("demo credentials: %w", err)
	}
	return creds, path, nil
}

// WriteCredentialsFile writes secrets as a credentials file readable by
// its owner only, atomically.
func WriteCredentialsFile(path string, creds simulator.Credentials) error {
	var buf bytes.Buffer
	if err := simulator.WriteCredentials(&buf, creds); err != nil {
		return err
	}
	return writeSecretFile(path, buf.Bytes())
}

// writeSecretFile writes b to path with mode 0600, atomically.
func writeSecretFile(path string, b []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteSecretFile writes one secret (a service's password file) readable
// by its owner only.
func WriteSecretFile(path, secret string) error {
	return writeSecretFile(path, []byte(secret+"\n"))
}

// devicesWithoutAccount counts the registry's devices that cannot connect.
func devicesWithoutAccount(ctx context.Context, st *store.SQL, reg *devices.Registry) (int, error) {
	list, _, err := st.MQTTAccounts(ctx)
	if err != nil {
		return 0, err
	}
	have := make(map[string]bool, len(list))
	for _, a := range list {
		if a.Role == access.MQTTDevice {
			have[a.Username] = true
		}
	}
	n := 0
	for _, d := range reg.Devices("") {
		if !have[d.ID] {
			n++
		}
	}
	return n, nil
}
