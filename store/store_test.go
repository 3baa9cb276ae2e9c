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

func incident(id, site, typ string, opened time.Time) *alarm.Incident {
	return &alarm.Incident{ID: id, Type: typ, Severity: "critical", Status: alarm.StatusOpen, Stage: alarm.StageNew,
		Site: site, Station: "MFS-1", Community: "C-1", Devices: []string{"SD-1"}, OpenedAt: opened, UpdatedAt: opened, Version: 1}
}

func save(t *testing.T, s *SQL, in *alarm.Incident, signals ...string) {
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
			list, err := s.List(ctx, alarm.Filter{Status: alarm.StatusOpen})
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
				in.Status = alarm.StatusResolved
				in.Version++
				return tx.Save(in)
			})
			if err != nil {
				t.Fatal(err)
			}
			if l, _ := s.List(ctx, alarm.Filter{Status: alarm.StatusResolved}); len(l) != 1 || l[0].ID != "INC-1" {
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
