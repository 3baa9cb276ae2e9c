package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
	"github.com/firegrid/firegrid/store"
)

const devicesUsage = `usage: firegrid devices credentials issue|rotate|revoke|list|mosquitto|emqx [flags]
       firegrid devices tls --out DIR [--host NAMES]

  credentials issue      give every registry device without MQTT credentials a secret (and
                         services with --service NAME=ROLE); secrets go to --out (id,username,password)
  credentials rotate     new secrets for --device ID ... or --all; the old ones stop working
  credentials revoke     remove accounts (--username NAME ...); their connections are closed
  credentials list       the accounts, without secrets
  credentials mosquitto  write Mosquitto's password_file and acl_file (--out DIR) from the accounts
  credentials emqx       write EMQX's users import (users.csv) and acl.conf (--out DIR) from the accounts
  tls                    a development CA and server certificate for a broker's TLS listener

Accounts are kept in the store (--data DIR for SQLite, --postgres DSN, or --config FILE); only
$7$ hashes are kept. Run 'firegrid devices credentials <command> --help' for its flags.`

// devicesCmd runs `firegrid devices ...`.
func devicesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) >= 1 && args[0] == "tls" {
		return devicesTLS(args[1:], stdout, stderr)
	}
	if len(args) < 2 || args[0] != "credentials" {
		return errors.New(devicesUsage)
	}
	switch args[1] {
	case "issue", "rotate":
		return credentialsIssue(ctx, args[1], args[2:], stdout, stderr)
	case "revoke":
		return credentialsRevoke(ctx, args[2:], stdout, stderr)
	case "list":
		return credentialsList(ctx, args[2:], stdout, stderr)
	case "mosquitto":
		return credentialsMosquitto(ctx, args[2:], stdout, stderr)
	case "emqx":
		return credentialsEMQX(ctx, args[2:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q\n%s", args[1], devicesUsage)
}

// listFlag is a flag given any number of times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// credentialsRegistry loads the registry whose devices get credentials:
// --registry, else the store's own registry when it holds one, else the
// configured one (the embedded demo by default).
func credentialsRegistry(ctx context.Context, cfg assembly.Config, st *store.SQL, registry string, set bool) (*devices.Registry, error) {
	if set {
		cfg.Registry = registry
	}
	if cfg.Registry == "" {
		reg, _, err := st.LoadRegistry(ctx)
		if err == nil {
			return reg, nil
		}
		if !errors.Is(err, store.ErrNoRegistry) {
			return nil, err
		}
	}
	return assembly.LoadConfiguredRegistry(ctx, cfg)
}

func credentialsIssue(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices credentials "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	registry := fs.String("registry", "", "territory directory, or db (default: the store's registry if it holds one, else the configuration's, else the embedded demo)")
	out := fs.String("out", "", "credentials file (id,username,password) to write the secrets into; rows already there that still match are kept (required with devices)")
	var ids, services listFlag
	fs.Var(&ids, "device", "only this device (repeat for more)")
	all := fs.Bool("all", false, "rotate: every device of the registry")
	fs.Var(&services, "service", "also an account for one of firegrid's components, NAME=ROLE with ROLE ingest or observer (repeat for more)")
	serviceDir := fs.String("service-dir", "", "directory of the services' password files NAME.password (default: --out's directory, or .)")
	mosq := fs.String("mosquitto", "", "then write Mosquitto's passwd and acl files into this directory")
	noDevices := fs.Bool("no-devices", false, "issue only the --service accounts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if verb == "rotate" && !*all && len(ids) == 0 {
		return errors.New("rotate: name the devices with --device ID (repeat), or --all")
	}
	if !*noDevices && *out == "" {
		return errors.New("--out FILE is required: the new secrets are written only there (id,username,password)")
	}
	cfg, err := sf.configuration()
	if err != nil {
		return err
	}
	st, err := assembly.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	reg, err := credentialsRegistry(ctx, cfg, st, *registry, sf.set("registry"))
	if err != nil {
		return err
	}
	if !*noDevices {
		devs := reg.Devices("")
		if len(ids) > 0 {
			devs = devs[:0:0]
			for _, id := range ids {
				d, ok := reg.Device(id)
				if !ok {
					return fmt.Errorf("--device %s is not a device of the registry", id)
				}
				devs = append(devs, d)
			}
		}
		known, err := simulator.LoadCredentials(*out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if known == nil {
			known = simulator.Credentials{}
		}
		policy := assembly.IssueMissing
		if verb == "rotate" {
			policy = assembly.IssueAll
		}
		creds, n, err := assembly.IssueCredentials(ctx, st, devs, known, policy)
		if err != nil {
			return err
		}
		// The file keeps what it had for other devices, and the current
		// secrets of these.
		for _, d := range devs {
			delete(known, d.ID)
		}
		for id, c := range creds {
			known[id] = c
		}
		if err := assembly.WriteCredentialsFile(*out, known); err != nil {
			return err
		}
		verbed := "issued"
		if verb == "rotate" {
			verbed = "rotated"
		}
		fmt.Fprintf(stdout, "%s %d device secrets of %d devices in %s; %s holds %d (keep it secret: it is what devices are provisioned with)\n",
			verbed, n, len(devs), describeStore(cfg), *out, len(known))
		if verb == "issue" {
			missing := 0
			for _, d := range devs {
				if _, ok := creds[d.ID]; !ok {
					missing++
				}
			}
			if missing > 0 {
				fmt.Fprintf(stdout, "%d devices already had credentials whose secret is not in %s; they keep them (rotate with --device ID to hand out new ones)\n", missing, *out)
			}
		}
	}
	dir := *serviceDir
	if dir == "" {
		dir = "."
		if *out != "" {
			dir = filepath.Dir(*out)
		}
	}
	for _, s := range services {
		name, role, ok := strings.Cut(s, "=")
		r := access.MQTTRole(role)
		if !ok || !slices.Contains(access.MQTTServiceRoles, r) {
			return fmt.Errorf("--service %q: want NAME=ingest or NAME=observer", s)
		}
		if err := access.CheckMQTTUsername(name); err != nil {
			return fmt.Errorf("--service: %w", err)
		}
		path := filepath.Join(dir, name+".password")
		known := ""
		if b, err := os.ReadFile(path); err == nil {
			known = strings.TrimSpace(string(b))
		}
		secret, fresh, err := assembly.IssueService(ctx, st, reg, name, r, known)
		if err != nil {
			return err
		}
		if fresh {
			if err := assembly.WriteSecretFile(path, secret); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "service %s (%s): new secret in %s\n", name, r, path)
		} else {
			fmt.Fprintf(stdout, "service %s (%s): kept, secret in %s\n", name, r, path)
		}
	}
	if *mosq != "" {
		return writeMosquitto(ctx, st, *mosq, stdout)
	}
	return nil
}

func credentialsRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices credentials revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	var names listFlag
	fs.Var(&names, "username", "account to remove: a device id or a service's name (repeat for more)")
	mosq := fs.String("mosquitto", "", "then write Mosquitto's passwd and acl files into this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(names) == 0 {
		return errors.New("--username NAME is required")
	}
	cfg, err := sf.configuration()
	if err != nil {
		return err
	}
	st, err := assembly.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.DeleteMQTTAccounts(ctx, names...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %d of %d accounts in %s; the embedded broker closes their connections within a second\n", n, len(names), describeStore(cfg))
	if *mosq != "" {
		return writeMosquitto(ctx, st, *mosq, stdout)
	}
	return nil
}

func credentialsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices credentials list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := sf.configuration()
	if err != nil {
		return err
	}
	st, err := assembly.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	list, rev, err := st.MQTTAccounts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d MQTT accounts in %s (revision %d)\n", len(list), describeStore(cfg), rev)
	for _, a := range list {
		what := string(a.Role)
		if a.Role == access.MQTTDevice {
			what += " " + string(a.Kind)
		}
		fmt.Fprintf(stdout, "  %-24s %-16s issued %s\n", a.Username, what, a.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func credentialsMosquitto(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices credentials mosquitto", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	out := fs.String("out", "", "directory to write passwd and acl into (created if needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	st, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return writeMosquitto(ctx, st, *out, stdout)
}

// credentialsEMQX writes what EMQX needs for the same accounts: a users
// file for the built-in database's import (password_based, pbkdf2,
// sha512, 101 iterations, dk_length 64, user_id_type username) and the
// file authorizer's acl.conf.
func credentialsEMQX(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices credentials emqx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	out := fs.String("out", "", "directory to write users.csv and acl.conf into (created if needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	st, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	list, _, err := st.MQTTAccounts(ctx)
	if err != nil {
		return err
	}
	users, err := access.EMQXUsers(list)
	if err != nil {
		return err
	}
	var csvb, acl bytes.Buffer
	cw := csv.NewWriter(&csvb)
	cw.Write([]string{"user_id", "password_hash", "salt", "is_superuser"})
	for _, u := range users {
		cw.Write([]string{u.UserID, u.PasswordHash, u.Salt, "false"})
	}
	cw.Flush()
	if err := access.WriteEMQXACL(&acl, list); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(*out, "users.csv"), csvb.Bytes(), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(*out, "acl.conf"), acl.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "EMQX's users.csv and acl.conf for %d accounts written to %s\n", len(users), *out)
	return nil
}

// writeMosquitto writes Mosquitto's password_file (passwd) and acl_file
// (acl) for the store's accounts. They hold hashes only, and the broker
// (another user) must read them: mode 0644.
func writeMosquitto(ctx context.Context, st *store.SQL, dir string, stdout io.Writer) error {
	list, _, err := st.MQTTAccounts(ctx)
	if err != nil {
		return err
	}
	var pw, acl bytes.Buffer
	if err := access.WriteMosquittoPasswd(&pw, list); err != nil {
		return err
	}
	if err := access.WriteMosquittoACL(&acl, list); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"passwd": pw.Bytes(), "acl": acl.Bytes()} {
		if err := writeFileAtomic(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Mosquitto's passwd and acl for %d accounts written to %s (reload Mosquitto: kill -HUP, or docker compose kill -s HUP mosquitto)\n", len(list), dir)
	return nil
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
