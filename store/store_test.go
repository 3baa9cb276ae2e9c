package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
)

// stores opens each implementation for the shared suite.
var stores = map[string]func(t *testing.T) *SQL{
	"sqlite": func(t *testing.T) *SQL {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "firegrid.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) *SQL {
		db, err := sql.Open("pgx", testenv.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), db, Postgres)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

func incident(id, site, typ string, opened time.Time) *contract.Incident {
	return &contract.Incident{ID: id, Type: typ, Severity: "critical", Status: contract.StatusOpen, Stage: contract.StageNew,
		Site: site, Station: "MFS-1", Community: "C-1", Devices: []string{"SD-1"}, OpenedAt: opened, UpdatedAt: opened, Version: 1}
}

func save(t *testing.T, s *SQL, in *contract.Incident, signals ...string) {
	t.Helper()
	if err := s.Tx(context.Background(), func(tx alarm.Tx) error { return tx.Save(in, signals...) }); err != nil {
		t.Fatalf("save %s: %v", in.ID, err)
	}
}

// TestStoreSuite runs the same behaviour against SQLite and PostgreSQL.
func TestStoreSuite(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			save(t, s, incident("INC-1", "H-1", "fire", t0), "sig-1")
			save(t, s, incident("INC-2", "H-2", "fire", t0.Add(time.Minute)), "sig-2")
			save(t, s, incident("INC-3", "H-1", "offline", t0.Add(2*time.Minute)))

			got, err := s.Get(ctx, "INC-2")
			if err != nil || got.Site != "H-2" || !got.OpenedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("get: %+v %v", got, err)
			}
			if _, err := s.Get(ctx, "INC-9"); !errors.Is(err, alarm.ErrNotFound) {
				t.Errorf("get unknown: %v, want ErrNotFound", err)
			}
			list, err := s.List(ctx, alarm.Filter{Status: contract.StatusOpen})
			if err != nil || len(list) != 3 || list[0].ID != "INC-3" {
				t.Fatalf("list open: %d %v", len(list), err)
			}
			err = s.Tx(ctx, func(tx alarm.Tx) error {
				in, err := tx.OpenFor("H-1", "fire")
				if err != nil || in == nil || in.ID != "INC-1" {
					return fmt.Errorf("open for H-1/fire: %+v %v", in, err)
				}
				if seen, err := tx.HasSignal("sig-1"); err != nil || !seen {
					return fmt.Errorf("sig-1 not recorded: %v", err)
				}
				if seen, err := tx.HasSignal("sig-9"); err != nil || seen {
					return fmt.Errorf("sig-9 recorded: %v", err)
				}
				in.Status = contract.StatusResolved
				in.Version++
				return tx.Save(in)
			})
			if err != nil {
				t.Fatal(err)
			}
			if l, _ := s.List(ctx, alarm.Filter{Status: contract.StatusResolved}); len(l) != 1 || l[0].ID != "INC-1" {
				t.Errorf("resolved: %v", l)
			}
			if l, _ := s.List(ctx, alarm.Filter{Station: "MFS-2"}); len(l) != 0 {
				t.Errorf("station filter: %d", len(l))
			}
			// A resolved incident frees its site and type: a new one may open.
			save(t, s, incident("INC-4", "H-1", "fire", t0.Add(3*time.Minute)))
			// A second open incident for one site and type is a conflict.
			err = s.Tx(ctx, func(tx alarm.Tx) error { return tx.Save(incident("INC-5", "H-1", "fire", t0)) })
			if !errors.Is(err, alarm.ErrConflict) {
				t.Errorf("second open incident: %v, want ErrConflict", err)
			}
			// Opening an incident whose id exists (another instance opened
			// it from the same signal) is a conflict, not an overwrite.
			dup := incident("INC-4", "H-4", "fire", t0)
			err = s.Tx(ctx, func(tx alarm.Tx) error { return tx.Save(dup) })
			if !errors.Is(err, alarm.ErrConflict) {
				t.Errorf("new incident with an existing id: %v, want ErrConflict", err)
			}
			// A failed transaction leaves nothing behind.
			boom := errors.New("boom")
			err = s.Tx(ctx, func(tx alarm.Tx) error {
				if err := tx.Save(incident("INC-6", "H-6", "fire", t0)); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "INC-6"); !errors.Is(err, alarm.ErrNotFound) {
				t.Errorf("rolled-back incident exists: %v", err)
			}
		})
	}
}

// TestStoreRaceOpensOneIncident has writers race to open one site's fire;
// the database lets exactly one win and the others find it on retry.
func TestStoreRaceOpensOneIncident(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for attempt := 0; attempt < 20; attempt++ {
						err := s.Tx(ctx, func(tx alarm.Tx) error {
							cur, err := tx.OpenFor("H-1", "fire")
							if err != nil {
								return err
							}
							if cur == nil {
								cur = incident(fmt.Sprintf("INC-%d", i), "H-1", "fire", time.Now())
							}
							cur.Devices = append(cur.Devices, fmt.Sprintf("SD-%d", i))
							return tx.Save(cur, fmt.Sprintf("sig-%d", i))
						})
						if !errors.Is(err, alarm.ErrConflict) {
							if err != nil {
								t.Error(err)
							}
							return
						}
					}
					t.Error("no progress after 20 conflicts")
				}()
			}
			wg.Wait()
			list, err := s.List(ctx, alarm.Filter{})
			if err != nil || len(list) != 1 || len(list[0].Devices) != 9 {
				t.Fatalf("got %d incidents (%v), want one with all 8 writers' devices", len(list), err)
			}
		})
	}
}

// TestStoreTimers: timers are set, moved, claimed when due and removed, on
// both databases; a claimed timer is invisible to a second claimer until
// the first transaction ends.
func TestStoreTimers(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			if _, ok, err := s.NextTimer(ctx); ok || err != nil {
				t.Fatalf("next timer on an empty store: %v %v", ok, err)
			}
			err := s.Tx(ctx, func(tx alarm.Tx) error {
				for _, tm := range []alarm.Timer{
					{Incident: "INC-1", Kind: "ack", DueAt: t0.Add(time.Minute)},
					{Incident: "INC-1", Kind: "arrive", DueAt: t0.Add(3 * time.Minute)},
					{Incident: "INC-2", Kind: "ack", DueAt: t0.Add(2 * time.Minute)},
				} {
					if err := tx.SetTimer(tm); err != nil {
						return err
					}
				}
				// Moving a timer replaces it.
				return tx.SetTimer(alarm.Timer{Incident: "INC-2", Kind: "ack", DueAt: t0.Add(30 * time.Second)})
			})
			if err != nil {
				t.Fatal(err)
			}
			if next, ok, err := s.NextTimer(ctx); !ok || err != nil || !next.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("next timer %v %v %v, want the moved one at 30s", next, ok, err)
			}
			claim := func(now time.Time) *alarm.Timer {
				var got *alarm.Timer
				if err := s.Tx(ctx, func(tx alarm.Tx) error {
					var err error
					if got, err = tx.ClaimTimer(now); err != nil || got == nil {
						return err
					}
					return tx.DeleteTimer(got.Incident, got.Kind)
				}); err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := claim(t0.Add(29 * time.Second)); got != nil {
				t.Fatalf("claimed %+v before it was due", got)
			}
			// Kept in whole milliseconds, a timer due within a
			// millisecond is not claimed before it is due.
			if err := s.Tx(ctx, func(tx alarm.Tx) error {
				return tx.SetTimer(alarm.Timer{Incident: "INC-3", Kind: "ack", DueAt: t0.Add(10*time.Second + 700*time.Microsecond)})
			}); err != nil {
				t.Fatal(err)
			}
			if got := claim(t0.Add(10*time.Second + 300*time.Microsecond)); got != nil {
				t.Fatalf("claimed %+v 0.4 ms before it was due", got)
			}
			if got := claim(t0.Add(10*time.Second + 1*time.Millisecond)); got == nil || got.Incident != "INC-3" {
				t.Fatalf("claimed %+v once due, want INC-3/ack", got)
			}
			if got := claim(t0.Add(2 * time.Minute)); got == nil || got.Incident != "INC-2" || !got.DueAt.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("claimed %+v, want INC-2/ack due at 30s (the earliest)", got)
			}
			if got := claim(t0.Add(2 * time.Minute)); got == nil || got.Incident != "INC-1" || got.Kind != "ack" {
				t.Fatalf("claimed %+v, want INC-1/ack", got)
			}
			if got := claim(t0.Add(2 * time.Minute)); got != nil {
				t.Fatalf("claimed %+v, nothing else is due", got)
			}
			// A rolled-back claim leaves the timer for the next claimer.
			boom := errors.New("boom")
			err = s.Tx(ctx, func(tx alarm.Tx) error {
				got, err := tx.ClaimTimer(t0.Add(time.Hour))
				if err != nil || got == nil {
					return fmt.Errorf("claim: %+v %v", got, err)
				}
				if err := tx.DeleteTimer(got.Incident, got.Kind); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if got := claim(t0.Add(time.Hour)); got == nil || got.Kind != "arrive" {
				t.Fatalf("after rollback claimed %+v, want INC-1/arrive", got)
			}
			if name == "postgres" {
				testSkipLocked(t, s, t0)
			}
		})
	}
}

// testSkipLocked: while one transaction holds a claimed timer, another
// claims the next one instead of waiting or taking the same.
func testSkipLocked(t *testing.T, s *SQL, t0 time.Time) {
	ctx := context.Background()
	err := s.Tx(ctx, func(tx alarm.Tx) error {
		if err := tx.SetTimer(alarm.Timer{Incident: "INC-A", Kind: "ack", DueAt: t0}); err != nil {
			return err
		}
		return tx.SetTimer(alarm.Timer{Incident: "INC-B", Kind: "ack", DueAt: t0.Add(time.Second)})
	})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(ctx, func(tx alarm.Tx) error {
			got, err := tx.ClaimTimer(t0.Add(time.Minute))
			if err != nil || got == nil || got.Incident != "INC-A" {
				close(held)
				return fmt.Errorf("first claimer got %+v %v", got, err)
			}
			close(held)
			<-release
			return tx.DeleteTimer(got.Incident, got.Kind)
		})
	}()
	<-held
	err = s.Tx(ctx, func(tx alarm.Tx) error {
		got, err := tx.ClaimTimer(t0.Add(time.Minute))
		if err != nil || got == nil || got.Incident != "INC-B" {
			return fmt.Errorf("second claimer got %+v %v, want INC-B (INC-A is held)", got, err)
		}
		return tx.DeleteTimer(got.Incident, got.Kind)
	})
	close(release)
	if err != nil {
		t.Error(err)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestTwoInstancesEscalateOnce: two alarm managers on one database act on
// the same due timers at once; each incident is escalated exactly once per
// deadline.
func TestTwoInstancesEscalateOnce(t *testing.T) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			clk := clock.NewFake(t0)
			var ms []*alarm.Manager
			for range 2 {
				m, err := alarm.NewManager(ctx, alarm.Options{Store: s, Registry: reg, Clock: clk})
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			// Ten detectors of ten homes: ten incidents, ten ack timers.
			var smoke []*devices.Device
			for _, d := range reg.Devices(contract.KindSmoke) {
				if s, _ := reg.Site(d.Site); s.Type == contract.SiteHousehold && len(smoke) < 10 && (len(smoke) == 0 || smoke[len(smoke)-1].Site != d.Site) {
					smoke = append(smoke, d)
				}
			}
			for i, d := range smoke {
				if _, err := ms[i%2].Apply(ctx, &contract.Signal{ID: fmt.Sprintf("sig-%d", i), Rule: "smoke-alarm", Action: contract.ActionRaise,
					Type: "fire", Severity: contract.SeverityCritical, Dispatchable: true, Kind: d.Kind, Device: d.ID, Site: d.Site, At: t0}); err != nil {
					t.Fatal(err)
				}
			}
			clk.Set(t0.Add(time.Minute))
			var wg sync.WaitGroup
			fired := make([]int, 2)
			for i, m := range ms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := m.FireDue(ctx)
					if err != nil {
						t.Error(err)
					}
					fired[i] = n
				}()
			}
			wg.Wait()
			if fired[0]+fired[1] != len(smoke) {
				t.Errorf("fired %v, want %d ack timers in all", fired, len(smoke))
			}
			list, err := s.List(ctx, alarm.Filter{Status: contract.StatusOpen})
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range list {
				n := 0
				for _, st := range in.Steps {
					if st.Action == contract.EventEscalated {
						n++
					}
				}
				if n != 1 || len(in.EscalatedTo) != 1 {
					t.Errorf("%s escalated %d times to %v, want once", in.ID, n, in.EscalatedTo)
				}
			}
		})
	}
}
