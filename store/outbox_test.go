package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/contract"
)

func change(id string, version int) contract.Record {
	c := &contract.IncidentChange{Event: "updated", At: time.UnixMilli(1795420800000).UTC(),
		Incident: &contract.Incident{ID: id, Version: version, Type: "fire"}}
	return c.Record()
}

// TestOutboxRelaysInOrderOnce: records emitted in committed transactions
// leave the outbox in the order they were put in, decoded to their
// contract values; a transaction that fails leaves nothing; a publish that
// fails keeps them; two relays at once publish each record once.
func TestOutboxRelaysInOrderOnce(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			emit := func(recs ...contract.Record) error {
				return st.Tx(ctx, func(tx alarm.Tx) error { return tx.Emit(recs...) })
			}
			for v := 1; v <= 5; v++ {
				if err := emit(change("INC-1", v), (&contract.Command{Kind: contract.KindCharger, Device: "CH-1", Cmd: "port_off", Port: v}).Record()); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Tx(ctx, func(tx alarm.Tx) error {
				if err := tx.Emit(change("INC-rolled-back", 1)); err != nil {
					return err
				}
				return errors.New("the change failed")
			}); err == nil {
				t.Fatal("a failing transaction committed")
			}
			if _, err := st.RelayOutbox(ctx, 100, func([]contract.Record) error { return errors.New("kafka down") }); err == nil {
				t.Fatal("a failed publish was not reported")
			}
			if n, _ := st.OutboxLen(ctx); n != 10 {
				t.Fatalf("%d records wait after a failed publish, want 10", n)
			}
			var got []contract.Record
			for {
				n, err := st.RelayOutbox(ctx, 3, func(recs []contract.Record) error { got = append(got, recs...); return nil })
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			if len(got) != 10 {
				t.Fatalf("relayed %d records, want 10", len(got))
			}
			for i, r := range got {
				v := i/2 + 1
				switch x := r.Value.(type) {
				case *contract.IncidentChange:
					if i%2 != 0 || x.Incident.ID != "INC-1" || x.Incident.Version != v || r.Key != "INC-1" || r.Topic != contract.TopicIncidents {
						t.Errorf("record %d: %s %s v%d", i, r.Topic, r.Key, x.Incident.Version)
					}
				case *contract.Command:
					if i%2 != 1 || x.Port != v || r.Key != "CH-1" || x.Kind != contract.KindCharger {
						t.Errorf("record %d: command %+v", i, x)
					}
				default:
					t.Errorf("record %d holds %T", i, r.Value)
				}
			}
			if n, _ := st.OutboxLen(ctx); n != 0 {
				t.Errorf("%d records left in the outbox", n)
			}
			if name != "postgres" {
				return
			}
			// Two relays at once, as two alarm instances run them.
			for v := 1; v <= 200; v++ {
				if err := emit(change(fmt.Sprint("INC-", v%7), v)); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var all []int
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for idle := 0; idle < 20; {
						n, err := st.RelayOutbox(ctx, 7, func(recs []contract.Record) error {
							mu.Lock()
							defer mu.Unlock()
							for _, r := range recs {
								all = append(all, r.Value.(*contract.IncidentChange).Incident.Version)
							}
							return nil
						})
						if err != nil {
							t.Error(err)
							return
						}
						if n == 0 {
							idle++
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			if len(all) != 200 {
				t.Fatalf("two relays published %d records, want 200 (each once)", len(all))
			}
			for i, v := range all {
				if v != i+1 {
					t.Fatalf("record %d is version %d: out of order", i, v)
				}
			}
		})
	}
}

// TestRulesVersionsAndPeriod: a reload keeps a new version unless it is
// the newest; an import at start keeps only a file no version holds; the
// period override is kept and handed back to the calendar.
func TestRulesVersionsAndPeriod(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			if v, _, _, err := st.Rules(ctx); err != nil || v != 0 {
				t.Fatalf("empty store: version %d %v", v, err)
			}
			steps := []struct {
				save    func(context.Context, string, []byte, string) (int, error)
				content string
				want    int
			}{
				{st.ImportRules, "a", 1}, {st.ImportRules, "a", 1}, {st.SaveRules, "b", 2}, {st.SaveRules, "b", 2},
				{st.ImportRules, "a", 2}, // a stale copy at start
				{st.SaveRules, "a", 3},   // a reload back to it
				{st.ImportRules, "c", 4}, // an edited file at start
			}
			for i, s := range steps {
				v, err := s.save(ctx, "rules.yaml", []byte(s.content), "test")
				if err != nil || v != s.want {
					t.Fatalf("step %d (%s): version %d %v, want %d", i, s.content, v, err, s.want)
				}
			}
			if v, n, b, err := st.Rules(ctx); err != nil || v != 4 || n != "rules.yaml" || string(b) != "c" {
				t.Errorf("in force: %d %s %q %v", v, n, b, err)
			}
			if o, err := st.Period(ctx); err != nil || o != nil {
				t.Fatalf("no override yet: %v %v", o, err)
			}
			set := &contract.PeriodOverride{Period: contract.PeriodEmergency, Reason: "typhoon", By: "center119", SetAt: time.UnixMilli(1795420800000).UTC()}
			if err := st.SetPeriod(ctx, set); err != nil {
				t.Fatal(err)
			}
			if o, err := st.Period(ctx); err != nil || o == nil || *o != *set {
				t.Errorf("override %+v %v, want %+v", o, err, set)
			}
			if err := st.SetPeriod(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if o, err := st.Period(ctx); err != nil || o != nil {
				t.Errorf("after handing back to the calendar: %+v %v", o, err)
			}
		})
	}
}
