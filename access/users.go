// Package access says who may see and do what on the console and the API:
// the console users and their roles, principals and their scope over
// incidents, password hashes, session tokens, and the audit record of
// access decisions. The console enforces it; the store keeps users and
// audit entries.
package access

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf"
)

// Role is what a user may see and do. Roles are an open set: a role is a
// name in Roles, and each API route names the roles that may call it
// (console.API.Routes); a new role is added to Roles and to the routes it
// may call, and nothing else changes.
type Role string

// Roles. A station's crew sees and works its own station's incidents and
// those escalated to it, and reports hazards; the 119 centre and the
// sub-district see and work everything; the administrator runs the system
// (rules, periods, the audit log, the registry) and works no incident nor
// hazard. The people's half of the loop: a grid worker (网格员) reports the
// hazards of a responsibility zone, records their rectification, verifies
// and does the zone's inspection rounds; the community (社区) registers,
// dispatches, closes, rejects and reopens the hazards of its community and
// plans its rounds; a property company (物业) sees and rectifies what is
// dispatched to it and does the rounds planned for it. A user's Area (the
// zone of a grid worker, the community of a community's user) and Org (a
// property company) bound what it sees.
const (
	RoleCrew        Role = "crew"
	RoleCenter119   Role = "center119"
	RoleSubdistrict Role = "subdistrict"
	RoleAdmin       Role = "admin"
	RoleGridWorker  Role = "grid_worker"
	RoleCommunity   Role = "community"
	RoleProperty    Role = "property"
)

// Roles lists every role.
var Roles = []Role{RoleCrew, RoleCenter119, RoleSubdistrict, RoleAdmin, RoleGridWorker, RoleCommunity, RoleProperty}

// roleList is Roles for messages.
func roleList() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// User is one entry of the users file. Passwords are kept only as bcrypt
// hashes.
type User struct {
	Username string `yaml:"username"`
	Name     string `yaml:"name,omitempty"`
	Role     Role   `yaml:"role"`
	Station  string `yaml:"station,omitempty"`
	// Area is the responsibility zone of a grid worker, or the community
	// of a community's user; Org the property company of a property
	// company's user (the name hazards are dispatched to).
	Area         string `yaml:"area,omitempty"`
	Org          string `yaml:"org,omitempty"`
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
	Area     string `json:"area,omitempty"`
	Org      string `json:"org,omitempty"`
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

// SeesHazard reports whether p may see and work a hazard: the 119 centre
// and the sub-district every one, a community its community's, a grid
// worker its zone's, a crew those of its station's zones, a property
// company those dispatched to it.
func (p Principal) SeesHazard(h *contract.Hazard) bool {
	switch p.Role {
	case RoleCenter119, RoleSubdistrict:
		return true
	case RoleCommunity:
		return p.Area != "" && h.Community == p.Area
	case RoleGridWorker:
		return p.Area != "" && h.Zone == p.Area
	case RoleCrew:
		return p.Station != "" && h.Station == p.Station
	case RoleProperty:
		return p.Org != "" && h.Responsible.OrgName() == p.Org
	}
	return false
}

// SeesArea reports whether p may see the inspection rounds, coverage and
// lists of a zone (of a community): the 119 centre and the sub-district
// every zone, a community its own zones, a grid worker its zone.
func (p Principal) SeesArea(zone, community string) bool {
	switch p.Role {
	case RoleCenter119, RoleSubdistrict:
		return true
	case RoleCommunity:
		return p.Area != "" && community == p.Area
	case RoleGridWorker:
		return p.Area != "" && zone == p.Area
	}
	return false
}

// SeesStation reports whether p may see a station's figures.
func (p Principal) SeesStation(id string) bool {
	return p.Role == RoleCenter119 || p.Role == RoleSubdistrict || p.Role == RoleAdmin || (p.Role == RoleCrew && p.Station == id)
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
// published passwords and for tests. The password must be strong enough
// (CheckPassword, without the user name).
func HashPasswordCost(password string, cost int) (string, error) {
	if err := CheckPassword("", password); err != nil {
		return "", err
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}

// MinPasswordLength is the shortest password a user may have.
const MinPasswordLength = 12

// commonPasswords are refused whatever their length (they lead every
// list of leaked passwords, and their variants a console's users pick).
var commonPasswords = []string{"password", "123456", "12345678", "qwerty", "abc123", "111111", "iloveyou", "admin",
	"welcome", "letmein", "changeme", "firegrid", "center119", "passw0rd", "p@ssw0rd", "1q2w3e4r", "qwertyuiop", "abcdef"}

// CheckPassword says what is wrong with a password, if anything: at least
// MinPasswordLength characters, six of them different, letters and
// something else (digits, punctuation, spaces), not the user name, not a
// common password with a little around it.
func CheckPassword(username, password string) error {
	const want = "want at least 12 characters, with letters and digits or punctuation, not the user name or a common password"
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return fmt.Errorf("password too short: %s", want)
	}
	distinct := map[rune]bool{}
	letters, others := false, false
	for _, c := range password {
		distinct[c] = true
		if unicode.IsLetter(c) {
			letters = true
		} else {
			others = true
		}
	}
	if len(distinct) < 6 || !letters || !others {
		return fmt.Errorf("password too simple: %s", want)
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(username); len(u) >= 3 && strings.Contains(lower, u) {
		return fmt.Errorf("password contains the user name: %s", want)
	}
	for _, c := range commonPasswords {
		if len(lower)-len(c) < 6 && strings.Contains(lower, c) {
			return fmt.Errorf("password too common: %s", want)
		}
	}
	return nil
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
			errs = append(errs, fmt.Errorf("%s.role: %q: want one of %s", key, u.Role, roleList()))
		}
		if u.Role == RoleCrew && u.Station == "" {
			errs = append(errs, fmt.Errorf("%s.station: required for a crew (the station id, e.g. MFS-1)", key))
		}
		if u.Station != "" && reg != nil {
			if _, ok := reg.Station(u.Station); !ok {
				errs = append(errs, fmt.Errorf("%s.station: %q is not a station of the registry", key, u.Station))
			}
		}
		switch {
		case u.Role == RoleGridWorker && u.Area == "":
			errs = append(errs, fmt.Errorf("%s.area: required for a grid worker (the responsibility zone's id, e.g. Z-01)", key))
		case u.Role == RoleCommunity && u.Area == "":
			errs = append(errs, fmt.Errorf("%s.area: required for a community's user (the community's id, e.g. C-1)", key))
		case u.Area != "" && u.Role != RoleGridWorker && u.Role != RoleCommunity:
			errs = append(errs, fmt.Errorf("%s.area: only for a grid worker (a zone) or a community's user (a community)", key))
		case u.Area != "" && reg != nil:
			want := map[Role]devices.Level{RoleGridWorker: devices.LevelZone, RoleCommunity: devices.LevelCommunity}[u.Role]
			if a, ok := reg.Area(u.Area); !ok || a.Level != want {
				errs = append(errs, fmt.Errorf("%s.area: %q is not a %s of the registry", key, u.Area, want))
			}
		}
		switch {
		case u.Role == RoleProperty && u.Org == "":
			errs = append(errs, fmt.Errorf("%s.org: required for a property company's user (the company's name hazards are dispatched to)", key))
		case u.Org != "" && u.Role != RoleProperty:
			errs = append(errs, fmt.Errorf("%s.org: only for a property company's user", key))
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
