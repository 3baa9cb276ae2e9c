package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/alarm"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed static
var consoleFS embed.FS

// AuditStore keeps the record of access decisions (the store).
type AuditStore interface {
	Audit(ctx context.Context, e access.AuditEntry) error
	Audits(ctx context.Context, limit int) ([]access.AuditEntry, error)
}

// API serves contract-v1 HTTP: incidents, crew actions, the console stream,
// the registry, dead letters, the rules and period, CAP, reports, the
// hazards and inspection rounds, work orders from other platforms, metrics
// and the console pages.
type API struct {
	// Manager holds the incidents and takes crew actions.
	Manager  *alarm.Manager
	Registry *devices.Registry
	// Hub is the console stream, fed from the incidents topic.
	Hub *Hub
	// Auth checks log-ins; nil runs without them (every request may do
	// everything). Audit keeps access decisions; nil keeps none.
	Auth  *access.Auth
	Audit AuditStore
	// Recent holds devices' last readings for the incident view;
	// DeadLetters the newest rejected messages; Rules the rules and period
	// admin. Each may be nil: the console then shows none.
	Recent      *Recent
	DeadLetters *DeadLetters
	Rules       *RulesAdmin
	// Hazards is the hazard register and the inspection rounds; nil
	// serves none. Inbound are the work-order channels (12345) that may
	// open hazards.
	Hazards *hazard.Ledger
	Inbound []InboundChannel
	// CAP says who firegrid is in its CAP feed; zero means
	// capalert.DefaultConfig.
	CAP     capalert.Config
	Clock   clock.Clock
	Metrics http.Handler
	// Registerer takes the console's metrics (nil: none).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Heartbeat is the interval of SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// Checks are what /healthz checks, and the console's banner shows
	// while one does not hold.
	Checks []Check
	// Notifications lists the notifications kept for delivery (nil: none
	// are configured).
	Notifications interface {
		Notifications(ctx context.Context, status string, limit int) ([]contract.Notification, error)
	}

	m         *metrics
	closeOnce sync.Once
	closing   chan struct{}
}

func (a *API) now() time.Time { return a.Clock.Now() }

// Handler returns the HTTP handler.
func (a *API) Handler() http.Handler {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	if a.Clock == nil {
		a.Clock = clock.Real{}
	}
	if a.Hub == nil {
		a.Hub = NewHub(a.Clock)
	}
	a.m = newMetrics(nil)
	if a.Registerer != nil {
		a.Registerer.MustRegister(a.m.denied)
	}
	a.closeOnce.Do(func() { a.closing = make(chan struct{}) })
	if a.CAP.Sender == "" {
		a.CAP = capalert.DefaultConfig()
	}
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, a.guard(rt))
	}
	sub, _ := fs.Sub(consoleFS, "static")
	mux.Handle("GET /", http.FileServerFS(sub))
	return mux
}

// Route is one API route and who may call it.
type Route struct {
	Method, Pattern string
	// Public routes are served without a log-in; otherwise Roles lists
	// the roles that may call the route (every other is answered 403 and
	// the refusal audited).
	Public bool
	Roles  []access.Role
	h      http.HandlerFunc
}

// Who may call what: the roles of each group of routes. A new role is
// added to the groups whose routes it may call.
var (
	// signedIn: every role, for its own session.
	signedIn = access.Roles
	// operations: who sees and works incidents (a crew only its own
	// station's and those escalated to it).
	operations = []access.Role{access.RoleCrew, access.RoleCenter119, access.RoleSubdistrict}
	// viewers: who reads the territory, the rules, the period and the dead
	// letters.
	viewers = []access.Role{access.RoleCrew, access.RoleCenter119, access.RoleSubdistrict, access.RoleAdmin}
	// oversight: who reads the audit log and the reports of every
	// community.
	oversight = []access.Role{access.RoleCenter119, access.RoleSubdistrict, access.RoleAdmin}
	// control: who changes what every rules instance runs: the period
	// (an emergency period tightens every threshold) and the rules.
	control = []access.Role{access.RoleCenter119, access.RoleAdmin}

	// The people's half of the loop; each role within its scope (a
	// community its community, a grid worker its zone, a crew its
	// station's zones, a property company what is dispatched to it).
	// hazardViewers: who sees hazards and their photos.
	hazardViewers = []access.Role{access.RoleCrew, access.RoleCenter119, access.RoleSubdistrict, access.RoleGridWorker,
		access.RoleCommunity, access.RoleProperty}
	// reporters: who reports a hazard (residents through a grid worker
	// or 12345: they have no log-in).
	reporters = []access.Role{access.RoleCrew, access.RoleSubdistrict, access.RoleGridWorker, access.RoleCommunity, access.RoleProperty}
	// hazardDesk: who registers (立案), dispatches, moves a deadline,
	// closes (销号), rejects and reopens (回头看): the community, and the
	// sub-district above it.
	hazardDesk = []access.Role{access.RoleSubdistrict, access.RoleCommunity}
	// rectifiers: who records a rectification: the party it was
	// dispatched to, the grid worker who saw it done, the community.
	rectifiers = []access.Role{access.RoleSubdistrict, access.RoleGridWorker, access.RoleCommunity, access.RoleProperty}
	// verifiers: who verifies a rectification (someone other than who
	// recorded it).
	verifiers = []access.Role{access.RoleSubdistrict, access.RoleGridWorker, access.RoleCommunity}
	// handover: who hands a hazard to another authority (a sub-district
	// office to the police station).
	handover = []access.Role{access.RoleSubdistrict}
	// inspectors: who sees the rounds due and checks in.
	inspectors = []access.Role{access.RoleSubdistrict, access.RoleGridWorker, access.RoleCommunity, access.RoleProperty}
	// planners: who plans rounds: the community its zones', the
	// sub-district any.
	planners = []access.Role{access.RoleSubdistrict, access.RoleCommunity}
	// supervisors: who reads the lists and the coverage of rounds.
	supervisors = []access.Role{access.RoleCenter119, access.RoleSubdistrict, access.RoleCommunity, access.RoleGridWorker}
	// roundViewers: who reads plans and check-ins: the supervisors, and a
	// property company its own plans'.
	roundViewers = []access.Role{access.RoleCenter119, access.RoleSubdistrict, access.RoleCommunity, access.RoleGridWorker, access.RoleProperty}
	// hazardReports: who reads the hazard figures: oversight, and a
	// community its own.
	hazardReports = []access.Role{access.RoleCenter119, access.RoleSubdistrict, access.RoleAdmin, access.RoleCommunity}
)

// routes is the API: every route with who may call it.
func (a *API) routes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/login", Public: true, h: a.login},
		{Method: "GET", Pattern: "/healthz", Public: true, h: Health("", a.Checks)},
		{Method: "GET", Pattern: "/metrics", Public: true, h: a.metrics},
		{Method: "POST", Pattern: "/api/v1/logout", Roles: signedIn, h: a.logout},
		{Method: "GET", Pattern: "/api/v1/me", Roles: signedIn, h: a.me},
		{Method: "POST", Pattern: "/api/v1/password", Roles: signedIn, h: a.changePassword},
		{Method: "GET", Pattern: "/api/v1/incidents", Roles: operations, h: a.listIncidents},
		{Method: "GET", Pattern: "/api/v1/incidents/{id}", Roles: operations, h: a.getIncident},
		{Method: "GET", Pattern: "/api/v1/incidents/{id}/context", Roles: operations, h: a.incidentContext},
		{Method: "POST", Pattern: "/api/v1/incidents/{id}/ack", Roles: operations, h: a.action("ack")},
		{Method: "POST", Pattern: "/api/v1/incidents/{id}/arrive", Roles: operations, h: a.action("arrive")},
		{Method: "POST", Pattern: "/api/v1/incidents/{id}/resolve", Roles: operations, h: a.action("resolve")},
		{Method: "GET", Pattern: "/api/v1/stream", Roles: operations, h: a.stream},
		{Method: "GET", Pattern: "/api/v1/cap", Roles: operations, h: a.capFeed},
		{Method: "GET", Pattern: "/api/v1/cap/{id}", Roles: operations, h: a.capAlert},
		{Method: "GET", Pattern: "/api/v1/map", Roles: viewers, h: a.mapGeoJSON},
		{Method: "GET", Pattern: "/api/v1/devices", Roles: viewers, h: a.listDevices},
		{Method: "GET", Pattern: "/api/v1/stations", Roles: viewers, h: a.listStations},
		{Method: "GET", Pattern: "/api/v1/zones", Roles: viewers, h: a.listZones},
		{Method: "GET", Pattern: "/api/v1/registry/gaps", Roles: viewers, h: a.listGaps},
		{Method: "GET", Pattern: "/api/v1/deadletters", Roles: viewers, h: a.listDeadLetters},
		{Method: "GET", Pattern: "/api/v1/notifications", Roles: oversight, h: a.listNotifications},
		{Method: "GET", Pattern: "/api/v1/reports/stations", Roles: viewers, h: a.report("station")},
		{Method: "GET", Pattern: "/api/v1/reports/communities", Roles: oversight, h: a.report("community")},
		{Method: "GET", Pattern: "/api/v1/audit", Roles: oversight, h: a.listAudit},
		{Method: "GET", Pattern: "/api/v1/rules", Roles: viewers, h: a.listRules},
		{Method: "GET", Pattern: "/api/v1/period", Roles: viewers, h: a.getPeriod},
		{Method: "POST", Pattern: "/api/v1/rules/reload", Roles: control, h: a.reloadRules},
		{Method: "PUT", Pattern: "/api/v1/period", Roles: control, h: a.putPeriod},

		{Method: "GET", Pattern: "/api/v1/hazards", Roles: hazardViewers, h: a.listHazards},
		{Method: "POST", Pattern: "/api/v1/hazards", Roles: reporters, h: a.reportHazard},
		{Method: "GET", Pattern: "/api/v1/hazards/categories", Roles: hazardViewers, h: a.hazardCategories},
		{Method: "GET", Pattern: "/api/v1/hazards/{id}", Roles: hazardViewers, h: a.getHazard},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/register", Roles: hazardDesk, h: a.hazardStep(hazard.StepRegister)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/dispatch", Roles: hazardDesk, h: a.hazardStep(hazard.StepDispatch)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/deadline", Roles: hazardDesk, h: a.hazardStep(hazard.StepDeadline)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/rectify", Roles: rectifiers, h: a.hazardStep(hazard.StepRectify)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/verify", Roles: verifiers, h: a.hazardStep(hazard.StepVerify)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/close", Roles: hazardDesk, h: a.hazardStep(hazard.StepClose)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/reopen", Roles: hazardDesk, h: a.hazardStep(hazard.StepReopen)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/reject", Roles: hazardDesk, h: a.hazardStep(hazard.StepReject)},
		{Method: "POST", Pattern: "/api/v1/hazards/{id}/handover", Roles: handover, h: a.hazardStep(hazard.StepHandover)},
		{Method: "GET", Pattern: "/api/v1/photos/{id}", Roles: hazardViewers, h: a.getPhoto},
		{Method: "GET", Pattern: "/api/v1/sites", Roles: reporters, h: a.listSites},
		{Method: "GET", Pattern: "/api/v1/lists/{list}", Roles: supervisors, h: a.list},
		{Method: "GET", Pattern: "/api/v1/reports/hazards", Roles: hazardReports, h: a.hazardReport},
		{Method: "GET", Pattern: "/api/v1/inspections/plans", Roles: roundViewers, h: a.listPlans},
		{Method: "POST", Pattern: "/api/v1/inspections/plans", Roles: planners, h: a.savePlan},
		{Method: "GET", Pattern: "/api/v1/inspections/rounds", Roles: inspectors, h: a.listRounds},
		{Method: "POST", Pattern: "/api/v1/inspections/checkins", Roles: inspectors, h: a.checkIn},
		{Method: "GET", Pattern: "/api/v1/inspections/checkins", Roles: roundViewers, h: a.listCheckIns},
		{Method: "GET", Pattern: "/api/v1/inspections/coverage", Roles: supervisors, h: a.coverage},
		// Signed by the sending platform instead of a log-in.
		{Method: "POST", Pattern: "/api/v1/workorders/{channel}", Public: true, h: a.workOrder},
	}
}

// Routes lists the API's routes and who may call each (the console page's
// static files aside, which are public).
func (a *API) Routes() []Route { return a.routes() }

func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	if a.Metrics == nil {
		writeError(w, http.StatusNotFound, "no metrics here")
		return
	}
	a.Metrics.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	f := alarm.Filter{Station: r.URL.Query().Get("station")}
	switch s := r.URL.Query().Get("status"); s {
	case "", "open":
		f.Status = contract.StatusOpen
	case "all":
	case "resolved":
		f.Status = contract.StatusResolved
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q: want open, resolved or all", s))
		return
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: want 1..10000")
			return
		}
		f.Limit = n
	}
	p := PrincipalOf(r.Context())
	if p.Role == access.RoleCrew {
		if f.Station != "" && f.Station != p.Station {
			a.forbid(w, r, "list", "station "+f.Station, "a crew sees its own station's incidents and those escalated to it")
			return
		}
		// Escalated incidents belong to other stations: filter here.
		f.Station = ""
	}
	list, err := a.Manager.List(r.Context(), f)
	if err != nil {
		a.Log.Error("list incidents", "err", err)
		writeError(w, http.StatusInternalServerError, "could not list incidents")
		return
	}
	list = slices.DeleteFunc(list, func(in *contract.Incident) bool { return !p.Sees(in) })
	if list == nil {
		list = []*contract.Incident{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list, "count": len(list)})
}

// visibleIncident reads the incident of the request's path for a caller
// who may see it; otherwise it answers 404, 500 or 403 (recorded as the
// action refused) and returns nil.
func (a *API) visibleIncident(w http.ResponseWriter, r *http.Request, action string) *contract.Incident {
	in, err := a.Manager.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, alarm.ErrNotFound) {
		writeError(w, http.StatusNotFound, "incident "+r.PathValue("id")+" not found")
		return nil
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read incident")
		return nil
	}
	if !PrincipalOf(r.Context()).Sees(in) {
		a.forbid(w, r, action, in.ID, "incident "+in.ID+" belongs to station "+in.Station+" and was not escalated to yours")
		return nil
	}
	return in
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) {
	in := a.visibleIncident(w, r, "view")
	if in == nil {
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// ActionRequest is the body of ack, arrive and resolve.
type ActionRequest struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
	By      string `json:"by"`
}

func (a *API) action(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req ActionRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeError(w, http.StatusBadRequest, "could not read body")
			return
		}
		if len(body) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "body: "+err.Error())
				return
			}
		}
		p := PrincipalOf(r.Context())
		by := p.Username
		if a.Auth == nil {
			if by = req.By; by == "" {
				by = "console"
			}
		}
		id := r.PathValue("id")
		cur, err := a.Manager.Get(r.Context(), id)
		if errors.Is(err, alarm.ErrNotFound) {
			writeError(w, http.StatusNotFound, "incident "+id+" not found")
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "could not read incident")
			return
		}
		if !p.Sees(cur) {
			a.forbid(w, r, kind, id, "incident "+id+" belongs to station "+cur.Station+" and was not escalated to yours")
			return
		}
		var in *contract.Incident
		switch kind {
		case "ack":
			in, err = a.Manager.Ack(r.Context(), id, by, req.Note)
		case "arrive":
			in, err = a.Manager.Arrive(r.Context(), id, by, req.Note)
		case "resolve":
			if req.Outcome == "" {
				writeError(w, http.StatusBadRequest, "outcome is required: fire, false_alarm, test, nuisance, fault_fixed or other")
				return
			}
			in, err = a.Manager.Resolve(r.Context(), id, by, req.Outcome, req.Note)
		}
		var ae *alarm.ActionError
		if errors.As(err, &ae) {
			writeError(w, ae.Code, ae.Msg)
			return
		}
		if err != nil {
			a.Log.Error("incident action", "action", kind, "id", id, "err", err)
			writeError(w, http.StatusInternalServerError, "could not record the action")
			return
		}
		writeJSON(w, http.StatusOK, in)
	}
}

// stream serves incident changes as Server-Sent Events named "incident".
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	changes, cancel := a.Hub.Subscribe(256)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: {\"at\":%q}\n\n", time.Now().UTC().Format(time.RFC3339Nano))
	fl.Flush()
	hb := a.Heartbeat
	if hb <= 0 {
		hb = 15 * time.Second
	}
	tick := time.NewTicker(hb)
	defer tick.Stop()
	station := r.URL.Query().Get("station")
	p := PrincipalOf(r.Context())
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.closing:
			return // shutting down: consoles must see the stream end
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case c, ok := <-changes:
			if !ok {
				return // cut off for falling behind; the console reconnects
			}
			if (station != "" && !c.Incident.InScope(station)) || !p.Sees(c.Incident) {
				continue
			}
			b, err := json.Marshal(c)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %s-%d\nevent: incident\ndata: %s\n\n", c.Incident.ID, c.Incident.Version, b); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	var kind contract.Kind
	if k := r.URL.Query().Get("kind"); k != "" {
		var err error
		if kind, err = contract.ParseKind(k); err != nil {
			writeError(w, http.StatusBadRequest, "kind: "+err.Error())
			return
		}
	}
	list := a.Registry.Devices(kind)
	if s := r.URL.Query().Get("station"); s != "" {
		kept := list[:0:0]
		for _, d := range list {
			if d.Station() == s {
				kept = append(kept, d)
			}
		}
		list = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": list, "count": len(list)})
}

func (a *API) listStations(w http.ResponseWriter, _ *http.Request) {
	list := a.Registry.Stations()
	writeJSON(w, http.StatusOK, map[string]any{"stations": list, "count": len(list)})
}

func (a *API) listZones(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{}
	for _, l := range []devices.Level{devices.LevelGrid, devices.LevelCommunity, devices.LevelZone} {
		out[string(l)] = a.Registry.Areas(l)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) listGaps(w http.ResponseWriter, _ *http.Request) {
	g := a.Registry.Gaps()
	writeJSON(w, http.StatusOK, map[string]any{"gaps": g, "count": len(g)})
}

func (a *API) listDeadLetters(w http.ResponseWriter, _ *http.Request) {
	if a.DeadLetters == nil {
		writeJSON(w, http.StatusOK, map[string]any{"deadletters": []contract.DeadLetter{}, "total": 0})
		return
	}
	list, total := a.DeadLetters.List()
	writeJSON(w, http.StatusOK, map[string]any{"deadletters": list, "count": len(list), "total": total})
}

// listNotifications lists notifications, newest first: ?status=failed
// those given up, ?status=pending those still being tried (default every
// status), at most ?limit= (default 100, at most 1000).
func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", contract.NotificationPending, contract.NotificationDelivered, contract.NotificationFailed:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status: %q: want pending, delivered or failed", status))
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q: want 1..1000", v))
			return
		}
		limit = n
	}
	list := []contract.Notification{}
	if a.Notifications != nil {
		got, err := a.Notifications.Notifications(r.Context(), status, limit)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		list = append(list, got...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": list, "count": len(list)})
}

// CloseStreams ends every console stream; register it with
// http.Server.RegisterOnShutdown, so that a shutdown does not wait on
// streams that never end, and consoles see at once that they are cut off.
func (a *API) CloseStreams() {
	a.closeOnce.Do(func() { a.closing = make(chan struct{}) })
	select {
	case <-a.closing:
	default:
		close(a.closing)
	}
}

// Serve runs srv on ln until ctx is done, then shuts down within five
// seconds.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
