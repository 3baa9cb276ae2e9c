package deploy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/internal/testenv"
)

// composePath is the compose file, relative to this package's directory;
// paths inside it are relative to its own directory, the repository root.
const composePath = "../docker-compose.yml"

// composeFile is the part of the Compose specification these tests read.
// Short and long forms (ports, volumes, build, depends_on) are both legal,
// so those fields are decoded loosely and normalised below.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Ports       []any          `yaml:"ports"`
	Volumes     []any          `yaml:"volumes"`
	DependsOn   any            `yaml:"depends_on"`
	Command     []string       `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
	Profiles    []string       `yaml:"profiles"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s has no services", composePath)
	}
	return f
}

// repoPath resolves a path of the compose file against its directory.
func repoPath(p string) string {
	return filepath.Join(filepath.Dir(composePath), filepath.FromSlash(p))
}

func TestComposeServicesHaveImageOrBuild(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		if s.Build == nil {
			continue
		}
		context, dockerfile := ".", "Dockerfile"
		switch b := s.Build.(type) {
		case string:
			context = b
		case map[string]any:
			if c, ok := b["context"].(string); ok {
				context = c
			}
			if d, ok := b["dockerfile"].(string); ok {
				dockerfile = d
			}
		default:
			t.Errorf("service %s: build is a %T, want a path or a mapping", name, b)
			continue
		}
		if filepath.IsAbs(context) {
			t.Errorf("service %s: build context %s is absolute; use a path relative to the compose file", name, context)
			continue
		}
		if _, err := os.Stat(repoPath(filepath.Join(context, dockerfile))); err != nil {
			t.Errorf("service %s: build: %v", name, err)
		}
	}
}

// mount is one entry of a service's volumes.
type mount struct {
	bind   bool // a host path, else a named volume
	source string
	target string
}

func parseMount(v any) (mount, error) {
	switch v := v.(type) {
	case string:
		// SOURCE:TARGET[:MODE], or just TARGET for an anonymous volume.
		parts := strings.Split(v, ":")
		if len(parts) == 1 {
			return mount{target: parts[0]}, nil
		}
		src := parts[0]
		return mount{bind: isHostPath(src), source: src, target: parts[1]}, nil
	case map[string]any:
		typ, _ := v["type"].(string)
		src, _ := v["source"].(string)
		dst, _ := v["target"].(string)
		return mount{bind: typ == "bind", source: src, target: dst}, nil
	default:
		return mount{}, fmt.Errorf("volume entry is a %T", v)
	}
}

func isHostPath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~")
}

func TestComposeMountsExist(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			m, err := parseMount(v)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			switch {
			case m.bind && !strings.HasPrefix(m.source, "./"):
				t.Errorf("service %s: bind mount %s is not relative to the repository (./...)", name, m.source)
			case m.bind:
				if _, err := os.Stat(repoPath(m.source)); err != nil {
					t.Errorf("service %s: bind mount: %v", name, err)
				}
			case m.source != "":
				if _, ok := f.Volumes[m.source]; !ok {
					t.Errorf("service %s: named volume %s is not declared under volumes:", name, m.source)
				}
			}
		}
	}
}

// published is one host port a service publishes.
type published struct {
	hostIP, proto string
	port          int
}

// parsePorts returns the host ports of one ports entry; an entry without a
// host port (docker picks one) publishes none that can collide.
func parsePorts(v any) ([]published, error) {
	switch v := v.(type) {
	case int:
		return nil, nil
	case string:
		spec, proto, _ := strings.Cut(v, "/")
		if proto == "" {
			proto = "tcp"
		}
		// [HOST_IP:]HOST:CONTAINER, or CONTAINER alone; IPv6 host IPs
		// come in brackets.
		parts := strings.Split(spec, ":")
		if strings.HasPrefix(spec, "[") {
			end := strings.Index(spec, "]")
			if end < 0 {
				return nil, fmt.Errorf("port %q: unclosed [", v)
			}
			parts = append([]string{spec[1:end]}, strings.Split(strings.TrimPrefix(spec[end+1:], ":"), ":")...)
		}
		var hostIP, host string
		switch len(parts) {
		case 1:
			return nil, nil
		case 2:
			host = parts[0]
		case 3:
			hostIP, host = parts[0], parts[1]
		default:
			return nil, fmt.Errorf("port %q: too many colons", v)
		}
		return portRange(hostIP, host, proto)
	case map[string]any:
		proto, _ := v["protocol"].(string)
		if proto == "" {
			proto = "tcp"
		}
		hostIP, _ := v["host_ip"].(string)
		switch p := v["published"].(type) {
		case nil:
			return nil, nil
		case int:
			return portRange(hostIP, strconv.Itoa(p), proto)
		case string:
			return portRange(hostIP, p, proto)
		default:
			return nil, fmt.Errorf("published port is a %T", p)
		}
	default:
		return nil, fmt.Errorf("ports entry is a %T", v)
	}
}

func portRange(hostIP, spec, proto string) ([]published, error) {
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	first, err := strconv.Atoi(lo)
	if err != nil {
		return nil, fmt.Errorf("host port %q: %v", spec, err)
	}
	last := first
	if isRange {
		if last, err = strconv.Atoi(hi); err != nil {
			return nil, fmt.Errorf("host port %q: %v", spec, err)
		}
	}
	var out []published
	for p := first; p <= last; p++ {
		out = append(out, published{hostIP: hostIP, proto: proto, port: p})
	}
	return out, nil
}

// collide tells whether two published ports would fight over one socket:
// same port and protocol, and the same address or a wildcard on either side.
func collide(a, b published) bool {
	wild := func(ip string) bool { return ip == "0.0.0.0" || ip == "::" }
	return a.port == b.port && a.proto == b.proto && (a.hostIP == b.hostIP || wild(a.hostIP) || wild(b.hostIP))
}

func TestComposePublishedPortsDistinct(t *testing.T) {
	type owned struct {
		published
		service string
	}
	var all []owned
	for name, s := range loadCompose(t).Services {
		for _, v := range s.Ports {
			ps, err := parsePorts(v)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
			}
			for _, p := range ps {
				for _, o := range all {
					if collide(p, o.published) {
						t.Errorf("host port %d/%s is published by both %s and %s", p.port, p.proto, o.service, name)
					}
				}
				all = append(all, owned{p, name})
			}
		}
	}
	if len(all) == 0 {
		t.Error("no service publishes a port: the console would be unreachable")
	}
}

func TestComposePortParsing(t *testing.T) {
	tests := []struct {
		in   any
		want []published
	}{
		{"8080:8080", []published{{"0.0.0.0", "tcp", 8080}}},
		{"127.0.0.1:1883:1883", []published{{"127.0.0.1", "tcp", 1883}}},
		{"[::1]:9090:9090", []published{{"::1", "tcp", 9090}}},
		{"5000-5001:5000-5001/udp", []published{{"0.0.0.0", "udp", 5000}, {"0.0.0.0", "udp", 5001}}},
		{"9092", nil},
		{map[string]any{"target": 3000, "published": 3000}, []published{{"0.0.0.0", "tcp", 3000}}},
	}
	for _, tt := range tests {
		got, err := parsePorts(tt.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parsePorts(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if !collide(published{"0.0.0.0", "tcp", 80}, published{"127.0.0.1", "tcp", 80}) {
		t.Error("a wildcard and a specific address on one port must collide")
	}
	if collide(published{"0.0.0.0", "tcp", 53}, published{"0.0.0.0", "udp", 53}) {
		t.Error("TCP and UDP on one port do not collide")
	}
}

func TestComposeDependenciesExist(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		var deps []string
		switch d := s.DependsOn.(type) {
		case nil:
		case []any:
			for _, x := range d {
				deps = append(deps, fmt.Sprint(x))
			}
		case map[string]any:
			for x := range d {
				deps = append(deps, x)
			}
		default:
			t.Errorf("service %s: depends_on is a %T", name, d)
		}
		for _, dep := range deps {
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is not a service", name, dep)
			}
		}
	}
}

// TestMosquittoConfigRuns starts a real mosquitto with
// deploy/mosquitto/mosquitto.conf (its listener, storage path and log
// destination moved to the test's) and runs the compose healthcheck against
// it: an option mosquitto 2 does not know, or a healthcheck that cannot
// succeed, fails here rather than in a user's `docker compose up`.
func TestMosquittoConfigRuns(t *testing.T) {
	f := loadCompose(t)
	svc, ok := f.Services["mosquitto"]
	if !ok {
		t.Fatal("docker-compose.yml has no mosquitto service")
	}
	conf, err := os.Open("mosquitto/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	var kept strings.Builder
	sc := bufio.NewScanner(conf)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "persistence_location ") {
			line = "persistence_location " + t.TempDir() + "/"
		}
		kept.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// testenv keeps its own listener and log destination.
	url := testenv.Mosquitto(t, testenv.WithMosquittoConfig(kept.String()))

	if svc.Healthcheck == nil {
		t.Fatal("the mosquitto service has no healthcheck; firegrid waits for it")
	}
	args, ok := svc.Healthcheck.Test.([]any)
	if !ok || len(args) < 2 || args[0] != "CMD" {
		t.Fatalf("healthcheck test is %v, want [CMD, program, args...]", svc.Healthcheck.Test)
	}
	prog := testenv.Binary(t, fmt.Sprint(args[1]))
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
	cmdArgs := []string{"-h", host, "-p", port}
	for _, a := range args[2:] {
		// Compose turns $$ into $.
		cmdArgs = append(cmdArgs, strings.ReplaceAll(fmt.Sprint(a), "$$", "$"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, cmdArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("healthcheck %s %s: %v\n%s", prog, strings.Join(cmdArgs, " "), err, out)
	}
	t.Logf("healthcheck answered %q", strings.TrimSpace(string(out)))
}
