package rules

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/firegrid/firegrid/internal/clock"
)

// Admin serves the rule engine's part of the HTTP API: the rules in force,
// their reload, and the period.
//
//	GET  /api/v1/rules          the rules in force and the engine's gauges
//	POST /api/v1/rules/reload   read the rules file again (as SIGHUP does)
//	GET  /api/v1/period         the period in force and why
//	PUT  /api/v1/period         {"period": "emergency", "until": "...", "reason": "..."};
//	                            "period": "" hands back to the calendar
type Admin struct {
	Engine *Engine
	// Load reads and validates the rules file.
	Load  func() (*Config, error)
	Clock clock.Clock
	Log   *slog.Logger

	mu sync.Mutex
}

// Register adds the endpoints to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/rules", a.list)
	mux.HandleFunc("POST /api/v1/rules/reload", a.reload)
	mux.HandleFunc("GET /api/v1/period", a.getPeriod)
	mux.HandleFunc("PUT /api/v1/period", a.putPeriod)
}

// ReloadError is a rules file refused on reload; the rules in force keep
// running. Errors has one line per problem: file, line, rule and field.
type ReloadError struct {
	Errors []string
}

func (e *ReloadError) Error() string {
	return "rules file refused, the rules in force keep running:\n" + strings.Join(e.Errors, "\n")
}

// Reload reads the rules file and swaps it in, keeping the state of
// unchanged rules. A file with errors is refused with a *ReloadError.
func (a *Admin) Reload() (ReloadReport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, err := a.Load()
	if err != nil {
		return ReloadReport{}, &ReloadError{Errors: strings.Split(err.Error(), "\n")}
	}
	rep := a.Engine.Reload(cfg)
	a.log().Info("rules reloaded", "rules", rep.Rules, "added", rep.Added, "changed", rep.Changed, "removed", rep.Removed)
	return rep, nil
}

func (a *Admin) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Admin) now() time.Time {
	if a.Clock == nil {
		return time.Now()
	}
	return a.Clock.Now()
}

type ruleSummary struct {
	ID       string   `json:"id"`
	Type     RuleType `json:"type"`
	Incident string   `json:"incident"`
	Severity Severity `json:"severity"`
}

func (a *Admin) list(w http.ResponseWriter, _ *http.Request) {
	cfg := a.Engine.Config()
	out := make([]ruleSummary, 0, len(cfg.Rules))
	for _, r := range cfg.Rules {
		out = append(out, ruleSummary{ID: r.ID, Type: r.Type, Incident: r.Incident, Severity: r.Severity})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out, "count": len(out), "file": cfg.name, "stats": a.Engine.Stats()})
}

func (a *Admin) reload(w http.ResponseWriter, _ *http.Request) {
	rep, err := a.Reload()
	var re *ReloadError
	if errors.As(err, &re) {
		a.log().Warn("rules reload refused", "errors", re.Errors)
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "rules file refused; the rules in force keep running", "errors": re.Errors})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *Admin) getPeriod(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.Engine.Period(a.now()))
}

// PeriodRequest is the body of PUT /api/v1/period.
type PeriodRequest struct {
	Period Period    `json:"period"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason"`
}

func (a *Admin) putPeriod(w http.ResponseWriter, r *http.Request) {
	var req PeriodRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	st, err := a.Engine.SetPeriod(req.Period, req.Until, req.Reason, a.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error() + " (want one of " + periodList() + ", or \"\" for the calendar)"})
		return
	}
	a.log().Info("period set", "period", st.Period, "source", st.Source, "until", req.Until, "reason", req.Reason)
	writeJSON(w, http.StatusOK, st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
