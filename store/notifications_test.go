package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

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
				ns = append(ns, contract.Notification{Key: fmt.Sprintf("INC-1/%d/opened/province", i), Notifier: "province", Target: "p.example",
					Subject: "INC-1", Event: "opened", Version: i, Body: []byte(`{"event":"opened"}`), NextAt: t0, CreatedAt: t0})
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
