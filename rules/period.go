package rules

import (
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"strings"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the calendar's time zone must load on hosts without zoneinfo

	"github.com/firegrid/firegrid/internal/conf"
)

const nPeriods = 4

// Calendar says which period is in force on which dates. Where entries
// overlap, the higher period wins; outside every entry it is daily.
type Calendar struct {
	// Timezone the dates are in (default Asia/Shanghai).
	Timezone string          `yaml:"timezone"`
	Entries  []CalendarEntry `yaml:"calendar"`

	loc *time.Location
}

// CalendarEntry is a period on some dates: single Dates and/or a range
// From..To (inclusive), each YYYY-MM-DD.
type CalendarEntry struct {
	Period contract.Period `yaml:"period"`
	Name   string          `yaml:"name"`
	Dates  []string        `yaml:"dates"`
	From   string          `yaml:"from"`
	To     string          `yaml:"to"`

	ranges [][2]time.Time // [start, end) in the calendar's zone
}

func (c *Calendar) validate() []*conf.Error {
	var errs []*conf.Error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &conf.Error{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Timezone == "" {
		c.Timezone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		fail("periods.timezone", "%v", err)
		loc = time.UTC
	}
	c.loc = loc
	for i := range c.Entries {
		e := &c.Entries[i]
		where := fmt.Sprintf("periods.calendar.%d", i)
		if _, ok := e.Period.Index(); !ok || e.Period == contract.PeriodDaily {
			fail(where+".period", "%q: want holiday, major_event or emergency", e.Period)
		}
		for j, d := range e.Dates {
			t, err := time.ParseInLocation(time.DateOnly, d, loc)
			if err != nil {
				fail(fmt.Sprintf("%s.dates.%d", where, j), "%q: want YYYY-MM-DD", d)
				continue
			}
			e.ranges = append(e.ranges, [2]time.Time{t, t.AddDate(0, 0, 1)})
		}
		if e.From != "" || e.To != "" {
			from, err1 := time.ParseInLocation(time.DateOnly, e.From, loc)
			to, err2 := time.ParseInLocation(time.DateOnly, e.To, loc)
			switch {
			case err1 != nil:
				fail(where+".from", "%q: want YYYY-MM-DD", e.From)
			case err2 != nil:
				fail(where+".to", "%q: want YYYY-MM-DD", e.To)
			case to.Before(from):
				fail(where+".to", "%s is before from %s", e.To, e.From)
			default:
				e.ranges = append(e.ranges, [2]time.Time{from, to.AddDate(0, 0, 1)})
			}
		}
		if len(e.Dates) == 0 && e.From == "" && e.To == "" {
			fail(where+".dates", "name dates or a from..to range")
		}
	}
	return errs
}

// parseTime reads an RFC 3339 time or a date in the calendar's zone; a
// date as an end means the end of that day.
func (c *Calendar) parseTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc := c.loc
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD", s)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// at returns the calendar's period at t, and the day [start, end) it holds
// for (the calendar changes only at midnight).
func (c *Calendar) at(t time.Time) (contract.Period, time.Time, time.Time) {
	loc := c.loc
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	next := day.AddDate(0, 0, 1)
	best := 0
	for i := range c.Entries {
		e := &c.Entries[i]
		for _, r := range e.ranges {
			if !t.Before(r[0]) && t.Before(r[1]) {
				if k, _ := e.Period.Index(); k > best {
					best = k
				}
			}
		}
	}
	return contract.Periods[best], day, next
}

// PeriodStatus is the period in force and why.
type PeriodStatus struct {
	Period contract.Period `json:"period"`
	// Source is "override", "calendar" or "default".
	Source   string                   `json:"source"`
	Override *contract.PeriodOverride `json:"override,omitempty"`
}

// periods resolves the period in force; Evaluate asks it on every reading,
// so a hit costs two atomic loads.
type periods struct {
	override atomic.Pointer[contract.PeriodOverride]
	day      atomic.Pointer[periodDay]
}

type periodDay struct {
	cal        *Calendar
	from, to   time.Time
	period     contract.Period
	idx        int
	fromSource string
}

func (p *periods) at(cal *Calendar, t time.Time) (int, contract.Period) {
	if o := p.override.Load(); o != nil && (o.Until.IsZero() || t.Before(o.Until)) {
		i, _ := o.Period.Index()
		return i, o.Period
	}
	if d := p.day.Load(); d != nil && d.cal == cal && !t.Before(d.from) && t.Before(d.to) {
		return d.idx, d.period
	}
	per, from, to := cal.at(t)
	i, _ := per.Index()
	p.day.Store(&periodDay{cal: cal, from: from, to: to, period: per, idx: i})
	return i, per
}

func (p *periods) status(cal *Calendar, t time.Time) PeriodStatus {
	if o := p.override.Load(); o != nil && (o.Until.IsZero() || t.Before(o.Until)) {
		c := *o
		return PeriodStatus{Period: o.Period, Source: "override", Override: &c}
	}
	per, _, _ := cal.at(t)
	src := "calendar"
	if per == contract.PeriodDaily {
		src = "default"
	}
	return PeriodStatus{Period: per, Source: src}
}

func periodList() string {
	s := make([]string, len(contract.Periods))
	for i, p := range contract.Periods {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// PeriodIn returns the period in force at now under the calendar of cfg
// and the override o (nil: none), and why: what a console shows without
// an engine of its own.
func PeriodIn(cfg *Config, o *contract.PeriodOverride, now time.Time) PeriodStatus {
	var p periods
	if o != nil && o.Period != "" {
		c := *o
		p.override.Store(&c)
	}
	return p.status(&cfg.Periods, now)
}

// PeriodList names the periods, for messages.
func PeriodList() string { return periodList() }
