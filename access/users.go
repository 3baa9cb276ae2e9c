// Package access says who may see and do what on the console and the API:
// the console users and their roles, principals and their scope over
// incidents, password hashes, session tokens, and the audit record of
// access decisions. The console enforces it; the store keeps users and
// audit entries.
package access

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/conf"
)

// Role is what a user may see and do.
type Role string

// Roles. A station's crew sees and works its own station's incidents and
// those escalated to it; the 119 centre and the sub-district see and work
// everything.
const (
	RoleCrew        Role = "crew"
	RoleCenter119   Role = "center119"
	RoleSubdistrict Role = "subdistrict"
)

// Roles lists every role.
var Roles = []Role{RoleCrew, RoleCenter119, RoleSubdistrict}

// User is one entry of the users file. Passwords are kept only as bcrypt
// hashes.
type User struct {
	Username     string `yaml:"username"`
	Name         string `yaml:"name,omitempty"`
	Role         Role   `yaml:"role"`
	Station      string `yaml:"station,omitempty"`
	PasswordHash string `yaml:"password_hash"`
}

// UsersFile is the users file (configs/users.yaml).
type UsersFile struct {
	Users []User `yaml:"users"`
}

// Principal is who made a request.
type Principal struct {
	Username string `json:"username"`
	Role     Role   `json:"role"`
	Station  string `json:"station,omitempty"`
}

// Sees reports whether p may see and work an incident.
func (p Principal) Sees(in *contract.Incident) bool {
	switch p.Role {
	case RoleCenter119, RoleSubdistrict:
		return true
	case RoleCrew:
		return in.InScope(p.Station)
	}
	return false
}

// SeesStation reports whether p may see a station's figures.
func (p Principal) SeesStation(id string) bool {
	return p.Role == RoleCenter119 || p.Role == RoleSubdistrict || (p.Role == RoleCrew && p.Station == id)
}

// AuditEntry is one recorded access decision.
type AuditEntry struct {
	At       time.Time `json:"at"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Allowed  bool      `json:"allowed"`
	Detail   string    `json:"detail,omitempty"`
}

// HashPassword returns the bcrypt hash of a password at bcrypt's default
// cost.
func HashPassword(password string) (string, error) {
	return HashPasswordCost(password, bcrypt.DefaultCost)
}

// HashPasswordCost hashes at another cost: the minimum for the demo's
// published passwords and for tests.
func HashPasswordCost(password string, cost int) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password: want at least 8 characters")
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}

// Validate checks the users against the registry's stations (reg may be
// nil); each error starts with the key path.
func (f *UsersFile) Validate(reg *devices.Registry) error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range f.Users {
		key := fmt.Sprintf("users.%d", i)
		switch {
		case u.Username == "":
			errs = append(errs, fmt.Errorf("%s.username: required", key))
		case strings.ContainsAny(u.Username, " \t:"):
			errs = append(errs, fmt.Errorf("%s.username: %q: no spaces or colons", key, u.Username))
		case seen[u.Username]:
			errs = append(errs, fmt.Errorf("%s.username: %q is used twice", key, u.Username))
		}
		seen[u.Username] = true
		if !slices.Contains(Roles, u.Role) {
			errs = append(errs, fmt.Errorf("%s.role: %q: want crew, center119 or subdistrict", key, u.Role))
		}
		if u.Role == RoleCrew && u.Station == "" {
			errs = append(errs, fmt.Errorf("%s.station: required for a crew (the station id, e.g. MFS-1)", key))
		}
		if u.Station != "" && reg != nil {
			if _, ok := reg.Station(u.Station); !ok {
				errs = append(errs, fmt.Errorf("%s.station: %q is not a station of the registry", key, u.Station))
			}
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: want a bcrypt hash (make one with firegrid users add)", key))
		}
	}
	return errors.Join(errs...)
}

// ParseUsers decodes a users file strictly and validates it. Its errors
// are *conf.Error values naming the file, the line and column, and the key
// (users.2.role), joined with errors.Join.
func ParseUsers(name string, b []byte, reg *devices.Registry) (*UsersFile, error) {
	var f UsersFile
	root, err := conf.DecodeStrict(name, b, &f)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(reg); err != nil {
		return nil, conf.Locate(name, root, err)
	}
	return &f, nil
}

// LoadUsers reads a users file.
func LoadUsers(path string, reg *devices.Registry) (*UsersFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseUsers(path, b, reg)
}

// AddUser sets u (its PasswordHash made with HashPassword) in the users
// file at path, creating the file or replacing a user of the same name,
// and writes it atomically.
func AddUser(path string, u User) error {
	f := &UsersFile{}
	if b, err := os.ReadFile(path); err == nil {
		if f, err = ParseUsers(path, b, nil); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if i := slices.IndexFunc(f.Users, func(x User) bool { return x.Username == u.Username }); i >= 0 {
		f.Users[i] = u
	} else {
		f.Users = append(f.Users, u)
	}
	if err := (&UsersFile{Users: []User{u}}).Validate(nil); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# firegrid users: make and change them with `firegrid users add`.\n# Passwords are kept as bcrypt hashes only.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Auth checks passwords and issues and verifies session tokens. Tokens
// are signed (HMAC-SHA256), not stored: every alarm instance that shares
// the secret accepts them.
type Auth struct {
	users  map[string]User
	secret []byte
	ttl    time.Duration
	clock  clock.Clock
}

// dummyHash is compared against when the user is unknown, so that a wrong
// name takes as long as a wrong password.
var dummyHash = []byte("$2a$10$GmfLd5Ncrp.MHrYUWB9c9up7EKMAq/JRNCkzIqLHoxhiNhmhZTnbi")

// NewAuth returns an Auth for users. An empty secret makes a random one:
// sessions then end when the process does.
func NewAuth(users []User, secret []byte, ttl time.Duration, clk clock.Clock) *Auth {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	if clk == nil {
		clk = clock.Real{}
	}
	a := &Auth{users: map[string]User{}, secret: secret, ttl: ttl, clock: clk}
	for _, u := range users {
		a.users[u.Username] = u
	}
	return a
}

// ErrBadLogin is a wrong username or password.
var ErrBadLogin = errors.New("wrong username or password")

// Login checks a password and returns a token valid until expires.
func (a *Auth) Login(username, password string) (token string, p Principal, expires time.Time, err error) {
	u, ok := a.users[username]
	hash := dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return "", Principal{}, time.Time{}, ErrBadLogin
	}
	p = Principal{Username: u.Username, Role: u.Role, Station: u.Station}
	expires = a.clock.Now().Add(a.ttl).Truncate(time.Second)
	return a.sign(p, expires), p, expires, nil
}

type claims struct {
	Principal
	Exp int64 `json:"exp"`
}

func (a *Auth) sign(p Principal, exp time.Time) string {
	body, _ := json.Marshal(claims{p, exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify returns the principal of a token that is well signed, not
// expired, and whose user still exists with the same role and station.
func (a *Auth) Verify(token string) (Principal, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Principal{}, errors.New("malformed token")
	}
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte(payload))
	want := mac.Sum(nil)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return Principal{}, errors.New("bad token signature")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Principal{}, errors.New("malformed token")
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Principal{}, errors.New("malformed token")
	}
	if a.clock.Now().Unix() >= c.Exp {
		return Principal{}, errors.New("token expired; log in again")
	}
	u, ok := a.users[c.Username]
	if !ok || u.Role != c.Role || u.Station != c.Station {
		return Principal{}, errors.New("user no longer exists or changed role; log in again")
	}
	return c.Principal, nil
}
