package simulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/conf"
)

// People is what people do on firegrid's API over a run, beside what the
// devices send: grid workers report hazards with photos and check in their
// rounds, communities register, dispatch and close, a property company
// rectifies, the 12345 platform sends work orders. The demo plays one so
// that the closed loop is there to see; its file is YAML (see
// configs/people/demo.yaml).
type People struct {
	File        string       `yaml:"-"`
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	Steps       []PersonStep `yaml:"steps"`
}

// PersonStep is one thing one person (or platform) does, at an offset
// from the start of the run. It does one of: Report, Step (on the hazard
// named Hazard, with Body), CheckIn, Order.
type PersonStep struct {
	At time.Duration `yaml:"at"`
	// As is the user who does it (or, for an order, the inbound channel).
	As      string         `yaml:"as"`
	Report  *PersonReport  `yaml:"report"`
	Step    string         `yaml:"step"`
	Hazard  string         `yaml:"hazard"`
	Body    map[string]any `yaml:"body"`
	CheckIn *PersonCheckIn `yaml:"checkin"`
	Order   *PersonOrder   `yaml:"order"`
	// Photo adds a photo (made up, a few kilobytes of JPEG) to a report,
	// a step or the failed items of a check-in.
	Photo bool `yaml:"photo"`
}

// PersonReport is a hazard reported; Name is how later steps call it.
type PersonReport struct {
	Name        string           `yaml:"name"`
	Category    string           `yaml:"category"`
	Site        string           `yaml:"site"`
	Description string           `yaml:"description"`
	Source      string           `yaml:"source"`
	Reporter    contract.Contact `yaml:"reporter"`
}

// PersonCheckIn is an inspection round done at an object; the items in
// Failed found a hazard (Note says what).
type PersonCheckIn struct {
	Plan   string   `yaml:"plan"`
	Object string   `yaml:"object"`
	Failed []string `yaml:"failed"`
	Note   string   `yaml:"note"`
}

// PersonOrder is a work order another platform sends, signed with its
// channel's secret; Name is how later steps call its hazard.
type PersonOrder struct {
	Name        string           `yaml:"name"`
	ID          string           `yaml:"id"`
	Category    string           `yaml:"category"`
	Title       string           `yaml:"title"`
	Description string           `yaml:"description"`
	Site        string           `yaml:"site"`
	Caller      contract.Contact `yaml:"caller"`
}

// personSteps are the hazard steps a PersonStep may take.
var personSteps = []string{"register", "dispatch", "deadline", "rectify", "verify", "close", "reopen", "reject", "handover"}

// ParsePeople decodes a people file strictly and checks it; its errors
// are *conf.Error values with the file, line and field.
func ParsePeople(file string, data []byte) (*People, error) {
	var p People
	root, err := conf.DecodeStrict(file, data, &p)
	if err != nil {
		return nil, err
	}
	p.File = file
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	var last time.Duration
	for i, s := range p.Steps {
		key := fmt.Sprintf("steps.%d", i)
		if s.At < last {
			add("%s.at: %v is before the step above (%v): steps are in time order", key, s.At, last)
		}
		last = s.At
		if s.As == "" {
			add("%s.as: required: the user who does it (or the channel an order comes on)", key)
		}
		n := 0
		for _, set := range []bool{s.Report != nil, s.Step != "", s.CheckIn != nil, s.Order != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			add("%s: want exactly one of report, step, checkin, order", key)
			continue
		}
		switch {
		case s.Report != nil:
			if s.Report.Name != "" {
				names[s.Report.Name] = true
			}
			if s.Report.Category == "" || s.Report.Site == "" || s.Report.Description == "" {
				add("%s.report: want category, site and description", key)
			}
		case s.Order != nil:
			if s.Order.Name != "" {
				names[s.Order.Name] = true
			}
			if s.Order.ID == "" || s.Order.Site == "" {
				add("%s.order: want id and site", key)
			}
		case s.Step != "":
			if !slices.Contains(personSteps, s.Step) {
				add("%s.step: %q: want one of %s", key, s.Step, strings.Join(personSteps, ", "))
			}
			if !names[s.Hazard] {
				add("%s.hazard: %q: no report or order above is named so", key, s.Hazard)
			}
		case s.CheckIn != nil:
			if s.CheckIn.Plan == "" || s.CheckIn.Object == "" {
				add("%s.checkin: want plan and object", key)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, conf.Locate(file, root, err)
	}
	return &p, nil
}

// LoadPeople reads a people file.
func LoadPeople(path string) (*People, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePeople(path, b)
}

// PeopleTarget is the firegrid the people work on.
type PeopleTarget struct {
	// BaseURL is firegrid's HTTP address: http://host:port.
	BaseURL string
	// Passwords are the users' passwords, by user name.
	Passwords map[string]string
	// Secrets are the inbound channels' secrets, by channel.
	Secrets map[string][]byte
	Client  *http.Client
	Clock   clock.Clock
	Log     *slog.Logger
}

// PeopleRun is what a play did: the hazards made, by the names the file
// gave them, and the steps that failed.
type PeopleRun struct {
	mu      sync.Mutex
	Hazards map[string]string
	Failed  []string
}

// PlayPeople plays p against t until its last step or ctx is done. A step
// firegrid refuses is logged and the play goes on (a person would too).
func PlayPeople(ctx context.Context, p *People, t PeopleTarget) (*PeopleRun, error) {
	if t.Client == nil {
		t.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if t.Clock == nil {
		t.Clock = clock.Real{}
	}
	if t.Log == nil {
		t.Log = slog.New(slog.DiscardHandler)
	}
	run := &PeopleRun{Hazards: map[string]string{}}
	tokens := map[string]string{}
	start := t.Clock.Now()
	for i, s := range p.Steps {
		if wait := start.Add(s.At).Sub(t.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return run, nil
			case <-t.Clock.After(wait):
			}
		}
		if err := t.play(ctx, run, tokens, s); err != nil {
			if ctx.Err() != nil {
				return run, nil
			}
			run.mu.Lock()
			run.Failed = append(run.Failed, fmt.Sprintf("steps.%d: %v", i, err))
			run.mu.Unlock()
			t.Log.Warn("a person's step was refused", "step", i, "as", s.As, "err", err)
		}
	}
	return run, nil
}

// play does one step.
func (t *PeopleTarget) play(ctx context.Context, run *PeopleRun, tokens map[string]string, s PersonStep) error {
	if s.Order != nil {
		return t.order(ctx, run, s)
	}
	token, ok := tokens[s.As]
	if !ok {
		pw, known := t.Passwords[s.As]
		if !known {
			return fmt.Errorf("no password for %s", s.As)
		}
		var lr struct{ Token string }
		if err := t.call(ctx, "POST", "/api/v1/login", "", map[string]string{"username": s.As, "password": pw}, &lr); err != nil {
			return fmt.Errorf("log in as %s: %w", s.As, err)
		}
		token, tokens[s.As] = lr.Token, lr.Token
	}
	photos := []map[string]any{}
	if s.Photo {
		photos = append(photos, map[string]any{"name": "photo.jpg", "data": madeUpPhoto(len(run.Hazards) + len(s.As))})
	}
	switch {
	case s.Report != nil:
		r := s.Report
		body := map[string]any{"category": r.Category, "site": r.Site, "description": r.Description, "source": r.Source,
			"reporter": r.Reporter, "photos": photos, "ref": "people-" + r.Name}
		var h contract.Hazard
		if err := t.call(ctx, "POST", "/api/v1/hazards", token, body, &h); err != nil {
			return err
		}
		run.put(r.Name, h.ID)
		return nil
	case s.Step != "":
		id := run.get(s.Hazard)
		if id == "" {
			return fmt.Errorf("hazard %q was never made", s.Hazard)
		}
		body := map[string]any{}
		for k, v := range s.Body {
			body[k] = v
		}
		if s.Photo {
			body["photos"] = photos
		}
		return t.call(ctx, "POST", "/api/v1/hazards/"+id+"/"+s.Step, token, body, nil)
	case s.CheckIn != nil:
		c := s.CheckIn
		var plans struct {
			Plans []struct {
				ID        string `json:"id"`
				Checklist []struct {
					ID string `json:"id"`
				} `json:"checklist"`
			}
		}
		if err := t.call(ctx, "GET", "/api/v1/inspections/plans", token, nil, &plans); err != nil {
			return err
		}
		var items []map[string]any
		for _, p := range plans.Plans {
			if p.ID != c.Plan {
				continue
			}
			for _, it := range p.Checklist {
				ok := !slices.Contains(c.Failed, it.ID)
				item := map[string]any{"item": it.ID, "ok": ok}
				if !ok {
					item["note"] = c.Note
					item["photos"] = photos
				}
				items = append(items, item)
			}
		}
		if items == nil {
			return fmt.Errorf("plan %q not found", c.Plan)
		}
		return t.call(ctx, "POST", "/api/v1/inspections/checkins", token,
			map[string]any{"plan": c.Plan, "object": c.Object, "items": items, "ref": "people-" + c.Plan + "-" + c.Object}, nil)
	}
	return nil
}

// order sends a signed work order as the platform of channel s.As would.
func (t *PeopleTarget) order(ctx context.Context, run *PeopleRun, s PersonStep) error {
	secret, ok := t.Secrets[s.As]
	if !ok {
		return fmt.Errorf("no secret for the channel %s", s.As)
	}
	o := s.Order
	body, err := json.Marshal(map[string]any{"order_id": o.ID, "category": o.Category, "title": o.Title, "description": o.Description,
		"site": o.Site, "caller": o.Caller})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", t.BaseURL+"/api/v1/workorders/"+s.As, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(t.Clock.Now().Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Firegrid-Timestamp", ts)
	req.Header.Set("X-Firegrid-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	var a struct{ Hazard contract.Hazard }
	if err := t.do(req, &a); err != nil {
		return err
	}
	run.put(o.Name, a.Hazard.ID)
	return nil
}

func (t *PeopleTarget) call(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.BaseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return t.do(req, out)
}

func (t *PeopleTarget) do(req *http.Request, out any) error {
	resp, err := t.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (r *PeopleRun) put(name, id string) {
	if name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Hazards[name] = id
}

func (r *PeopleRun) get(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Hazards[name]
}

// madeUpPhoto is a small JPEG, a different one for each seed: a phone's
// photo stands in for it.
func madeUpPhoto(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(120 + (x*seed)%100), uint8(60 + y/4), uint8(40 + (x+y)%60), 255})
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 70})
	return b.Bytes()
}
