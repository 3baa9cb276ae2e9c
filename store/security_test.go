package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
)

// TestMQTTAccounts: accounts are saved, rotated and deleted, and every
// change moves the revision a broker polls.
func TestMQTTAccounts(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s, ctx := open(t), context.Background()
			if rev, err := s.MQTTAccountsRevision(ctx); err != nil || rev != 0 {
				t.Fatalf("empty store: revision %d %v", rev, err)
			}
			h1, _ := access.HashSecret("one")
			h2, _ := access.HashSecret("two")
			dev := access.MQTTAccount{Username: "SD-0001", Role: access.MQTTDevice, Kind: contract.KindSmoke, Device: "SD-0001", Hash: h1}
			svc := access.MQTTAccount{Username: "firegrid-ingest", Role: access.MQTTIngest, Hash: h1}
			if err := s.SaveMQTTAccounts(ctx, dev, svc); err != nil {
				t.Fatal(err)
			}
			got, rev, err := s.MQTTAccounts(ctx)
			if err != nil || rev != 1 || len(got) != 2 || got[0].Username != "SD-0001" || got[0].Kind != contract.KindSmoke ||
				got[1].Role != access.MQTTIngest || got[0].IssuedAt.IsZero() {
				t.Fatalf("accounts %+v revision %d %v", got, rev, err)
			}
			dev.Hash = h2
			if err := s.SaveMQTTAccounts(ctx, dev); err != nil {
				t.Fatal(err)
			}
			got, rev, _ = s.MQTTAccounts(ctx)
			if rev != 2 || len(got) != 2 || !access.VerifySecret(got[0].Hash, "two") {
				t.Fatalf("after rotation: %+v revision %d", got, rev)
			}
			if err := s.SaveMQTTAccounts(ctx, access.MQTTAccount{Username: "x y", Role: access.MQTTDevice, Hash: h1}); err == nil {
				t.Error("an invalid account was saved")
			}
			if n, err := s.DeleteMQTTAccounts(ctx, "SD-0001", "nobody"); err != nil || n != 1 {
				t.Fatalf("delete: %d %v", n, err)
			}
			if rev, _ := s.MQTTAccountsRevision(ctx); rev != 3 {
				t.Errorf("revision after delete %d, want 3", rev)
			}
		})
	}
}

// TestSessionsAndThrottle: revocations are listed until they expire;
// failed log-ins are counted per key within a window, locked and
// forgotten.
func TestSessionsAndThrottle(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s, ctx := open(t), context.Background()
			now := time.Now()
			if err := s.RevokeSession(ctx, "s1", "mfs-1", now.Add(time.Hour), now); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeSession(ctx, "s1", "mfs-1", now.Add(time.Hour), now); err != nil {
				t.Fatalf("revoking twice: %v", err)
			}
			s.RevokeSession(ctx, "s2", "mfs-1", now.Add(time.Minute), now)
			if got, err := s.RevokedSessions(ctx, now); err != nil || !slices.Contains(got, "s1") || !slices.Contains(got, "s2") {
				t.Fatalf("revoked %v %v", got, err)
			}
			if got, _ := s.RevokedSessions(ctx, now.Add(2*time.Minute)); len(got) != 1 || got[0] != "s1" {
				t.Errorf("revoked after s2 expired: %v", got)
			}

			for i := 1; i <= 3; i++ {
				if n, err := s.LoginFailed(ctx, "user:a", now, time.Minute); err != nil || n != i {
					t.Fatalf("failure %d counted as %d: %v", i, n, err)
				}
			}
			if n, _ := s.LoginFailed(ctx, "user:a", now.Add(2*time.Minute), time.Minute); n != 1 {
				t.Errorf("a failure after the window counts %d, want 1", n)
			}
			if until, err := s.LoginLockedUntil(ctx, "user:a", "addr:1.2.3.4"); err != nil || !until.IsZero() {
				t.Fatalf("not locked yet: %v %v", until, err)
			}
			lock := now.Add(30 * time.Second).Truncate(time.Millisecond)
			s.LoginFailed(ctx, "addr:1.2.3.4", now, time.Minute)
			if err := s.LockLogin(ctx, "addr:1.2.3.4", lock); err != nil {
				t.Fatal(err)
			}
			s.LockLogin(ctx, "addr:1.2.3.4", lock.Add(-time.Second)) // an earlier lock does not shorten it
			if until, _ := s.LoginLockedUntil(ctx, "user:a", "addr:1.2.3.4"); !until.Equal(lock) {
				t.Errorf("locked until %v, want %v", until, lock)
			}
			if err := s.LoginSucceeded(ctx, "addr:1.2.3.4"); err != nil {
				t.Fatal(err)
			}
			if until, _ := s.LoginLockedUntil(ctx, "addr:1.2.3.4"); !until.IsZero() {
				t.Errorf("still locked after a success: %v", until)
			}
		})
	}
}

func TestSetUserPassword(t *testing.T) {
	s, ctx := stores["sqlite"](t), context.Background()
	h, _ := access.HashPasswordCost("Long enough pass 1", 4)
	if ok, err := s.SetUserPassword(ctx, "nobody", h); err != nil || ok {
		t.Fatalf("unknown user: %v %v", ok, err)
	}
	s.SaveUser(ctx, access.User{Username: "c119", Role: access.RoleCenter119, PasswordHash: h})
	h2, _ := access.HashPasswordCost("Another long pass 2", 4)
	if ok, err := s.SetUserPassword(ctx, "c119", h2); err != nil || !ok {
		t.Fatalf("set: %v %v", ok, err)
	}
	if us, _ := s.Users(ctx); len(us) != 1 || us[0].PasswordHash != h2 {
		t.Errorf("users %+v", us)
	}
}
