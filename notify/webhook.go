package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// Webhook formats.
const (
	FormatJSON = "json" // the incident change, as on the console stream
	FormatCAP  = "cap"  // a CAP 1.2 alert
	FormatSMS  = "sms"  // one short text per recipient, for an SMS gateway
	// FormatHazard posts hazard changes (contract.HazardChange as JSON:
	// the event and the hazard with its status, steps and, for a work
	// order, the order's channel and id), not incident changes.
	FormatHazard = "hazard"
)

// Signature headers. The signature is "sha256=" and the hex HMAC-SHA256,
// keyed with the notifier's secret, of the timestamp header's value, a dot
// and the body; a receiver recomputes it and refuses old timestamps.
const (
	HeaderSignature = "X-Firegrid-Signature"
	HeaderTimestamp = "X-Firegrid-Timestamp"
	HeaderEvent     = "X-Firegrid-Event"
)

// Sign returns the signature header value for a body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header in constant time.
func Verify(secret []byte, ts string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// Config is one notifier in firegrid.yaml (dispatch.notifiers).
type Config struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`
	Format string `yaml:"format"`
	// Secret keys the HMAC-SHA256 signature; SecretEnv names an
	// environment variable holding it instead (keeps it out of the file).
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// Events and Types select changes (empty: all).
	Events []string `yaml:"events"`
	Types  []string `yaml:"types"`
	// Recipients (guardian, grid_worker) makes one message per person;
	// for the sms format.
	Recipients []string `yaml:"recipients"`
	// Sources keeps the hazards of these sources (format hazard; empty:
	// all), e.g. [12345] for the hotline's own work orders. Types are
	// hazard categories for that format.
	Sources []string      `yaml:"sources"`
	Timeout time.Duration `yaml:"timeout"`
	Retry   Retry         `yaml:"retry"`
}

// Events a notifier may select.
var Events = []string{"opened", "updated", "acknowledged", "arrived", "resolved", contract.EventEscalated, contract.EventOverdue, contract.EventSupervised}

// Defaults fills in what is left out.
func (c *Config) Defaults() {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Retry.Attempts == 0 {
		c.Retry.Attempts = 6
	}
	if c.Retry.Backoff == 0 {
		c.Retry.Backoff = time.Second
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = time.Minute
	}
	if len(c.Events) == 0 {
		c.Events = []string{"opened", contract.EventEscalated, "resolved"}
		if c.Format == FormatHazard {
			c.Events = slices.Clone(contract.HazardEvents)
		}
	}
}

// Validate checks one notifier; each error starts with its key.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q: want http(s)://host/path", c.URL))
	}
	events := Events
	switch c.Format {
	case FormatJSON, FormatCAP:
		if len(c.Recipients) > 0 {
			errs = append(errs, errors.New("recipients: only for format sms"))
		}
	case FormatHazard:
		events = contract.HazardEvents
		if len(c.Recipients) > 0 {
			errs = append(errs, errors.New("recipients: only for format sms"))
		}
		for i, s := range c.Sources {
			if !slices.Contains(contract.HazardSources, s) {
				errs = append(errs, fmt.Errorf("sources.%d: %q: want one of %v", i, s, contract.HazardSources))
			}
		}
	case FormatSMS:
		if len(c.Recipients) == 0 {
			errs = append(errs, errors.New("recipients: want guardian and/or grid_worker for format sms"))
		}
	default:
		errs = append(errs, fmt.Errorf("format: %q: want json, cap, sms or hazard", c.Format))
	}
	if c.Format != FormatHazard && len(c.Sources) > 0 {
		errs = append(errs, errors.New("sources: only for format hazard"))
	}
	for i, r := range c.Recipients {
		if r != "guardian" && r != "grid_worker" {
			errs = append(errs, fmt.Errorf("recipients.%d: %q: want guardian or grid_worker", i, r))
		}
	}
	for i, e := range c.Events {
		if !slices.Contains(events, e) {
			errs = append(errs, fmt.Errorf("events.%d: %q: want one of %v", i, e, events))
		}
	}
	if c.Secret == "" && c.SecretEnv == "" {
		errs = append(errs, errors.New("secret: required (or secret_env): receivers check the HMAC-SHA256 signature"))
	}
	if c.Timeout < 0 || c.Retry.Attempts < 1 || c.Retry.Backoff <= 0 {
		errs = append(errs, errors.New("retry: want attempts >= 1 and a positive backoff"))
	}
	return errors.Join(errs...)
}

// Webhook posts notifications to a URL.
type Webhook struct {
	URL    string
	Format string
	Secret []byte
	CAP    capalert.Config
	Client *http.Client
	Clock  clock.Clock
}

// Body renders a notification in the webhook's format.
func (w *Webhook) Body(n Notification) ([]byte, string, error) {
	switch w.Format {
	case FormatCAP:
		b, err := capalert.Marshal(capalert.FromIncident(n.Incident, w.CAP))
		return b, "application/cap+xml", err
	case FormatSMS:
		b, err := json.Marshal(smsMessage(n))
		return b, "application/json", err
	case FormatHazard:
		b, err := json.Marshal(contract.HazardChange{Event: n.Event, At: n.At, Hazard: n.Hazard})
		return b, "application/json", err
	}
	b, err := json.Marshal(contract.IncidentChange{Event: n.Event, At: n.At, Incident: n.Incident})
	return b, "application/json", err
}

// SMS is the body of an sms-format webhook.
type SMS struct {
	To       string `json:"to"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role"`
	Incident string `json:"incident"`
	Event    string `json:"event"`
	Text     string `json:"text"`
}

func smsMessage(n Notification) SMS {
	in := n.Incident
	what := map[string]string{"fire": "火警", "charger_overheat": "充电桩过热", "gas_leak": "燃气泄漏", "emergency_call": "紧急呼叫"}[in.Type]
	if what == "" {
		what = in.Type
	}
	text := fmt.Sprintf("【firegrid】%s：%s。%s已出警，电话 %s。", what, firstNonEmpty(in.Address, in.SiteName, in.Site),
		firstNonEmpty(in.StationName, in.Station), "119")
	if n.Event == "resolved" {
		text = fmt.Sprintf("【firegrid】%s：%s 已处置完毕（%s）。", what, firstNonEmpty(in.Address, in.SiteName, in.Site), in.Outcome)
	}
	return SMS{To: n.Recipient.Phone, Name: n.Recipient.Name, Role: n.Recipient.Role, Incident: in.ID, Event: n.Event, Text: text}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Notify posts one notification, signed.
func (w *Webhook) Notify(ctx context.Context, n Notification) (bool, error) {
	body, ctype, err := w.Body(n)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	ts := strconv.FormatInt(w.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "firegrid-notify/1")
	req.Header.Set(HeaderEvent, n.Event)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := w.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("%s answered %s", w.URL, resp.Status)
	}
	return false, fmt.Errorf("%s refused: %s", w.URL, resp.Status)
}

// Routes builds the configured notifiers.
func Routes(cfgs []Config, capCfg capalert.Config, lookupEnv func(string) (string, bool), clk clock.Clock) ([]Route, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	var out []Route
	for i, c := range cfgs {
		c.Defaults()
		secret := c.Secret
		if c.SecretEnv != "" {
			v, ok := lookupEnv(c.SecretEnv)
			if !ok || v == "" {
				return nil, fmt.Errorf("notifiers.%d.secret_env: %s is not set", i, c.SecretEnv)
			}
			secret = v
		}
		u, _ := url.Parse(c.URL)
		wh := &Webhook{URL: c.URL, Format: c.Format, Secret: []byte(secret), CAP: capCfg, Client: &http.Client{Timeout: c.Timeout}, Clock: clk}
		out = append(out, Route{Name: c.Name, Notifier: wh, Target: u.Host, Events: c.Events, Types: c.Types, Recipients: c.Recipients, Retry: c.Retry,
			Hazards: c.Format == FormatHazard, Sources: c.Sources})
	}
	return out, nil
}
