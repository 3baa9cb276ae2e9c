package access

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/internal/clock"
)

// SessionStore keeps what every alarm instance must agree on about
// log-ins: revoked sessions and failed log-ins (the store).
type SessionStore interface {
	RevokeSession(ctx context.Context, session, username string, expires, now time.Time) error
	RevokedSessions(ctx context.Context, now time.Time) ([]string, error)
	LoginLockedUntil(ctx context.Context, keys ...string) (time.Time, error)
	LoginFailed(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	LockLogin(ctx context.Context, key string, until time.Time) error
	LoginSucceeded(ctx context.Context, key string) error
}

// UserStore keeps console users in the store (dispatch.users: db), where
// a password change made on one instance is seen by every other.
type UserStore interface {
	Users(ctx context.Context) ([]User, error)
	SetUserPassword(ctx context.Context, username, hash string) (bool, error)
}

// Throttle says how many failed log-ins within Window lock a user name or
// an address out: Lock for the first time, twice as long for each further
// failure, at most MaxLock.
type Throttle struct {
	PerUser    int
	PerAddress int
	Window     time.Duration
	Lock       time.Duration
	MaxLock    time.Duration
}

// DefaultThrottle locks a user name out after 5 failures in 15 minutes,
// an address (a station's whole office may share one) after 20, for a
// minute, then doubling up to 15 minutes.
func DefaultThrottle() Throttle {
	return Throttle{PerUser: 5, PerAddress: 20, Window: 15 * time.Minute, Lock: time.Minute, MaxLock: 15 * time.Minute}
}

// AuthOptions configure an Auth.
type AuthOptions struct {
	// Users are the users (a users file's, the demo's); or UserStore
	// holds them, read again every Refresh, and takes password changes.
	Users     []User
	UserStore UserStore
	// Sessions keeps revoked sessions and failed log-ins for every
	// instance; nil keeps them in this process only.
	Sessions SessionStore
	// Secret signs session tokens: instances that share it accept each
	// other's. Empty makes a random one (sessions end with the process).
	Secret []byte
	// TTL is how long a session lasts; default 12h.
	TTL   time.Duration
	Clock clock.Clock
	// Throttle is the lock-out of failed log-ins; zero means
	// DefaultThrottle.
	Throttle Throttle
	// Refresh is how often revocations (and a UserStore's users) are read
	// again: a log-out or a password change on one instance holds on
	// every other within it. Default 1s.
	Refresh time.Duration
	// Cost is bcrypt's cost for changed passwords; default bcrypt's.
	Cost int
}

// Auth checks passwords and issues, verifies and revokes session tokens.
// Tokens are signed (HMAC-SHA256), carry a session id and a fingerprint
// of the user's password hash: a revoked session, or any session of a user
// whose password changed, no longer verifies.
type Auth struct {
	o AuthOptions

	mu      sync.Mutex
	users   map[string]User
	revoked map[string]bool
	synced  time.Time // wall time of the last read of the store
	syncMu  sync.Mutex
}

// dummyHash is compared against when the user is unknown, so that a wrong
// name takes as long as a wrong password.
var dummyHash = []byte("$2a$10$GmfLd5Ncrp.MHrYUWB9c9up7EKMAq/JRNCkzIqLHoxhiNhmhZTnbi")

// NewAuth returns an Auth for fixed users whose sessions and failed
// log-ins are kept in this process.
func NewAuth(users []User, secret []byte, ttl time.Duration, clk clock.Clock) *Auth {
	a, _ := NewAuthWith(context.Background(), AuthOptions{Users: users, Secret: secret, TTL: ttl, Clock: clk})
	return a
}

// NewAuthWith returns an Auth; with a UserStore it reads the users once
// before it returns.
func NewAuthWith(ctx context.Context, o AuthOptions) (*Auth, error) {
	if len(o.Secret) == 0 {
		o.Secret = make([]byte, 32)
		_, _ = rand.Read(o.Secret)
	}
	if o.TTL <= 0 {
		o.TTL = 12 * time.Hour
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Throttle == (Throttle{}) {
		o.Throttle = DefaultThrottle()
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Second
	}
	if o.Cost == 0 {
		o.Cost = bcrypt.DefaultCost
	}
	if o.Sessions == nil {
		o.Sessions = newMemSessions()
	}
	a := &Auth{o: o, users: map[string]User{}, revoked: map[string]bool{}}
	for _, u := range o.Users {
		a.users[u.Username] = u
	}
	if err := a.sync(ctx, true); err != nil {
		return nil, err
	}
	return a, nil
}

// sync reads the revoked sessions (and a UserStore's users) again when
// they were last read a Refresh ago, or always when force is set. On an
// error what was read before stays in force.
func (a *Auth) sync(ctx context.Context, force bool) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	a.mu.Lock()
	due := force || time.Since(a.synced) >= a.o.Refresh
	a.mu.Unlock()
	if !due {
		return nil
	}
	revoked, err := a.o.Sessions.RevokedSessions(ctx, a.o.Clock.Now())
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	var users []User
	if a.o.UserStore != nil {
		if users, err = a.o.UserStore.Users(ctx); err != nil {
			return fmt.Errorf("users: %w", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.synced = time.Now()
	a.revoked = make(map[string]bool, len(revoked))
	for _, id := range revoked {
		a.revoked[id] = true
	}
	if a.o.UserStore != nil {
		a.users = make(map[string]User, len(users))
		for _, u := range users {
			if (&UsersFile{Users: []User{u}}).Validate(nil) == nil {
				a.users[u.Username] = u
			}
		}
	}
	return nil
}

func (a *Auth) user(name string) (User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[name]
	return u, ok
}

// Known reports whether a user of that name exists (for the audit log:
// a name that is nobody's may be a password typed in the wrong field).
func (a *Auth) Known(username string) bool {
	_, ok := a.user(username)
	return ok
}

// ErrBadLogin is a wrong username or password.
var ErrBadLogin = errors.New("wrong username or password")

// ErrUsersReadOnly is a password change where the users are a file's.
var ErrUsersReadOnly = errors.New("the users are kept in a users file here: change a password with firegrid users add and restart")

// ThrottledError is a log-in refused, without checking the password,
// because its user name or address failed too often.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed log-ins; try again in %s", e.RetryAfter.Round(time.Second))
}

// throttleKeys are the keys failed log-ins are counted under. The user
// name is hashed: a password typed into the name field is not kept.
func throttleKeys(username, addr string) (user, address string) {
	h := sha256.Sum256([]byte(strings.ToLower(username)))
	return "user:" + hex.EncodeToString(h[:16]), "addr:" + addr
}

// checkThrottle refuses a log-in under a locked user name or address.
func (a *Auth) checkThrottle(ctx context.Context, username, addr string) error {
	uk, ak := throttleKeys(username, addr)
	until, err := a.o.Sessions.LoginLockedUntil(ctx, uk, ak)
	if err != nil {
		return err
	}
	if now := a.o.Clock.Now(); until.After(now) {
		return &ThrottledError{RetryAfter: until.Sub(now)}
	}
	return nil
}

// failed counts a failed log-in under the user name and the address and
// locks either out once it failed too often.
func (a *Auth) failed(ctx context.Context, username, addr string) error {
	uk, ak := throttleKeys(username, addr)
	now, t := a.o.Clock.Now(), a.o.Throttle
	for _, k := range []struct {
		key   string
		limit int
	}{{uk, t.PerUser}, {ak, t.PerAddress}} {
		n, err := a.o.Sessions.LoginFailed(ctx, k.key, now, t.Window)
		if err != nil {
			return err
		}
		if k.limit > 0 && n >= k.limit {
			lock := t.Lock
			for i := k.limit; i < n && lock < t.MaxLock; i++ {
				lock *= 2
			}
			if err := a.o.Sessions.LockLogin(ctx, k.key, now.Add(min(lock, t.MaxLock))); err != nil {
				return err
			}
		}
	}
	return nil
}

// Login checks a password and returns a token valid until expires. addr
// is where the attempt came from: failed log-ins are counted per user
// name and per address, and a locked one is refused with a
// *ThrottledError before its password is checked.
func (a *Auth) Login(ctx context.Context, username, password, addr string) (token string, p Principal, expires time.Time, err error) {
	if err := a.sync(ctx, false); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	if err := a.checkThrottle(ctx, username, addr); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	u, ok := a.user(username)
	hash := dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		if err := a.failed(ctx, username, addr); err != nil {
			return "", Principal{}, time.Time{}, err
		}
		return "", Principal{}, time.Time{}, ErrBadLogin
	}
	uk, _ := throttleKeys(username, addr)
	if err := a.o.Sessions.LoginSucceeded(ctx, uk); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	token, p, expires = a.issue(u)
	return token, p, expires, nil
}

type claims struct {
	Principal
	Exp int64 `json:"exp"`
	// Sid names the session, for its revocation.
	Sid string `json:"sid"`
	// Pwf is a fingerprint of the user's password hash when the session
	// began: a changed password ends every older session.
	Pwf string `json:"pwf"`
}

func fingerprint(hash string) string {
	h := sha256.Sum256([]byte(hash))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

func (a *Auth) issue(u User) (string, Principal, time.Time) {
	p := Principal{Username: u.Username, Role: u.Role, Station: u.Station, Area: u.Area, Org: u.Org}
	exp := a.o.Clock.Now().Add(a.o.TTL).Truncate(time.Second)
	sid := make([]byte, 16)
	_, _ = rand.Read(sid)
	body, _ := json.Marshal(claims{Principal: p, Exp: exp.Unix(), Sid: hex.EncodeToString(sid), Pwf: fingerprint(u.PasswordHash)})
	payload := base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, a.o.Secret)
	mac.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), p, exp
}

// parse checks a token's signature and expiry and returns its claims.
func (a *Auth) parse(token string) (claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return claims{}, errors.New("malformed token")
	}
	mac := hmac.New(sha256.New, a.o.Secret)
	mac.Write([]byte(payload))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return claims{}, errors.New("bad token signature")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return claims{}, errors.New("malformed token")
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil || c.Sid == "" {
		return claims{}, errors.New("malformed token")
	}
	if a.o.Clock.Now().Unix() >= c.Exp {
		return claims{}, errors.New("session expired; log in again")
	}
	return c, nil
}

// Verify returns the principal of a token that is well signed, not
// expired, not revoked, and whose user still exists with the same role,
// station and password.
func (a *Auth) Verify(ctx context.Context, token string) (Principal, error) {
	c, err := a.parse(token)
	if err != nil {
		return Principal{}, err
	}
	_ = a.sync(ctx, false) // on an error, what was read before holds
	a.mu.Lock()
	revoked := a.revoked[c.Sid]
	u, ok := a.users[c.Username]
	a.mu.Unlock()
	if revoked {
		return Principal{}, errors.New("logged out; log in again")
	}
	if !ok || u.Role != c.Role || u.Station != c.Station || u.Area != c.Area || u.Org != c.Org {
		return Principal{}, errors.New("user no longer exists or changed role; log in again")
	}
	if fingerprint(u.PasswordHash) != c.Pwf {
		return Principal{}, errors.New("the password was changed; log in again")
	}
	return c.Principal, nil
}

// Logout revokes the token's session on every instance.
func (a *Auth) Logout(ctx context.Context, token string) error {
	c, err := a.parse(token)
	if err != nil {
		return err
	}
	if err := a.o.Sessions.RevokeSession(ctx, c.Sid, c.Username, time.Unix(c.Exp, 0), a.o.Clock.Now()); err != nil {
		return err
	}
	a.mu.Lock()
	a.revoked[c.Sid] = true
	a.mu.Unlock()
	return nil
}

// ChangePassword sets a user's new password after checking the current
// one (a failure counts as a failed log-in), and returns a new session:
// every other session of the user, on every instance, ends.
func (a *Auth) ChangePassword(ctx context.Context, username, current, next, addr string) (token string, p Principal, expires time.Time, err error) {
	if a.o.UserStore == nil {
		return "", Principal{}, time.Time{}, ErrUsersReadOnly
	}
	if err := a.sync(ctx, true); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	if err := a.checkThrottle(ctx, username, addr); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	u, ok := a.user(username)
	if !ok || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		if err := a.failed(ctx, username, addr); err != nil {
			return "", Principal{}, time.Time{}, err
		}
		return "", Principal{}, time.Time{}, ErrBadLogin
	}
	if err := CheckPassword(username, next); err != nil {
		return "", Principal{}, time.Time{}, err
	}
	if next == current {
		return "", Principal{}, time.Time{}, errors.New("the new password is the current one")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(next), a.o.Cost)
	if err != nil {
		return "", Principal{}, time.Time{}, err
	}
	if ok, err := a.o.UserStore.SetUserPassword(ctx, username, string(h)); err != nil || !ok {
		return "", Principal{}, time.Time{}, errors.Join(err, errors.New("user not found"))
	}
	u.PasswordHash = string(h)
	a.mu.Lock()
	a.users[username] = u
	a.mu.Unlock()
	token, p, expires = a.issue(u)
	return token, p, expires, nil
}

// memSessions is a SessionStore in memory: one instance only.
type memSessions struct {
	mu       sync.Mutex
	revoked  map[string]time.Time
	failures map[string]*memFailures
}

type memFailures struct {
	n           int
	first, lock time.Time
}

// NewMemSessions returns a SessionStore in memory, for one process (and
// tests).
func NewMemSessions() SessionStore { return newMemSessions() }

func newMemSessions() *memSessions {
	return &memSessions{revoked: map[string]time.Time{}, failures: map[string]*memFailures{}}
}

func (m *memSessions) RevokeSession(_ context.Context, session, _ string, expires, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked[session] = expires
	return nil
}

func (m *memSessions) RevokedSessions(_ context.Context, now time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, exp := range m.revoked {
		if exp.After(now) {
			out = append(out, id)
		} else {
			delete(m.revoked, id)
		}
	}
	return out, nil
}

func (m *memSessions) LoginLockedUntil(_ context.Context, keys ...string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var until time.Time
	for _, k := range keys {
		if f := m.failures[k]; f != nil && f.lock.After(until) {
			until = f.lock
		}
	}
	return until, nil
}

func (m *memSessions) LoginFailed(_ context.Context, key string, now time.Time, window time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.failures[key]
	if f == nil || f.first.Before(now.Add(-window)) {
		lock := time.Time{}
		if f != nil {
			lock = f.lock
		}
		f = &memFailures{first: now, lock: lock}
		m.failures[key] = f
	}
	f.n++
	return f.n, nil
}

func (m *memSessions) LockLogin(_ context.Context, key string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.failures[key]; f != nil && f.lock.Before(until) {
		f.lock = until
	}
	return nil
}

func (m *memSessions) LoginSucceeded(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, key)
	return nil
}
