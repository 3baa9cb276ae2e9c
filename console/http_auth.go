package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/access"
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

// tokenOf returns the request's session token: "Authorization: Bearer",
// or the console's session cookie.
func tokenOf(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), false
		}
		return "", false
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value, true
	}
	return "", false
}

// guard serves a route to the callers it allows: a public route to
// anyone; otherwise the request's principal (from its token, or
// anonymous when no users are configured) must have one of the route's
// roles, else 403, recorded. A token comes as "Authorization: Bearer" or
// in the session cookie; a cookie-borne write must be JSON, which a
// foreign page cannot send without the browser asking first (no
// cross-site request forgery).
func (a *API) guard(rt Route) http.Handler {
	action := rt.Method + " " + rt.Pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Public {
			rt.h(w, r)
			return
		}
		p := anonymous
		if a.Auth != nil {
			token, fromCookie := tokenOf(r)
			if token == "" {
				a.unauthorized(w, r, "log in first: POST /api/v1/login, then send Authorization: Bearer <token>")
				return
			}
			var err error
			if p, err = a.Auth.Verify(r.Context(), token); err != nil {
				a.unauthorized(w, r, err.Error())
				return
			}
			if fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead {
				if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
					writeError(w, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
					return
				}
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		// Without users the API is open: anyone may do anything.
		if a.Auth != nil && !slices.Contains(rt.Roles, p.Role) {
			a.forbid(w, r, action, r.URL.Path, fmt.Sprintf("the role %s may not call %s", p.Role, action))
			return
		}
		rt.h(w, r)
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

// clientAddr is the address a request came from, for counting failed
// log-ins (the connection's: a proxy in front makes every console one
// address).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auditLogin records a log-in attempt. A user name that is nobody's is
// not recorded: it may be a password typed into the wrong field.
func (a *API) auditLogin(r *http.Request, action, username string, p access.Principal, allowed bool, detail string) {
	if p.Username == "" {
		if a.Auth.Known(username) {
			p = access.Principal{Username: username}
		} else {
			p = access.Principal{Username: "(unknown user name)"}
			username = "(unknown user name)"
		}
	}
	a.audit(r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), action, username, allowed, detail)
}

// throttled answers 429 with Retry-After in whole seconds.
func (a *API) throttled(w http.ResponseWriter, te *access.ThrottledError) {
	a.m.denied.WithLabelValues("429").Inc()
	secs := int((te.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, te.Error())
}

func (a *API) setSession(w http.ResponseWriter, r *http.Request, token string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Expires: exp, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
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
		writeError(w, http.StatusBadRequest, "body: want {\"username\": ..., \"password\": ...}")
		return
	}
	token, p, exp, err := a.Auth.Login(r.Context(), req.Username, req.Password, clientAddr(r))
	var te *access.ThrottledError
	switch {
	case errors.As(err, &te):
		a.auditLogin(r, "login", req.Username, access.Principal{}, false, "throttled: too many failed log-ins from this user name or address")
		a.throttled(w, te)
		return
	case errors.Is(err, access.ErrBadLogin):
		a.m.denied.WithLabelValues("401").Inc()
		a.auditLogin(r, "login", req.Username, access.Principal{}, false, "wrong username or password")
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		a.Log.Error("log-in", "err", err)
		writeError(w, http.StatusInternalServerError, "could not log in")
		return
	}
	a.auditLogin(r, "login", p.Username, p, true, "")
	a.setSession(w, r, token, exp)
	writeJSON(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: exp, User: p})
}

// logout ends the request's session on every alarm instance (within a
// second) and clears the console's cookie.
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if a.Auth != nil {
		token, _ := tokenOf(r)
		if err := a.Auth.Logout(r.Context(), token); err != nil {
			a.Log.Error("log-out", "err", err)
			writeError(w, http.StatusInternalServerError, "could not end the session; it is still valid")
			return
		}
		a.audit(r, "logout", PrincipalOf(r.Context()).Username, true, "")
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// PasswordRequest is the body of POST /api/v1/password.
type PasswordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// changePassword sets the caller's password (users kept in the store)
// and answers a new session; every other session of the user ends on
// every alarm instance.
func (a *API) changePassword(w http.ResponseWriter, r *http.Request) {
	if a.Auth == nil {
		writeError(w, http.StatusNotFound, "no users are configured: firegrid runs without log-ins")
		return
	}
	var req PasswordRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"current\": ..., \"new\": ...}")
		return
	}
	p := PrincipalOf(r.Context())
	token, p2, exp, err := a.Auth.ChangePassword(r.Context(), p.Username, req.Current, req.New, clientAddr(r))
	var te *access.ThrottledError
	switch {
	case err == nil:
		a.audit(r, "password", p.Username, true, "password changed; every other session ended")
		a.setSession(w, r, token, exp)
		writeJSON(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: exp, User: p2})
	case errors.As(err, &te):
		a.audit(r, "password", p.Username, false, "throttled")
		a.throttled(w, te)
	case errors.Is(err, access.ErrUsersReadOnly):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, access.ErrBadLogin):
		a.audit(r, "password", p.Username, false, "wrong current password")
		writeError(w, http.StatusBadRequest, "the current password is wrong")
	default:
		a.audit(r, "password", p.Username, false, "new password refused")
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"user": PrincipalOf(r.Context()), "auth": a.Auth != nil})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
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
