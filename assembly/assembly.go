// Package assembly builds firegrid's processes from its components. The
// all-in-one `firegrid serve` runs every component on the in-process bus,
// with the embedded broker and SQLite; each scale-out role (ingest, rules,
// alarm, sink) runs its subset on Kafka, an external broker and
// PostgreSQL. One function, Start, builds both from the one catalogue
// below, so a capability exists in both or in neither.
//
// A component names what it consumes (consumer groups and their topics),
// what it produces, the tasks it runs and what it needs. Start opens what
// the chosen components need, builds them, declares every consumer group
// on the bus before anything is published, starts the consumers and tasks
// and then the sources (MQTT, the demo fleet). Close stops the sources
// first, then everything else, then closes what was opened.
package assembly

import (
	"fmt"
	"slices"
	"strings"

	"github.com/firegrid/firegrid/contract"
)

// The processes firegrid runs: serve, and the scale-out roles.
const (
	Serve      = "serve"
	RoleIngest = "ingest"
	RoleRules  = "rules"
	RoleAlarm  = "alarm"
	RoleSink   = "sink"
)

// Roles lists the scale-out roles.
var Roles = []string{RoleIngest, RoleRules, RoleAlarm, RoleSink}

// instanceVar in a group name stands for the process's instance name: such
// a group gets every record in every instance.
const instanceVar = "{instance}"

// Consumer is a consumer group a component runs.
type Consumer struct {
	// Group is the group's name; {instance} in it stands for the
	// process's instance.
	Group  string
	Topics []string
	// FromEnd: a view that wants what happens from now on.
	FromEnd bool
}

// PerInstance reports whether every instance has a group of its own.
func (c Consumer) PerInstance() bool { return strings.Contains(c.Group, instanceVar) }

// Component is one stage or adapter as a process runs it.
type Component struct {
	Name string
	// Doc says what it does, in one sentence.
	Doc string
	// Role is the scale-out role that runs it; empty for one that only
	// serve runs (the demo fleet). Serve runs every component.
	Role     string
	Consumes []Consumer
	// Produces lists the topics it publishes to, and the world outside
	// the bus it writes to (MQTT, InfluxDB, webhooks, HTTP).
	Produces []string
	// Tasks are the goroutines it runs besides its consumers; Sources
	// are tasks that bring messages in, started last and stopped first.
	Tasks   []string
	Sources []string
	// Needs lists what the process must open for it: registry, store,
	// broker, influx.
	Needs []string
	// When says whether the configuration asks for it (nil: always).
	When func(Config) bool
	// WhenDoc says when it runs, for the README ("" : always).
	WhenDoc string

	build func(*env) (*parts, error)
}

// Runs reports whether a process of role (Serve or a role) with cfg runs
// the component.
func (c *Component) Runs(role string, cfg Config) bool {
	if role != Serve && role != c.Role {
		return false
	}
	return c.When == nil || c.When(cfg)
}

// Catalogue lists every component in the order a process builds them:
// what others use first (the alarm stage before the console that shows its
// incidents), sources last.
func Catalogue() []*Component { return catalogue }

// Plan returns the components a process of role runs with cfg.
func Plan(role string, cfg Config) ([]*Component, error) {
	if role != Serve && !slices.Contains(Roles, role) {
		return nil, fmt.Errorf("unknown role %q (want serve or one of %s)", role, strings.Join(Roles, ", "))
	}
	var out []*Component
	var asks []string
	for _, c := range catalogue {
		if c.Runs(role, cfg) {
			out = append(out, c)
		} else if c.Role == role {
			asks = append(asks, c.Name+" runs when "+c.WhenDoc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the %s role has nothing to run with this configuration (%s)", role, strings.Join(asks, "; "))
	}
	return out, nil
}

// Running is one consumer group or task a process runs.
type Running struct {
	Component string
	// Kind is "consumer", "task" or "source".
	Kind string
	// Name is the task's name, or the consumer group's (with the
	// instance filled in).
	Name   string
	Topics []string
}

func (r Running) String() string {
	if r.Kind == "consumer" {
		return fmt.Sprintf("%s consumer %s %v", r.Component, r.Name, r.Topics)
	}
	return fmt.Sprintf("%s %s %s", r.Component, r.Kind, r.Name)
}

// Expected returns what a process of role with cfg runs, from the plan.
func Expected(role, instance string, cfg Config) ([]Running, error) {
	plan, err := Plan(role, cfg)
	if err != nil {
		return nil, err
	}
	var out []Running
	for _, c := range plan {
		for _, g := range c.Consumes {
			out = append(out, Running{Component: c.Name, Kind: "consumer", Name: strings.ReplaceAll(g.Group, instanceVar, instance), Topics: g.Topics})
		}
		for _, t := range c.Tasks {
			out = append(out, Running{Component: c.Name, Kind: "task", Name: t})
		}
		for _, t := range c.Sources {
			out = append(out, Running{Component: c.Name, Kind: "source", Name: t})
		}
	}
	return out, nil
}

// RolesTable writes the README's table of what each role runs, from the
// catalogue.
func RolesTable() string {
	var b strings.Builder
	b.WriteString("| role | component | consumer groups (topics) | produces | tasks | needs | runs |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, role := range append(slices.Clone(Roles), Serve) {
		for _, c := range catalogue {
			if (role == Serve && c.Role != "") || (role != Serve && c.Role != role) {
				continue
			}
			var groups []string
			for _, g := range c.Consumes {
				s := "`" + g.Group + "` (" + strings.Join(g.Topics, ", ") + ")"
				if g.FromEnd {
					s += " from the end"
				}
				groups = append(groups, s)
			}
			when := c.WhenDoc
			if when == "" {
				when = "always"
			}
			name := role
			if role == Serve {
				name = "serve only"
			}
			fmt.Fprintf(&b, "| %s | **%s**: %s | %s | %s | %s | %s | %s |\n", name, c.Name, c.Doc, orDash(strings.Join(groups, "<br>")),
				orDash(strings.Join(c.Produces, ", ")), orDash(strings.Join(append(slices.Clone(c.Tasks), c.Sources...), ", ")),
				orDash(strings.Join(c.Needs, ", ")), when)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

var readings = []string{contract.TopicTelemetry, contract.TopicEvents}
