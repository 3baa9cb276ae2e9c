package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// TestNotificationsInOrderPerSubject: a notifier's second notification
// about an incident waits while its first is pending (being retried), so
// the receiver gets the changes in order; another notifier's, or another
// incident's, does not wait.
func TestNotificationsInOrderPerSubject(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
			n := func(subject string, version int, notifier string) contract.Notification {
				return contract.Notification{Key: fmt.Sprintf("%s/%d/%s", subject, version, notifier), Notifier: notifier, Target: "t",
					Subject: subject, Event: "e", Version: version, Body: []byte("{}"), NextAt: t0, CreatedAt: t0}
			}
			if err := st.KeepNotifications(ctx, []contract.Notification{n("INC-1", 1, "a"), n("INC-1", 2, "a"), n("INC-1", 2, "b"), n("INC-2", 1, "a")}); err != nil {
				t.Fatal(err)
			}
			got, err := st.ClaimNotifications(ctx, "i", "i/1", t0, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, x := range got {
				keys = append(keys, x.Key)
			}
			if fmt.Sprint(keys) != "[INC-1/1/a INC-1/2/b INC-2/1/a]" {
				t.Fatalf("claimed %v, want INC-1/2/a to wait for INC-1/1/a", keys)
			}
			first := got[0]
			first.Status, first.Attempts, first.NextAt, first.UpdatedAt = contract.NotificationPending, 1, t0.Add(time.Minute), t0
			if ok, err := st.SettleNotification(ctx, &first, "i/1"); err != nil || !ok {
				t.Fatal(ok, err)
			}
			if again, _ := st.ClaimNotifications(ctx, "i", "i/1", t0.Add(2*time.Second), time.Minute, 10); len(again) != 0 {
				t.Fatalf("claimed %d while the first waits for its retry, want none", len(again))
			}
			first.Status = contract.NotificationFailed
			if ok, err := st.SettleNotification(ctx, &first, "i/1"); err != nil || ok {
				// The lease ended at the first settle: a settle needs a claim.
				t.Fatalf("settled without holding it: %v %v", ok, err)
			}
			retry, _ := st.ClaimNotifications(ctx, "i", "i/1", t0.Add(time.Minute), time.Minute, 10)
			if len(retry) != 1 || retry[0].Key != "INC-1/1/a" {
				t.Fatalf("at its retry: %+v", retry)
			}
			retry[0].Status = contract.NotificationDelivered
			if ok, err := st.SettleNotification(ctx, &retry[0], "i/1"); err != nil || !ok {
				t.Fatal(ok, err)
			}
			next, _ := st.ClaimNotifications(ctx, "i", "i/1", t0.Add(time.Minute), time.Minute, 10)
			if len(next) != 1 || next[0].Key != "INC-1/2/a" {
				t.Fatalf("once the first was delivered: %+v", next)
			}
		})
	}
}

// TestNotificationsOutbox: kept once by key; claimed by one owner at a
// time even when several claim at once; settled only by the owner that
// holds the lease; a gone process's lease taken over by the next of its
// instance; listed and counted by status; pruned once old.
func TestNotificationsOutbox(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
			var ns []contract.Notification
			for i := range 20 {
				ns = append(ns, contract.Notification{Key: fmt.Sprintf("INC-%d/1/opened/province", i), Notifier: "province", Target: "p.example",
					Subject: fmt.Sprintf("INC-%d", i), Event: "opened", Version: 1, Body: []byte(`{"event":"opened"}`), NextAt: t0, CreatedAt: t0})
			}
			if err := st.KeepNotifications(ctx, ns); err != nil {
				t.Fatal(err)
			}
			if err := st.KeepNotifications(ctx, ns[:5]); err != nil { // taken again
				t.Fatal(err)
			}
			if c, _ := st.NotificationCounts(ctx); c[contract.NotificationPending] != 20 {
				t.Fatalf("counts %v, want 20 pending", c)
			}
			// alarm-0 takes three; then four owners claim at once: each
			// notification goes to one.
			var mu sync.Mutex
			seen := map[int64]string{}
			first, err := st.ClaimNotifications(ctx, "alarm-0", "alarm-0/boot", t0, time.Minute, 3)
			if err != nil || len(first) != 3 || first[0].Key != ns[0].Key {
				t.Fatalf("first claim: %v %+v", err, first)
			}
			for _, n := range first {
				seen[n.ID] = "alarm-0/boot"
			}
			var wg sync.WaitGroup
			for w := 1; w <= 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					owner := fmt.Sprintf("alarm-%d/boot", w)
					for {
						got, err := st.ClaimNotifications(ctx, fmt.Sprintf("alarm-%d", w), owner, t0, time.Minute, 3)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, n := range got {
							if prev, dup := seen[n.ID]; dup {
								t.Errorf("notification %d claimed by %s and %s", n.ID, prev, owner)
							}
							seen[n.ID] = owner
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(seen) != 20 {
				t.Fatalf("%d claimed, want 20", len(seen))
			}
			// Nothing is free while the leases hold.
			if got, _ := st.ClaimNotifications(ctx, "alarm-9", "alarm-9/x", t0.Add(30*time.Second), time.Minute, 100); len(got) != 0 {
				t.Fatalf("claimed %d held notifications", len(got))
			}
			// The next process of alarm-0 takes alarm-0's at once.
			var mine int
			for _, o := range seen {
				if o == "alarm-0/boot" {
					mine++
				}
			}
			got, err := st.ClaimNotifications(ctx, "alarm-0", "alarm-0/next", t0.Add(time.Second), time.Minute, 100)
			if err != nil || len(got) != mine {
				t.Fatalf("alarm-0's next process took %d (%v), want its former %d", len(got), err, mine)
			}
			// Settled only by who holds it.
			n := got[0]
			n.Status, n.Attempts, n.UpdatedAt = contract.NotificationDelivered, 1, t0.Add(time.Second)
			if ok, err := st.SettleNotification(ctx, &n, "alarm-0/boot"); err != nil || ok {
				t.Fatalf("settled by a former owner: %v %v", ok, err)
			}
			if ok, err := st.SettleNotification(ctx, &n, "alarm-0/next"); err != nil || !ok {
				t.Fatalf("settle by the owner: %v %v", ok, err)
			}
			f := got[1%len(got)]
			if len(got) > 1 {
				f.Status, f.Attempts, f.Error, f.UpdatedAt = contract.NotificationFailed, 6, "refused: 400", t0.Add(time.Second)
				if ok, err := st.SettleNotification(ctx, &f, "alarm-0/next"); err != nil || !ok {
					t.Fatalf("settle failed: %v %v", ok, err)
				}
				failed, err := st.Notifications(ctx, contract.NotificationFailed, 10)
				if err != nil || len(failed) != 1 || failed[0].Error != "refused: 400" || failed[0].Attempts != 6 || string(failed[0].Body) != `{"event":"opened"}` {
					t.Fatalf("failed list: %v %+v", err, failed)
				}
			}
			// Once the leases run out, every one not settled is free again.
			settled := min(len(got), 2)
			if again, _ := st.ClaimNotifications(ctx, "alarm-9", "alarm-9/x", t0.Add(2*time.Minute), time.Minute, 100); len(again) != 20-settled {
				t.Fatalf("claimed %d after the leases ended, want %d", len(again), 20-settled)
			}
			if k, err := st.PruneNotifications(ctx, t0.Add(time.Hour)); err != nil || int(k) != settled {
				t.Fatalf("pruned %d (%v), want the delivered and the failed one", k, err)
			}
		})
	}
}
