package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/rules"
)

// RulesStore keeps the rules in force and the period override (the
// store): every rules instance reads them there.
type RulesStore interface {
	rules.Settings
	SaveRules(ctx context.Context, name string, content []byte, by string) (int, error)
	SetPeriod(ctx context.Context, o *contract.PeriodOverride) error
}

// RulesAdmin changes the rules and the period for every rules instance:
// it checks the change, keeps it in the store, and announces it on the
// control topic, which each instance reads in a group of its own (an
// instance that misses the announcement finds the change in the store
// when it starts, or at its next announcement).
//
//	GET  /api/v1/rules          the rules in force
//	POST /api/v1/rules/reload   read the rules file again (as SIGHUP does)
//	GET  /api/v1/period         the period in force and why
//	PUT  /api/v1/period         {"period": "emergency", "until": "...", "reason": "..."};
//	                            "period": "" hands back to the calendar
type RulesAdmin struct {
	Store RulesStore
	// Control takes the announcements: the bus.
	Control contract.Publisher
	// Read reads the rules file: its name and content (the configured
	// file, or the embedded one).
	Read func() (name string, content []byte, err error)

	mu sync.Mutex
}

// ReloadError is a rules file refused on reload; the rules in force keep
// running. Errors has one line per problem: file, line, rule and field.
type ReloadError struct {
	Errors []string
}

func (e *ReloadError) Error() string {
	return "rules file refused, the rules in force keep running:\n" + strings.Join(e.Errors, "\n")
}

// Reload reads the rules file, checks it, keeps it as the rules in force
// and announces it; it returns the version in force. A file with errors is
// refused with a *ReloadError and changes nothing.
func (ra *RulesAdmin) Reload(ctx context.Context, by string) (int, *rules.Config, error) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	name, content, err := ra.Read()
	if err != nil {
		return 0, nil, &ReloadError{Errors: []string{err.Error()}}
	}
	cfg, err := rules.Parse(name, content)
	if err != nil {
		return 0, nil, &ReloadError{Errors: strings.Split(err.Error(), "\n")}
	}
	v, err := ra.Store.SaveRules(ctx, name, content, by)
	if err != nil {
		return 0, nil, err
	}
	return v, cfg, ra.announce(ctx, contract.ControlRules, v, by)
}

// Current returns the rules in force and their version.
func (ra *RulesAdmin) Current(ctx context.Context) (int, *rules.Config, error) {
	v, name, content, err := ra.Store.Rules(ctx)
	if err != nil {
		return 0, nil, err
	}
	if v == 0 {
		return 0, nil, errors.New("no rules are kept yet")
	}
	cfg, err := rules.Parse(name, content)
	return v, cfg, err
}

// SetPeriod checks and keeps a period override (nil or an empty period
// hands back to the calendar) and announces it.
func (ra *RulesAdmin) SetPeriod(ctx context.Context, o *contract.PeriodOverride, now time.Time) error {
	if err := rules.CheckOverride(o, now); err != nil {
		return err
	}
	if o != nil && o.Period == "" {
		o = nil
	}
	if err := ra.Store.SetPeriod(ctx, o); err != nil {
		return err
	}
	by := ""
	if o != nil {
		by = o.By
	}
	return ra.announce(ctx, contract.ControlPeriod, 0, by)
}

// Period returns the period in force at now and why.
func (ra *RulesAdmin) Period(ctx context.Context, now time.Time) (rules.PeriodStatus, error) {
	_, cfg, err := ra.Current(ctx)
	if err != nil {
		return rules.PeriodStatus{}, err
	}
	o, err := ra.Store.Period(ctx)
	if err != nil {
		return rules.PeriodStatus{}, err
	}
	return rules.PeriodIn(cfg, o, now), nil
}

func (ra *RulesAdmin) announce(ctx context.Context, what string, version int, by string) error {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	c := &contract.Control{ID: hex.EncodeToString(id), At: time.Now(), What: what, RulesVersion: version, By: by}
	if err := ra.Control.Publish(ctx, c.Record()); err != nil {
		return fmt.Errorf("announce the change: %w (it is kept; rules instances find it when they start)", err)
	}
	return nil
}

type ruleSummary struct {
	ID       string            `json:"id"`
	Type     rules.RuleType    `json:"type"`
	Incident string            `json:"incident"`
	Severity contract.Severity `json:"severity"`
}

func (a *API) rulesAdmin(w http.ResponseWriter) *RulesAdmin {
	if a.Rules == nil {
		writeError(w, http.StatusNotFound, "no rules admin here")
	}
	return a.Rules
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) {
	ra := a.rulesAdmin(w)
	if ra == nil {
		return
	}
	v, cfg, err := ra.Current(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read the rules in force: "+err.Error())
		return
	}
	out := make([]ruleSummary, 0, len(cfg.Rules))
	for _, x := range cfg.Rules {
		out = append(out, ruleSummary{ID: x.ID, Type: x.Type, Incident: x.Incident, Severity: x.Severity})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out, "count": len(out), "file": cfg.Name(), "version": v})
}

func (a *API) reloadRules(w http.ResponseWriter, r *http.Request) {
	ra := a.rulesAdmin(w)
	if ra == nil {
		return
	}
	v, cfg, err := ra.Reload(r.Context(), PrincipalOf(r.Context()).Username)
	var re *ReloadError
	if errors.As(err, &re) {
		a.Log.Warn("rules reload refused", "errors", re.Errors)
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "rules file refused; the rules in force keep running", "errors": re.Errors})
		return
	}
	if err != nil {
		a.Log.Error("rules reload", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.Log.Info("rules reloaded", "version", v, "rules", len(cfg.Rules), "by", PrincipalOf(r.Context()).Username)
	writeJSON(w, http.StatusOK, map[string]any{"version": v, "rules": len(cfg.Rules), "file": cfg.Name()})
}

func (a *API) getPeriod(w http.ResponseWriter, r *http.Request) {
	ra := a.rulesAdmin(w)
	if ra == nil {
		return
	}
	st, err := ra.Period(r.Context(), a.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read the period: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// PeriodRequest is the body of PUT /api/v1/period.
type PeriodRequest struct {
	Period contract.Period `json:"period"`
	Until  time.Time       `json:"until,omitzero"`
	Reason string          `json:"reason"`
}

func (a *API) putPeriod(w http.ResponseWriter, r *http.Request) {
	ra := a.rulesAdmin(w)
	if ra == nil {
		return
	}
	var req PeriodRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	now := a.now()
	o := &contract.PeriodOverride{Period: req.Period, Until: req.Until, Reason: req.Reason, By: PrincipalOf(r.Context()).Username, SetAt: now}
	if err := ra.SetPeriod(r.Context(), o, now); err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+" (want one of "+rules.PeriodList()+", or \"\" for the calendar)")
		return
	}
	a.Log.Info("period set", "period", req.Period, "until", req.Until, "reason", req.Reason, "by", o.By)
	st, err := ra.Period(r.Context(), now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}
