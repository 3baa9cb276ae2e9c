package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
)

// ledger returns the hazard register, or answers 404 when this process
// keeps none.
func (a *API) ledger(w http.ResponseWriter) *hazard.Ledger {
	if a.Hazards == nil {
		writeError(w, http.StatusNotFound, "hazards are not kept here")
	}
	return a.Hazards
}

// hazardError answers a refusal of the hazard register with its code.
func (a *API) hazardError(w http.ResponseWriter, what string, err error) {
	var he *hazard.Error
	switch {
	case errors.As(err, &he):
		writeError(w, he.Code, he.Msg)
	case errors.Is(err, hazard.ErrNotFound):
		writeError(w, http.StatusNotFound, what+" not found")
	default:
		a.Log.Error(what, "err", err)
		writeError(w, http.StatusInternalServerError, "could not "+what)
	}
}

// bodyLimit is the largest body a request with photos may have: the
// photos base64-encoded, and room for the rest.
func (a *API) bodyLimit() int64 {
	lim := int64(64 << 10)
	if a.Hazards != nil {
		p := a.Hazards.Config().Photos
		lim += int64(p.MaxPerStep) * int64(p.MaxBytes) * 4 / 3
	}
	return lim
}

// decodeBody reads a request's JSON body into v, photos included as
// base64. A client with a bearer token may send multipart/form-data
// instead: a part "body" of JSON and a file part "photo" per photo (what
// curl -F sends); those photos are appended to *photos.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any, photos *[]hazard.Upload) bool {
	r.Body = http.MaxBytesReader(w, r.Body, a.bodyLimit())
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body []byte
	if mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil || params["boundary"] == "" {
			writeError(w, http.StatusBadRequest, "multipart body: "+fmt.Sprint(err))
			return false
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeError(w, tooLarge(err, http.StatusBadRequest), "multipart body: "+err.Error())
				return false
			}
			data, err := io.ReadAll(part)
			if err != nil {
				writeError(w, tooLarge(err, http.StatusBadRequest), "multipart body: "+err.Error())
				return false
			}
			switch part.FormName() {
			case "body", "hazard", "checkin", "order":
				body = data
			case "photo", "photos":
				*photos = append(*photos, hazard.Upload{Name: path.Base(part.FileName()), Data: data})
			default:
				writeError(w, http.StatusBadRequest, fmt.Sprintf("multipart part %q: want body (JSON) and photo files", part.FormName()))
				return false
			}
		}
	} else {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			writeError(w, tooLarge(err, http.StatusBadRequest), "could not read body: "+err.Error())
			return false
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

// tooLarge is 413 for a body over the limit, code otherwise.
func tooLarge(err error, code int) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return code
}

// actor is who takes a step: the session's user, or without log-ins the
// body's "by".
func (a *API) actor(r *http.Request, by string) (string, string) {
	p := PrincipalOf(r.Context())
	if a.Auth == nil {
		if by == "" {
			by = "console"
		}
		return by, string(p.Role)
	}
	return p.Username, string(p.Role)
}

// scopeFilter narrows a hazard filter to what the caller sees; a filter
// that asks for another scope is refused (false, answered 403).
func (a *API) scopeFilter(w http.ResponseWriter, r *http.Request, f *hazard.Filter) bool {
	p := PrincipalOf(r.Context())
	narrow := func(field *string, own, what string) bool {
		if *field != "" && *field != own {
			a.forbid(w, r, "list hazards", what+" "+*field, fmt.Sprintf("the %s role sees its own %s's hazards (%s)", p.Role, what, own))
			return false
		}
		*field = own
		return true
	}
	switch p.Role {
	case access.RoleCommunity:
		return narrow(&f.Community, p.Area, "community")
	case access.RoleGridWorker:
		return narrow(&f.Zone, p.Area, "zone")
	case access.RoleCrew:
		return narrow(&f.Station, p.Station, "station")
	case access.RoleProperty:
		return narrow(&f.Org, p.Org, "organisation")
	}
	return true
}

func (a *API) listHazards(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	q := r.URL.Query()
	f := hazard.Filter{Status: q.Get("status"), Category: q.Get("category"), Zone: q.Get("zone"), Community: q.Get("community"),
		Source: q.Get("source"), Org: q.Get("org")}
	switch f.Status {
	case "":
		f.Status = "open"
	case "all":
		f.Status = ""
	case "open":
	default:
		if !slices.Contains(contract.HazardStatuses, contract.HazardStatus(f.Status)) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q: want open, all or one of %v", f.Status, contract.HazardStatuses))
			return
		}
	}
	switch q.Get("overdue") {
	case "", "false", "0":
	case "true", "1":
		f.OverdueAt = a.now()
	default:
		writeError(w, http.StatusBadRequest, "overdue: want true or false")
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: want 1..10000")
			return
		}
		f.Limit = n
	}
	if !a.scopeFilter(w, r, &f) {
		return
	}
	list, err := l.List(r.Context(), f)
	if err != nil {
		a.hazardError(w, "list hazards", err)
		return
	}
	p := PrincipalOf(r.Context())
	list = slices.DeleteFunc(list, func(h *contract.Hazard) bool { return !p.SeesHazard(h) })
	writeJSON(w, http.StatusOK, map[string]any{"hazards": list, "count": len(list)})
}

// visibleHazard reads the hazard of the request's path for a caller who
// may see it; otherwise it answers 404, 500 or 403 (audited) and returns
// nil.
func (a *API) visibleHazard(w http.ResponseWriter, r *http.Request, action string) *contract.Hazard {
	l := a.ledger(w)
	if l == nil {
		return nil
	}
	id := r.PathValue("id")
	h, err := l.Get(r.Context(), id)
	if err != nil {
		a.hazardError(w, "hazard "+id, err)
		return nil
	}
	if p := PrincipalOf(r.Context()); !p.SeesHazard(h) {
		a.forbid(w, r, action, h.ID, fmt.Sprintf("hazard %s is not in the scope of the %s role here (zone %s, community %s)", h.ID, p.Role, h.Zone, h.Community))
		return nil
	}
	return h
}

func (a *API) getHazard(w http.ResponseWriter, r *http.Request) {
	if h := a.visibleHazard(w, r, "view hazard"); h != nil {
		writeJSON(w, http.StatusOK, h)
	}
}

// reportBody is the body of POST /api/v1/hazards.
type reportBody struct {
	hazard.Report
	By string `json:"by,omitempty"`
}

func (a *API) reportHazard(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	var req reportBody
	if !a.decodeBody(w, r, &req, &req.Photos) {
		return
	}
	rep := req.Report
	if rep.Source != "" && rep.Source != contract.SourceGridWorker && rep.Source != contract.SourceResident {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("source %q: a person reports as grid_worker or resident (through a grid worker); "+
			"12345 orders come in on /api/v1/workorders, inspections on /api/v1/inspections/checkins", rep.Source))
		return
	}
	rep.By, rep.Role = a.actor(r, req.By)
	h, created, err := l.Report(r.Context(), rep)
	if err != nil {
		a.hazardError(w, "report the hazard", err)
		return
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusOK
	}
	w.Header().Set("Location", "/api/v1/hazards/"+h.ID)
	writeJSON(w, code, h)
}

// stepBody is the body of a step.
type stepBody struct {
	hazard.Step
	By string `json:"by,omitempty"`
}

// hazardStep serves POST /api/v1/hazards/{id}/{step}.
func (a *API) hazardStep(step string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := a.ledger(w)
		if l == nil {
			return
		}
		var req stepBody
		if !a.decodeBody(w, r, &req, &req.Photos) {
			return
		}
		if a.visibleHazard(w, r, step) == nil {
			return
		}
		s := req.Step
		s.By, s.Role = a.actor(r, req.By)
		h, err := l.Act(r.Context(), r.PathValue("id"), step, s)
		if err != nil {
			a.hazardError(w, step+" the hazard", err)
			return
		}
		writeJSON(w, http.StatusOK, h)
	}
}

// hazardCategories serves what a report form offers: the categories, who
// may be made responsible, the photo limits.
func (a *API) hazardCategories(w http.ResponseWriter, _ *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	cfg := l.Config()
	writeJSON(w, http.StatusOK, map[string]any{"categories": cfg.Categories, "responsible_kinds": contract.ResponsibleKinds,
		"sources": []string{contract.SourceGridWorker, contract.SourceResident}, "photos": map[string]any{
			"max_bytes": cfg.Photos.MaxBytes, "max_per_step": cfg.Photos.MaxPerStep, "types": cfg.Photos.Types}})
}

// getPhoto serves a hazard's photo to whoever sees the hazard, with the
// type its bytes had and nothing a browser could run.
func (a *API) getPhoto(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	ph, err := l.Photo(r.Context(), r.PathValue("id"))
	if err != nil {
		a.hazardError(w, "photo "+r.PathValue("id"), err)
		return
	}
	h, err := l.Get(r.Context(), ph.Hazard)
	if err != nil {
		a.hazardError(w, "hazard "+ph.Hazard, err)
		return
	}
	if p := PrincipalOf(r.Context()); !p.SeesHazard(h) {
		a.forbid(w, r, "view photo", ph.ID, "the photo's hazard "+h.ID+" is not in the scope of the "+string(p.Role)+" role here")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ph.ContentType)
	hd.Set("Content-Length", strconv.Itoa(len(ph.Data)))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "private, max-age=86400, immutable")
	ext := strings.TrimPrefix(ph.ContentType, "image/")
	hd.Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", ph.ID+"."+ext))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ph.Data)
}

func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// decodeStrict decodes JSON into v; an unknown field is an error.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// SiteRef is a site as a report form offers it: where, not who lives
// there.
type SiteRef struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      contract.SiteType `json:"type"`
	Address   string            `json:"address,omitempty"`
	Zone      string            `json:"zone"`
	Community string            `json:"community"`
}

// listSites serves GET /api/v1/sites?zone=&q=&limit=: the sites a caller
// may report at, for the report form (a grid worker its zone's, a
// community its own, a crew its station's); q matches id, name or
// address.
func (a *API) listSites(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := PrincipalOf(r.Context())
	zone, text := q.Get("zone"), strings.ToLower(q.Get("q"))
	limit := 200
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 5000 {
			writeError(w, http.StatusBadRequest, "limit: want 1..5000")
			return
		}
		limit = n
	}
	out := []SiteRef{}
	for _, s := range a.Registry.Sites() {
		switch {
		case zone != "" && s.Zone != zone,
			p.Role == access.RoleGridWorker && s.Zone != p.Area,
			p.Role == access.RoleCommunity && s.Community != p.Area,
			p.Role == access.RoleCrew && s.Station != p.Station:
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(s.ID+" "+s.Name+" "+s.Address), text) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, SiteRef{ID: s.ID, Name: s.Name, Type: s.Type, Address: s.Address, Zone: s.Zone, Community: s.Community})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": out, "count": len(out)})
}
