package access_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/internal/clock"
)

func TestCheckPassword(t *testing.T) {
	for _, pw := range []string{"", "short-1", "aaaaaaaaaaaa1", "123456789012345", "abcdefghijklmn", "my password1!", "mfs-1-is-the-best", "Password-2026", "center119-duty"} {
		if access.CheckPassword("mfs-1", pw) == nil {
			t.Errorf("%q accepted", pw)
		}
	}
	for _, pw := range []string{"correct horse battery", "night-shift-at-MFS-7", "红色的消防车在路上 119"} {
		if err := access.CheckPassword("mfs-1", pw); err != nil {
			t.Errorf("%q refused: %v", pw, err)
		}
	}
}

func TestRolesAreAnOpenSet(t *testing.T) {
	h, _ := access.HashPasswordCost("a long enough pw 1", bcrypt.MinCost)
	for _, r := range access.Roles {
		u := access.User{Username: "u", Role: r, PasswordHash: h}
		switch r {
		case access.RoleCrew:
			u.Station = "MFS-1"
		case access.RoleGridWorker:
			u.Area = "Z-01"
		case access.RoleCommunity:
			u.Area = "C-1"
		case access.RoleProperty:
			u.Org = "福寿街物业"
		}
		if err := (&access.UsersFile{Users: []access.User{u}}).Validate(nil); err != nil {
			t.Errorf("role %s: %v", r, err)
		}
	}
	if len(access.Roles) != 7 {
		t.Errorf("roles %v", access.Roles)
	}
	p := access.Principal{Username: "a", Role: access.RoleAdmin}
	if !p.SeesStation("MFS-1") {
		t.Error("the administrator does not see stations' figures")
	}
	for _, r := range []access.Role{access.RoleGridWorker, access.RoleCommunity, access.RoleProperty, access.RoleAdmin} {
		if (access.Principal{Role: r}).Sees(nil) {
			t.Errorf("%s sees incidents", r)
		}
	}
}

// TestLoginThrottle: five wrong passwords lock the user name out (the
// right one is refused too, without being checked) with a retry time that
// doubles; the lock ends; an address is locked after twenty whatever the
// user names.
func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	h, _ := access.HashPasswordCost("the right password 1", bcrypt.MinCost)
	clk := clock.NewFake(t0)
	a, err := access.NewAuthWith(ctx, access.AuthOptions{Users: []access.User{{Username: "c119", Role: access.RoleCenter119, PasswordHash: h}},
		Clock: clk, Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, _, _, err := a.Login(ctx, "c119", "wrong", "10.0.0.1"); !errors.Is(err, access.ErrBadLogin) {
			t.Fatalf("attempt %d: %v, want a wrong password", i, err)
		}
	}
	_, _, _, err = a.Login(ctx, "c119", "the right password 1", "10.0.0.2")
	var te *access.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != time.Minute {
		t.Fatalf("sixth attempt: %v, want throttled for a minute", err)
	}
	clk.Advance(time.Minute)
	a.Login(ctx, "c119", "wrong", "10.0.0.1")
	if _, _, _, err := a.Login(ctx, "c119", "the right password 1", "10.0.0.1"); !errors.As(err, &te) || te.RetryAfter != 2*time.Minute {
		t.Fatalf("after another failure: %v, want throttled for two minutes", err)
	}
	clk.Advance(2 * time.Minute)
	if _, _, _, err := a.Login(ctx, "c119", "the right password 1", "10.0.0.1"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	if _, _, _, err := a.Login(ctx, "c119", "wrong", "10.0.0.1"); !errors.Is(err, access.ErrBadLogin) {
		t.Errorf("a success forgets the user's failures: %v", err)
	}
	for i := range 20 {
		a.Login(ctx, "nobody-"+string(rune('a'+i)), "x", "10.9.9.9")
	}
	if _, _, _, err := a.Login(ctx, "c119", "the right password 1", "10.9.9.9"); !errors.As(err, &te) {
		t.Errorf("an address with 20 failures: %v, want throttled", err)
	}
}

// memUsers is a UserStore in memory.
type memUsers struct {
	mu    sync.Mutex
	users []access.User
}

func (m *memUsers) Users(context.Context) ([]access.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]access.User(nil), m.users...), nil
}

func (m *memUsers) SetUserPassword(_ context.Context, name, hash string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.users {
		if m.users[i].Username == name {
			m.users[i].PasswordHash = hash
			return true, nil
		}
	}
	return false, nil
}

// TestLogoutAndPasswordChangeEverywhere: two instances share users and
// sessions; a log-out on one ends the session on the other within the
// refresh; a password change ends every older session on both, and the
// new one works on both.
func TestLogoutAndPasswordChangeEverywhere(t *testing.T) {
	ctx := context.Background()
	h, _ := access.HashPasswordCost("the first password 1", bcrypt.MinCost)
	users := &memUsers{users: []access.User{{Username: "c119", Role: access.RoleCenter119, PasswordHash: h}}}
	sessions := access.NewMemSessions()
	o := access.AuthOptions{UserStore: users, Sessions: sessions, Secret: []byte("shared"), Refresh: 50 * time.Millisecond, Cost: bcrypt.MinCost}
	a, err := access.NewAuthWith(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := access.NewAuthWith(ctx, o)
	t1, _, _, err := a.Login(ctx, "c119", "the first password 1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t2, _, _, _ := a.Login(ctx, "c119", "the first password 1", "10.0.0.1")
	if _, err := b.Verify(ctx, t1); err != nil {
		t.Fatalf("the other instance refuses the session: %v", err)
	}
	if err := a.Logout(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, t1); err == nil {
		t.Error("a logged-out session still verifies where it logged out")
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := b.Verify(ctx, t1); err == nil {
		t.Error("a logged-out session still verifies on the other instance after the refresh")
	}
	if _, err := b.Verify(ctx, t2); err != nil {
		t.Errorf("another session of the user ended with the log-out: %v", err)
	}

	if _, _, _, err := a.ChangePassword(ctx, "c119", "the first password 1", "short", "10.0.0.1"); err == nil {
		t.Error("a weak new password was taken")
	}
	if _, _, _, err := a.ChangePassword(ctx, "c119", "not it", "the second password 2", "10.0.0.1"); !errors.Is(err, access.ErrBadLogin) {
		t.Errorf("a wrong current password: %v", err)
	}
	t3, _, _, err := a.ChangePassword(ctx, "c119", "the first password 1", "the second password 2", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, t2); err == nil {
		t.Error("an older session verifies after the password changed")
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := b.Verify(ctx, t2); err == nil {
		t.Error("an older session verifies on the other instance after the password changed")
	}
	if _, err := b.Verify(ctx, t3); err != nil {
		t.Errorf("the new session on the other instance: %v", err)
	}
	if _, _, _, err := b.Login(ctx, "c119", "the first password 1", "10.0.0.1"); err == nil {
		t.Error("the old password still logs in on the other instance")
	}
	if _, _, _, err := access.NewAuth(nil, nil, 0, nil).ChangePassword(ctx, "x", "y", "z", ""); !errors.Is(err, access.ErrUsersReadOnly) {
		t.Errorf("users from a file: %v", err)
	}
}
