package console

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/firegrid/firegrid/access"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SessionCookie carries the session token of a console.
const SessionCookie = "firegrid_session"

type principalKey struct{}

// anonymous is everyone when no users are configured: firegrid then runs
// open, as a bench or a demo without log-ins would.
var anonymous = access.Principal{Username: "anonymous", Role: access.RoleCenter119}

// PrincipalOf returns who made a request.
func PrincipalOf(ctx context.Context) access.Principal {
	if p, ok := ctx.Value(principalKey{}).(access.Principal); ok {
		return p
	}
	return anonymous
}

// publicPath is served without a log-in: the login itself, health, metrics
// and the console's static files (the page asks for a log-in).
func publicPath(p string) bool {
	return p == "/api/v1/login" || p == "/healthz" || p == "/metrics" || !strings.HasPrefix(p, "/api/")
}

// authenticate puts the request's principal in its context, or answers
// 401. A token comes as "Authorization: Bearer" or in the session cookie;
// a cookie-borne write must be JSON, which a foreign page cannot send
// without the browser asking first (no cross-site request forgery).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Auth == nil || publicPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		token, fromCookie := "", false
		if h := r.Header.Get("Authorization"); h != "" {
			if t, ok := strings.CutPrefix(h, "Bearer "); ok {
				token = strings.TrimSpace(t)
			}
		} else if c, err := r.Cookie(SessionCookie); err == nil {
			token, fromCookie = c.Value, true
		}
		if token == "" {
			a.unauthorized(w, r, "log in first: POST /api/v1/login, then send Authorization: Bearer <token>")
			return
		}
		p, err := a.Auth.Verify(token)
		if err != nil {
			a.unauthorized(w, r, err.Error())
			return
		}
		if fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (a *API) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	a.m.denied.WithLabelValues("401").Inc()
	w.Header().Set("WWW-Authenticate", `Bearer realm="firegrid"`)
	writeError(w, http.StatusUnauthorized, msg)
}

// forbid answers 403 and records the attempt.
func (a *API) forbid(w http.ResponseWriter, r *http.Request, action, target, why string) {
	p := PrincipalOf(r.Context())
	a.m.denied.WithLabelValues("403").Inc()
	a.Log.Warn("access denied", "user", p.Username, "role", p.Role, "station", p.Station, "action", action, "target", target, "why", why)
	a.audit(r, action, target, false, why)
	writeError(w, http.StatusForbidden, why)
}

func (a *API) audit(r *http.Request, action, target string, allowed bool, detail string) {
	p := PrincipalOf(r.Context())
	e := access.AuditEntry{At: a.now(), Username: p.Username, Role: string(p.Role), Action: action, Target: target, Allowed: allowed, Detail: detail}
	// The record must not be lost because the client went away.
	if a.Audit == nil {
		return
	}
	if err := a.Audit.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		a.Log.Error("audit", "err", err)
	}
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is its answer.
type LoginResponse struct {
	Token     string           `json:"token"`
	ExpiresAt time.Time        `json:"expires_at"`
	User      access.Principal `json:"user"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	if a.Auth == nil {
		writeError(w, http.StatusNotFound, "no users are configured: firegrid runs without log-ins")
		return
	}
	var req LoginRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"username\": ..., \"password\": ...}: "+err.Error())
		return
	}
	token, p, exp, err := a.Auth.Login(req.Username, req.Password)
	if errors.Is(err, access.ErrBadLogin) {
		a.m.denied.WithLabelValues("401").Inc()
		ctx := context.WithValue(r.Context(), principalKey{}, access.Principal{Username: req.Username})
		a.audit(r.WithContext(ctx), "login", req.Username, false, "wrong username or password")
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not log in")
		return
	}
	a.audit(r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), "login", p.Username, true, "")
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Expires: exp, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: exp, User: p})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"user": PrincipalOf(r.Context()), "auth": a.Auth != nil})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	p := PrincipalOf(r.Context())
	if p.Role == access.RoleCrew {
		a.forbid(w, r, "audit", "audit", "the audit log is for the 119 centre and the sub-district")
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	var list []access.AuditEntry
	var err error
	if a.Audit != nil {
		list, err = a.Audit.Audits(r.Context(), limit)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read the audit log")
		return
	}
	if list == nil {
		list = []access.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": list, "count": len(list)})
}
