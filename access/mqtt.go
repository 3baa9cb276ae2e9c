package access

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// Who may speak on MQTT. Every client of the broker has an account: a
// device (it may publish only its own uplink topics and read only its own
// cmd topic), or one of firegrid's own components (ingest reads every
// uplink and publishes commands; an observer reads every contract-v1
// topic, for recording and watching). An account's secret is random and
// kept only as a salted hash in Mosquitto's PBKDF2-SHA512 format, so that
// the embedded broker and a Mosquitto password file check the same hash.

// MQTTRole is what an MQTT account may do.
type MQTTRole string

// MQTT roles.
const (
	// MQTTDevice is one device: fg/v1/{kind}/{id}/event and telemetry
	// out, fg/v1/{kind}/{id}/cmd in.
	MQTTDevice MQTTRole = "device"
	// MQTTIngest is firegrid's ingest: every uplink in (a shared
	// subscription too), every device's cmd topic out.
	MQTTIngest MQTTRole = "ingest"
	// MQTTObserver reads every contract-v1 topic and the broker's $SYS
	// topics, and publishes nothing: `firegrid simulate record`, a
	// scenario's watcher, a healthcheck, an operator.
	MQTTObserver MQTTRole = "observer"
)

// MQTTServiceRoles are the roles of accounts that are not devices.
var MQTTServiceRoles = []MQTTRole{MQTTIngest, MQTTObserver}

// MQTTAccount is one MQTT user name with its role, and for a device its
// kind and id (the user name is the device id).
type MQTTAccount struct {
	Username string
	Role     MQTTRole
	Kind     contract.Kind // devices only
	Device   string        // devices only: the device id
	// Hash is the secret's hash, as Mosquitto's password file keeps it:
	// $7$iterations$salt$hash (PBKDF2-HMAC-SHA512, base64).
	Hash     string
	IssuedAt time.Time
}

// DeviceAccount is the account of a registry device, without a secret.
func DeviceAccount(d *devices.Device) MQTTAccount {
	return MQTTAccount{Username: d.ID, Role: MQTTDevice, Kind: d.Kind, Device: d.ID}
}

// Validate checks the account's name, role and hash.
func (a MQTTAccount) Validate() error {
	if err := CheckMQTTUsername(a.Username); err != nil {
		return err
	}
	switch a.Role {
	case MQTTDevice:
		if _, err := contract.ParseKind(string(a.Kind)); err != nil {
			return fmt.Errorf("account %s: %w", a.Username, err)
		}
		if a.Device != a.Username {
			return fmt.Errorf("account %s: a device's user name is its id, not %q", a.Username, a.Device)
		}
	case MQTTIngest, MQTTObserver:
		if a.Kind != "" || a.Device != "" {
			return fmt.Errorf("account %s: a %s account has no device", a.Username, a.Role)
		}
	default:
		return fmt.Errorf("account %s: role %q: want device, ingest or observer", a.Username, a.Role)
	}
	if _, err := ParseSecretHash(a.Hash); err != nil {
		return fmt.Errorf("account %s: %w", a.Username, err)
	}
	return nil
}

// CheckMQTTUsername accepts the names a device id may have (letters,
// digits, '-', '_', '.'; at most 64): they go into topics, Mosquitto's
// password and ACL files, and CSV files without quoting.
func CheckMQTTUsername(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("user name %q: want 1 to 64 characters", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("user name %q has character %q (want letters, digits, '-', '_' or '.')", name, c)
		}
	}
	return nil
}

// MayPublish reports whether the account may publish to topic (a topic
// name, never a filter).
func (a *MQTTAccount) MayPublish(topic string) bool {
	if strings.ContainsAny(topic, "+#") {
		return false
	}
	switch a.Role {
	case MQTTDevice:
		return topic == contract.UplinkTopic(a.Kind, a.Device, contract.ChannelEvent) ||
			topic == contract.UplinkTopic(a.Kind, a.Device, contract.ChannelTelemetry)
	case MQTTIngest:
		return covers(contract.CommandFilter, topic)
	}
	return false
}

// MayRead reports whether the account may subscribe to filter (a shared
// subscription's $share/{group}/ prefix aside) or be sent a message on a
// topic: every topic the filter matches must be one the account may read.
// A device subscribing to # is refused, not quietly given nothing.
func (a *MQTTAccount) MayRead(filter string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, f, ok := strings.Cut(rest, "/")
		if !ok {
			return false
		}
		filter = f
	}
	for _, allowed := range a.reads() {
		if covers(allowed, filter) {
			return true
		}
	}
	return false
}

// reads are the filters the account may read; writes those it may
// publish to (what the Mosquitto ACL file grants).
func (a *MQTTAccount) reads() []string {
	switch a.Role {
	case MQTTDevice:
		return []string{contract.CommandTopic(a.Kind, a.Device)}
	case MQTTIngest:
		return []string{contract.EventFilter, contract.TelemetryFilter}
	case MQTTObserver:
		return []string{contract.AllFilter, "$SYS/#"}
	}
	return nil
}

func (a *MQTTAccount) writes() []string {
	switch a.Role {
	case MQTTDevice:
		return []string{contract.UplinkTopic(a.Kind, a.Device, contract.ChannelEvent), contract.UplinkTopic(a.Kind, a.Device, contract.ChannelTelemetry)}
	case MQTTIngest:
		return []string{contract.CommandFilter}
	}
	return nil
}

// covers reports whether every topic that filter matches is matched by
// allowed: level by level, # in allowed covers the rest, + covers one
// level (but not a # of filter), a literal only itself.
func covers(allowed, filter string) bool {
	if filter == "" {
		return false
	}
	for {
		a, arest, amore := strings.Cut(allowed, "/")
		f, frest, fmore := strings.Cut(filter, "/")
		switch {
		case a == "#":
			return true
		case f == "#":
			return false
		case a == "+":
			if strings.ContainsAny(f, "#") {
				return false
			}
		case a != f:
			return false
		}
		if !amore || !fmore {
			return amore == fmore
		}
		allowed, filter = arest, frest
	}
}

// Secrets and their hashes.

// SecretIterations is the PBKDF2 iteration count of new hashes: Mosquitto's
// own default. A secret is 160 random bits, not a chosen password, so the
// hash need not be slow to resist guessing; it must be cheap enough for
// thousands of connections a second.
const SecretIterations = 101

// secretSaltLen is the salt of new hashes: Mosquitto 2.0 writes 12 bytes
// and reads 12 or 64. Its bytes are printable (base64 letters), so that
// EMQX, which takes a salt as a string, can import the same hash.
const secretSaltLen = 12

const saltAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// NewSecret returns a random secret: 160 bits as 32 lowercase letters and
// digits (RFC 4648 base32), safe on a command line and in a CSV file.
func NewSecret() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// HashSecret returns the hash of secret in Mosquitto's $7$ format:
// $7$101$base64(salt)$base64(PBKDF2-HMAC-SHA512(secret, salt, 101, 64)).
func HashSecret(secret string) (string, error) {
	salt := make([]byte, secretSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	for i, b := range salt {
		salt[i] = saltAlphabet[b&63]
	}
	key, err := pbkdf2.Key(sha512.New, secret, salt, SecretIterations, sha512.Size)
	if err != nil {
		return "", err
	}
	return "$7$" + strconv.Itoa(SecretIterations) + "$" + base64.StdEncoding.EncodeToString(salt) + "$" +
		base64.StdEncoding.EncodeToString(key), nil
}

// SecretHash is a parsed $7$ hash, ready to check secrets against.
type SecretHash struct {
	iterations int
	salt, key  []byte
}

// ParseSecretHash parses a $7$ hash as Mosquitto reads it: iterations at
// least 1, a salt of 12 or 64 bytes, a 64-byte key.
func ParseSecretHash(s string) (SecretHash, error) {
	rest, ok := strings.CutPrefix(s, "$7$")
	parts := strings.Split(rest, "$")
	if !ok || len(parts) != 3 {
		return SecretHash{}, errors.New("hash: want $7$iterations$salt$hash (PBKDF2-SHA512, as mosquitto_passwd writes)")
	}
	it, err := strconv.Atoi(parts[0])
	if err != nil || it < 1 || it > 10_000_000 {
		return SecretHash{}, fmt.Errorf("hash: iterations %q", parts[0])
	}
	salt, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil || (len(salt) != 12 && len(salt) != 64) {
		return SecretHash{}, errors.New("hash: the salt is not 12 or 64 bytes of base64")
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != sha512.Size {
		return SecretHash{}, errors.New("hash: the key is not 64 bytes of base64")
	}
	return SecretHash{iterations: it, salt: salt, key: key}, nil
}

// Verify reports whether secret is the one hashed, in time that does not
// depend on where they differ.
func (h SecretHash) Verify(secret string) bool {
	if h.key == nil {
		return false
	}
	key, err := pbkdf2.Key(sha512.New, secret, h.salt, h.iterations, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// VerifySecret parses hash and checks secret against it.
func VerifySecret(hash, secret string) bool {
	h, err := ParseSecretHash(hash)
	return err == nil && h.Verify(secret)
}

// EMQXUser is an account as EMQX's built-in database imports it
// (password_based, pbkdf2 with sha512, 101 iterations, dk_length 64):
// the key in hex and the salt as a string.
type EMQXUser struct {
	UserID, PasswordHash, Salt string
}

// EMQXUsers converts accounts for EMQX's import_users (CSV user_id,
// password_hash, salt, is_superuser). A hash whose salt is not printable
// (one mosquitto_passwd wrote) cannot be: it is an error.
func EMQXUsers(accounts []MQTTAccount) ([]EMQXUser, error) {
	var out []EMQXUser
	for _, a := range sortedAccounts(accounts) {
		h, err := ParseSecretHash(a.Hash)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", a.Username, err)
		}
		if h.iterations != SecretIterations || strings.Trim(string(h.salt), saltAlphabet) != "" {
			return nil, fmt.Errorf("account %s: its hash was not made by firegrid (iterations %d or a binary salt): rotate it", a.Username, h.iterations)
		}
		out = append(out, EMQXUser{UserID: a.Username, PasswordHash: hex.EncodeToString(h.key), Salt: string(h.salt)})
	}
	return out, nil
}

// WriteEMQXACL writes EMQX's file authorizer rules (acl.conf) granting
// each account what the embedded broker grants it; everything else is
// denied (set authorization.no_match = deny too).
func WriteEMQXACL(w io.Writer, accounts []MQTTAccount) error {
	var b bytes.Buffer
	b.WriteString("%% Generated by firegrid from its MQTT accounts; regenerate, do not edit.\n")
	quote := func(ts []string) string {
		q := make([]string, len(ts))
		for i, t := range ts {
			if strings.ContainsAny(t, "+#") {
				q[i] = fmt.Sprintf("{eq, %q}", t)
			} else {
				q[i] = fmt.Sprintf("%q", t)
			}
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, a := range sortedAccounts(accounts) {
		if err := a.Validate(); err != nil {
			return err
		}
		if w := a.writes(); len(w) > 0 {
			fmt.Fprintf(&b, "{allow, {username, %q}, publish, %s}.\n", a.Username, quote(w))
		}
		if r := a.reads(); len(r) > 0 {
			fmt.Fprintf(&b, "{allow, {username, %q}, subscribe, %s}.\n", a.Username, quote(r))
		}
	}
	b.WriteString("{deny, all}.\n")
	_, err := w.Write(b.Bytes())
	return err
}

// Mosquitto's files.

// WriteMosquittoPasswd writes a Mosquitto password_file: one
// "username:hash" line per account, sorted by name.
func WriteMosquittoPasswd(w io.Writer, accounts []MQTTAccount) error {
	var b bytes.Buffer
	for _, a := range sortedAccounts(accounts) {
		if err := a.Validate(); err != nil {
			return err
		}
		b.WriteString(a.Username + ":" + a.Hash + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMosquittoACL writes a Mosquitto acl_file granting each account
// what the embedded broker grants it, and nothing to anonymous clients:
// a device writes its own uplink topics and reads its own cmd topic.
func WriteMosquittoACL(w io.Writer, accounts []MQTTAccount) error {
	var b bytes.Buffer
	b.WriteString("# Generated by firegrid from its MQTT accounts; regenerate, do not edit.\n" +
		"# Lines before the first user would apply to anonymous clients: there are none.\n")
	for _, a := range sortedAccounts(accounts) {
		if err := a.Validate(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\nuser %s\n", a.Username)
		for _, t := range a.writes() {
			fmt.Fprintf(&b, "topic write %s\n", t)
		}
		for _, t := range a.reads() {
			fmt.Fprintf(&b, "topic read %s\n", t)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func sortedAccounts(accounts []MQTTAccount) []MQTTAccount {
	out := slices.Clone(accounts)
	slices.SortFunc(out, func(a, b MQTTAccount) int { return strings.Compare(a.Username, b.Username) })
	return out
}
