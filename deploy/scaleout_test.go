package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/assembly"
)

// roleConfig is the configuration the compose file mounts into every role.
const roleConfig = "firegrid/scaleout.yaml"

// mountTarget returns where a service mounts a host path, or "".
func mountTarget(s composeService, source string) string {
	for _, v := range s.Volumes {
		if m, err := parseMount(v); err == nil && m.bind && m.source == source {
			return m.target
		}
	}
	return ""
}

// splitHostPort fails the test unless hp is host:port.
func splitHostPort(t *testing.T, what, hp string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		t.Fatalf("%s: %q is not host:port", what, hp)
	}
	return h, p
}

// TestScaleOutRoles: every role is a service running the firegrid image
// with its role as command and the mounted configuration, which firegrid's
// own loader accepts; the addresses in it name compose services and the
// ports those services listen on.
func TestScaleOutRoles(t *testing.T) {
	f := loadCompose(t)
	cfg, err := assembly.LoadConfig(roleConfig)
	if err != nil {
		t.Fatalf("firegrid's loader refuses %s: %v", roleConfig, err)
	}
	for _, role := range assembly.Roles {
		s, ok := f.Services[role]
		if !ok {
			t.Errorf("no %s service", role)
			continue
		}
		if len(s.Command) < 3 || s.Command[0] != role || s.Command[1] != "--config" {
			t.Errorf("service %s: command %v, want [%s --config FILE]", role, s.Command, role)
			continue
		}
		if got := mountTarget(s, "./deploy/"+roleConfig); got != s.Command[2] {
			t.Errorf("service %s: --config %s, but ./deploy/%s is mounted at %q", role, s.Command[2], roleConfig, got)
		}
		if s.Image != f.Services["ingest"].Image || s.Build == nil {
			t.Errorf("service %s: image %q, want the one image all roles share, built from the repository", role, s.Image)
		}
	}

	// MQTT: the mosquitto service's listener for firegrid's components,
	// with the account and password file the credentials service makes,
	// in the volume ingest mounts.
	u, err := url.Parse(cfg.MQTT.URL)
	if err != nil || u.Hostname() != "mosquitto" || u.Port() != "1884" {
		t.Errorf("mqtt.url %q, want tcp://mosquitto:1884", cfg.MQTT.URL)
	}
	conf, _ := os.ReadFile("mosquitto/mosquitto.conf")
	for _, l := range []string{"1883", "8883", "1884"} {
		if !strings.Contains(string(conf), "\nlistener "+l+"\n") {
			t.Errorf("mosquitto.conf does not listen on %s", l)
		}
	}
	creds := f.Services["credentials"]
	if !slices.Contains(creds.Command, cfg.MQTT.Username+"=ingest") {
		t.Errorf("the credentials service makes no account %s for ingest: %v", cfg.MQTT.Username, creds.Command)
	}
	credDir := ""
	for _, v := range creds.Volumes {
		if m, err := parseMount(v); err == nil && !m.bind && m.target == "/credentials" {
			credDir = m.source
		}
	}
	ingestMount := ""
	for _, v := range f.Services["ingest"].Volumes {
		if m, err := parseMount(v); err == nil && m.source == credDir {
			ingestMount = m.target
		}
	}
	if credDir == "" || cfg.MQTT.PasswordFile != ingestMount+"/"+cfg.MQTT.Username+".password" {
		t.Errorf("mqtt.password_file %s: ingest mounts the credentials volume %q at %q", cfg.MQTT.PasswordFile, credDir, ingestMount)
	}
	// Kafka: the broker's advertised listener.
	kafka := f.Services["kafka"]
	adv := fmt.Sprint(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"])
	for _, b := range cfg.Kafka.Brokers {
		if !strings.Contains(adv, "://"+b) {
			t.Errorf("kafka.brokers has %s; the kafka service advertises %s", b, adv)
		}
		if h, _ := splitHostPort(t, "kafka.brokers", b); f.Services[h].Image == "" {
			t.Errorf("kafka.brokers: %s is not a service", h)
		}
	}
	if fmt.Sprint(kafka.Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) != "false" || !cfg.Kafka.CreateTopics {
		t.Error("topics must be created by firegrid with their partition counts, not auto-created by the broker")
	}
	// PostgreSQL: host, port, user, password and database.
	pg, err := url.Parse(cfg.Postgres.DSN)
	if err != nil {
		t.Fatalf("postgres.dsn: %v", err)
	}
	pgEnv := f.Services["postgres"].Environment
	pass, _ := pg.User.Password()
	if pg.Hostname() != "postgres" || pg.Port() != "5432" || pg.User.Username() != pgEnv["POSTGRES_USER"] ||
		pass != pgEnv["POSTGRES_PASSWORD"] || strings.TrimPrefix(pg.Path, "/") != pgEnv["POSTGRES_DB"] {
		t.Errorf("postgres.dsn %s does not match the postgres service %v", pg.Redacted(), pgEnv)
	}
	// InfluxDB: host, port, org, bucket and token of the setup.
	in, err := url.Parse(cfg.Influx.URL)
	inEnv := f.Services["influxdb"].Environment
	if err != nil || in.Hostname() != "influxdb" || in.Port() != "8086" || cfg.Influx.Org != inEnv["DOCKER_INFLUXDB_INIT_ORG"] ||
		cfg.Influx.Bucket != inEnv["DOCKER_INFLUXDB_INIT_BUCKET"] || cfg.Influx.Token != inEnv["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] {
		t.Errorf("influx %+v does not match the influxdb service %v", cfg.Influx, inEnv)
	}
	// The console: the alarm role publishes the port it serves.
	_, httpPort := splitHostPort(t, "http", cfg.HTTP)
	var published bool
	for _, p := range f.Services["alarm"].Ports {
		if s, ok := p.(string); ok && strings.HasSuffix(s, ":"+httpPort) {
			published = true
		}
	}
	if !published {
		t.Errorf("the alarm service does not publish its http port %s (the console)", httpPort)
	}
	// The simulator is optional.
	if sim, ok := f.Services["simulator"]; !ok || !slices.Contains(sim.Profiles, "simulator") {
		t.Error("want a simulator service under the simulator profile")
	}
	for name, s := range f.Services {
		if len(s.Profiles) == 0 && name != "simulator" && name != "firegrid" {
			continue
		}
		if name == "firegrid" && !slices.Contains(s.Profiles, "allinone") {
			t.Error("the all-in-one must not start with the roles (both would take every device message)")
		}
	}
}

// TestPrometheusScrapesEveryRole: every role is a scrape target, by its
// service name and the port of http: in the roles' configuration.
func TestPrometheusScrapesEveryRole(t *testing.T) {
	f := loadCompose(t)
	cfg, err := assembly.LoadConfig(roleConfig)
	if err != nil {
		t.Fatal(err)
	}
	_, httpPort := splitHostPort(t, "http", cfg.HTTP)
	prom := f.Services["prometheus"]
	if mountTarget(prom, "./deploy/prometheus/prometheus.yml") != "/etc/prometheus/prometheus.yml" {
		t.Error("prometheus.yml is not mounted where the command reads it")
	}
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := map[string]bool{}
	for _, j := range pc.ScrapeConfigs {
		for _, sc := range j.StaticConfigs {
			for _, tg := range sc.Targets {
				h, p := splitHostPort(t, j.JobName, tg)
				if h == "localhost" {
					continue
				}
				if _, ok := f.Services[h]; !ok {
					t.Errorf("job %s: target %s is not a service", j.JobName, tg)
				}
				if slices.Contains(assembly.Roles, h) && p != httpPort {
					t.Errorf("job %s: port %s, the role serves /metrics on %s", j.JobName, p, httpPort)
				}
				scraped[h] = true
			}
		}
		for _, sd := range j.DNSSDConfigs {
			for _, n := range sd.Names {
				if _, ok := f.Services[n]; !ok {
					t.Errorf("job %s: %s is not a service", j.JobName, n)
				}
				if fmt.Sprint(sd.Port) != httpPort {
					t.Errorf("job %s: port %d, the role serves /metrics on %s", j.JobName, sd.Port, httpPort)
				}
				scraped[n] = true
			}
		}
	}
	for _, role := range assembly.Roles {
		if !scraped[role] {
			t.Errorf("role %s is not scraped", role)
		}
	}
}

// TestGrafanaProvisioning: the datasources and dashboards Grafana is given
// parse, every panel uses a provisioned datasource, and the dashboard has
// the panels operators look for.
func TestGrafanaProvisioning(t *testing.T) {
	f := loadCompose(t)
	g := f.Services["grafana"]
	if mountTarget(g, "./deploy/grafana/provisioning") != "/etc/grafana/provisioning" {
		t.Error("grafana provisioning is not mounted at /etc/grafana/provisioning")
	}
	var ds struct {
		Datasources []struct {
			Name     string         `yaml:"name"`
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			URL      string         `yaml:"url"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/datasources.yaml", &ds)
	uids := map[string]string{}
	for _, d := range ds.Datasources {
		uids[d.UID] = d.Type
		u, err := url.Parse(d.URL)
		if err != nil {
			t.Fatalf("datasource %s: %v", d.Name, err)
		}
		if _, ok := f.Services[u.Hostname()]; !ok {
			t.Errorf("datasource %s: %s is not a service", d.Name, u.Hostname())
		}
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/dashboards.yaml", &prov)
	if len(prov.Providers) != 1 || mountTarget(g, "./deploy/grafana/dashboards") != prov.Providers[0].Options.Path {
		t.Errorf("the dashboards provider reads %+v; ./deploy/grafana/dashboards is mounted at %q", prov.Providers, mountTarget(g, "./deploy/grafana/dashboards"))
	}
	entries, err := os.ReadDir("grafana/dashboards")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var titles []string
	for _, e := range entries {
		b, err := os.ReadFile("grafana/dashboards/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				Title      string `json:"title"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
				Targets []struct {
					Expr       string `json:"expr"`
					Query      string `json:"query"`
					Datasource struct {
						UID string `json:"uid"`
					} `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		for _, p := range d.Panels {
			titles = append(titles, p.Title)
			if _, ok := uids[p.Datasource.UID]; !ok {
				t.Errorf("%s: panel %q uses datasource %q, not provisioned", e.Name(), p.Title, p.Datasource.UID)
			}
			for _, tg := range p.Targets {
				if _, ok := uids[tg.Datasource.UID]; !ok || tg.Expr+tg.Query == "" {
					t.Errorf("%s: panel %q has a target without query or with datasource %q", e.Name(), p.Title, tg.Datasource.UID)
				}
			}
		}
	}
	for _, want := range []string{"Ingest rate", "Pipeline latency by stage", "Incidents by type", "Incidents by community", "Device health", "Facility intact rate"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no panel %q (have %v)", want, titles)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
