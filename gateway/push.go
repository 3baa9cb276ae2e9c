package gateway

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// The paths of the push endpoints.
const (
	CTWingPath = "/push/ctwing"
	OneNETPath = "/push/onenet"
)

// Push serves the carrier platforms' HTTP pushes on a listener of its
// own. A push is answered 200 as soon as ingest has it (the pipeline
// keeps it; rules and incidents follow), 503 when ingest could not take
// it in time (the platform retries), and 401 or 403 when its sender is
// not the configured platform (counted, nothing kept):
//
//   - POST /push/ctwing?token=T: CTWing's subscription push. CTWing signs
//     nothing: the token in the subscription's URL must match, and the
//     push must come from a configured network.
//   - GET /push/onenet?msg=M&nonce=N&signature=S: OneNET's verification
//     of the URL; answered with M when S is base64(md5(token + N + M)).
//   - POST /push/onenet: a push, {"msg": ..., "nonce": N,
//     "msg_signature": base64(md5(token + N + msg))}.
type Push struct {
	cfg      PushConfig
	o        Options
	ln       net.Listener
	srv      *http.Server
	ctwToken string
	oneToken string
	ctwFrom  []netip.Prefix
	oneFrom  []netip.Prefix
	pushes   *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// NewPush returns the endpoints serving on ln (bound by the caller); Run
// serves them. The tokens are read from the environment now.
func NewPush(ln net.Listener, cfg PushConfig, o Options) (*Push, error) {
	o.defaults()
	if o.Accept == nil {
		return nil, errors.New("push: Accept is required")
	}
	p := &Push{cfg: cfg, o: o, ln: ln,
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_push_received_total",
			Help: "Carrier platforms' pushes taken, by platform and result: kept (answered 200), not_kept (answered 503, the platform retries).",
		}, []string{"platform", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_push_refused_total",
			Help: "Pushes refused because their sender is not the configured platform or the request is not a push, by platform and reason: network, token, signature, method, body.",
		}, []string{"platform", "reason"}),
	}
	var err error
	for _, pl := range []struct {
		name  string
		env   string
		token *string
		from  []string
		nets  *[]netip.Prefix
	}{{contract.SourceCTWing, cfg.CTWing.TokenEnv, &p.ctwToken, cfg.CTWing.From, &p.ctwFrom},
		{contract.SourceOneNET, cfg.OneNET.TokenEnv, &p.oneToken, cfg.OneNET.From, &p.oneFrom}} {
		if pl.env == "" {
			continue
		}
		tok, ok := os.LookupEnv(pl.env)
		if !ok || tok == "" {
			return nil, fmt.Errorf("push.%s.token_env: %s is not set", pl.name, pl.env)
		}
		*pl.token = tok
		if *pl.nets, err = parseNets(pl.from); err != nil {
			return nil, fmt.Errorf("push.%s.from: %w", pl.name, err)
		}
		for _, r := range []string{"kept", "not_kept"} {
			p.pushes.WithLabelValues(pl.name, r)
		}
		for _, r := range []string{"network", "token", "signature", "method", "body"} {
			p.refused.WithLabelValues(pl.name, r)
		}
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(p.pushes, p.refused)
	}
	mux := http.NewServeMux()
	if p.ctwToken != "" {
		mux.HandleFunc(CTWingPath, p.ctwing)
	}
	if p.oneToken != "" {
		mux.HandleFunc(OneNETPath, p.onenet)
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	return p, nil
}

// Addr is the address the endpoints serve on.
func (p *Push) Addr() net.Addr { return p.ln.Addr() }

// Run serves until ctx is done, then shuts the server down, letting
// pushes under way finish for up to 5 s.
func (p *Push) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- p.srv.Serve(p.ln) }()
	p.o.Log.Info("platform push endpoints up", "addr", p.ln.Addr().String(), "ctwing", p.ctwToken != "", "onenet", p.oneToken != "")
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("push: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

func (p *Push) ctwing(w http.ResponseWriter, r *http.Request) {
	const pl = contract.SourceCTWing
	if r.Method != http.MethodPost {
		p.refuse(w, pl, "method", http.StatusMethodNotAllowed, "POST a push")
		return
	}
	if !within(p.ctwFrom, r.RemoteAddr) {
		p.refuse(w, pl, "network", http.StatusForbidden, "not from a configured network")
		return
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		tok = r.Header.Get("X-Firegrid-Token")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(p.ctwToken)) != 1 {
		p.refuse(w, pl, "token", http.StatusUnauthorized, "no or wrong token")
		return
	}
	body, ok := p.body(w, r, pl)
	if !ok {
		return
	}
	p.keep(w, r, pl, CTWingPath, body)
}

func (p *Push) onenet(w http.ResponseWriter, r *http.Request) {
	const pl = contract.SourceOneNET
	if !within(p.oneFrom, r.RemoteAddr) {
		p.refuse(w, pl, "network", http.StatusForbidden, "not from a configured network")
		return
	}
	switch r.Method {
	case http.MethodGet:
		// The platform checks the URL when the push instance is saved.
		q := r.URL.Query()
		msg, nonce := q.Get("msg"), q.Get("nonce")
		if msg == "" || !p.signed(nonce, msg, q.Get("signature")) {
			p.refuse(w, pl, "signature", http.StatusUnauthorized, "the signature does not match the token")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, msg)
	case http.MethodPost:
		body, ok := p.body(w, r, pl)
		if !ok {
			return
		}
		var env struct {
			Msg          json.RawMessage `json:"msg"`
			Nonce        string          `json:"nonce"`
			MsgSignature string          `json:"msg_signature"`
		}
		if err := json.Unmarshal(body, &env); err != nil || len(env.Msg) == 0 {
			// Not signed as a push either: refused like a bad signature,
			// nothing kept from an unknown sender.
			p.refuse(w, pl, "body", http.StatusBadRequest, "want {\"msg\": ..., \"nonce\": ..., \"msg_signature\": ...}")
			return
		}
		if !p.signed(env.Nonce, string(env.Msg), env.MsgSignature) {
			p.refuse(w, pl, "signature", http.StatusUnauthorized, "msg_signature does not match the token")
			return
		}
		p.keep(w, r, pl, OneNETPath, body)
	default:
		p.refuse(w, pl, "method", http.StatusMethodNotAllowed, "GET to verify, POST a push")
	}
}

// signed reports whether sig is OneNET's signature of nonce and msg with
// the token: base64(md5(token + nonce + msg)).
func (p *Push) signed(nonce, msg, sig string) bool {
	return subtle.ConstantTimeCompare([]byte(OneNETSignature(p.oneToken, nonce, msg)), []byte(sig)) == 1
}

// OneNETSignature is OneNET's signature of a push or a URL check:
// base64(md5(token + nonce + msg)).
func OneNETSignature(token, nonce, msg string) string {
	sum := md5.Sum([]byte(token + nonce + msg))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (p *Push) body(w http.ResponseWriter, r *http.Request, pl string) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(p.cfg.MaxBody)))
	if err != nil {
		p.refuse(w, pl, "body", http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes, or cut short", p.cfg.MaxBody))
		return nil, false
	}
	return b, true
}

// keep hands a push to ingest and answers 200 once ingest has it.
func (p *Push) keep(w http.ResponseWriter, r *http.Request, pl, path string, body []byte) {
	ctx, cancel := context.WithTimeout(r.Context(), acceptWait)
	defer cancel()
	u := &contract.Uplink{Source: pl, Topic: path, Payload: body, ReceivedAt: p.o.Now(), Remote: r.RemoteAddr}
	if err := p.o.Accept(ctx, u); err != nil {
		p.pushes.WithLabelValues(pl, "not_kept").Inc()
		p.o.Log.Warn("platform push not kept; the platform will retry", "platform", pl, "err", err)
		http.Error(w, "not kept, retry", http.StatusServiceUnavailable)
		return
	}
	p.pushes.WithLabelValues(pl, "kept").Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

func (p *Push) refuse(w http.ResponseWriter, pl, reason string, code int, msg string) {
	p.refused.WithLabelValues(pl, reason).Inc()
	http.Error(w, msg, code)
}
