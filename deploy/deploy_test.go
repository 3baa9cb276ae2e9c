package deploy

import (
	"bufio"
	"bytes"
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

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
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

// mosquittoBlocks splits deploy/mosquitto/mosquitto.conf into its general
// lines and one block of lines per listener (the listener line first).
func mosquittoBlocks(t *testing.T) (general []string, listeners map[string][]string) {
	t.Helper()
	conf, err := os.Open("mosquitto/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	listeners = map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(conf)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		switch {
		case key == "listener":
			cur = strings.Fields(val)[0]
			listeners[cur] = []string{line}
		case key == "persistence_location":
			general = append(general, "persistence_location "+t.TempDir()+"/")
		case cur != "" && mosquittoListenerOption[key]:
			listeners[cur] = append(listeners[cur], line)
		default:
			general = append(general, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return general, listeners
}

// mosquittoListenerOption are the options that belong to the listener
// before them (per_listener_settings true).
var mosquittoListenerOption = map[string]bool{"allow_anonymous": true, "password_file": true, "acl_file": true,
	"use_username_as_clientid": true, "certfile": true, "keyfile": true, "cafile": true, "tls_version": true,
	"require_certificate": true}

// TestMosquittoConfigRuns starts a real mosquitto with each listener of
// deploy/mosquitto/mosquitto.conf (testenv gives it its own port; the
// files under /mosquitto/auth are ones firegrid writes, as the credentials
// and tls services do) and checks what compose relies on: the healthcheck
// passes on the components' listener; no listener lets an anonymous
// client in; a device publishes with its credentials on 1883 and, with
// the CA, over TLS on 8883; an option mosquitto 2 does not know fails here
// rather than in a user's docker compose up.
func TestMosquittoConfigRuns(t *testing.T) {
	f := loadCompose(t)
	svc, ok := f.Services["mosquitto"]
	if !ok {
		t.Fatal("docker-compose.yml has no mosquitto service")
	}
	if mountTarget(svc, "./deploy/mosquitto/mosquitto.conf") != "/mosquitto/config/mosquitto.conf" {
		t.Error("mosquitto.conf is not mounted where the image reads it")
	}
	general, listeners := mosquittoBlocks(t)
	for _, l := range []string{"1883", "8883", "1884"} {
		if listeners[l] == nil {
			t.Fatalf("mosquitto.conf has no listener %s", l)
		}
	}

	// What the credentials and tls services write into mosquitto-auth.
	secret := access.NewSecret()
	hash, _ := access.HashSecret(secret)
	accts := []access.MQTTAccount{{Username: "SD-0001", Role: access.MQTTDevice, Kind: contract.KindSmoke, Device: "SD-0001", Hash: hash}}
	var pw, acl bytes.Buffer
	access.WriteMosquittoPasswd(&pw, accts)
	access.WriteMosquittoACL(&acl, accts)
	ca, cert, key, err := access.DevelopmentTLS([]string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files := []testenv.MosquittoOption{testenv.WithMosquittoFile("auth/mosquitto/passwd", pw.Bytes()),
		testenv.WithMosquittoFile("auth/mosquitto/acl", acl.Bytes()), testenv.WithMosquittoFile("auth/tls/server.crt", cert),
		testenv.WithMosquittoFile("auth/tls/server.key", key)}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(caFile, ca, 0o644)
	start := func(listener string) (host, port string) {
		lines := append(append([]string{}, general...), listeners[listener][1:]...)
		conf := strings.ReplaceAll(strings.Join(lines, "\n"), "/mosquitto/auth/", "auth/")
		url := testenv.Mosquitto(t, append(files, testenv.WithMosquittoConfig(conf))...)
		host, port, _ = strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
		return host, port
	}
	client := func(tool, host, port string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, testenv.Binary(t, tool), append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		return string(out), err
	}
	msg := []string{"-q", "1", "-t", "fg/v1/smoke/SD-0001/telemetry", "-m", `{"seq":1}`}

	// The components' listener and the compose healthcheck, with $$ as
	// compose turns it into $ and the port moved to the test's.
	host, port := start("1884")
	if svc.Healthcheck == nil {
		t.Fatal("the mosquitto service has no healthcheck; firegrid waits for it")
	}
	args, ok := svc.Healthcheck.Test.([]any)
	if !ok || len(args) != 2 || args[0] != "CMD-SHELL" {
		t.Fatalf("healthcheck test is %v, want [CMD-SHELL, command]", svc.Healthcheck.Test)
	}
	cmd := strings.ReplaceAll(fmt.Sprint(args[1]), "$$", "$")
	cmd = strings.Replace(cmd, "mosquitto_sub -p 1884", testenv.Binary(t, "mosquitto_sub")+" -h "+host+" -p "+port, 1)
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("healthcheck %s: %v\n%s", cmd, err, out)
	}
	if out, err := client("mosquitto_pub", host, port, append([]string{"-u", "SD-0001", "-P", secret}, msg...)...); err != nil {
		t.Errorf("a device on the components' listener: %v %s", err, out)
	}

	// The devices' listener: nobody without an account.
	host, port = start("1883")
	if out, err := client("mosquitto_pub", host, port, msg...); err == nil {
		t.Errorf("an anonymous client published on 1883: %s", out)
	}
	if out, err := client("mosquitto_pub", host, port, append([]string{"-u", "SD-0001", "-P", secret}, msg...)...); err != nil {
		t.Errorf("the device on 1883: %v %s", err, out)
	}

	// TLS: the device with the CA gets in; plain MQTT does not.
	host, port = start("8883")
	if out, err := client("mosquitto_pub", host, port, append([]string{"--cafile", caFile, "-u", "SD-0001", "-P", secret}, msg...)...); err != nil {
		t.Errorf("the device over TLS: %v %s", err, out)
	}
	if out, err := client("mosquitto_pub", host, port, append([]string{"-u", "SD-0001", "-P", secret}, msg...)...); err == nil {
		t.Errorf("plain MQTT on the TLS listener got in: %s", out)
	}
}
