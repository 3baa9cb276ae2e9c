package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/store"
)

// storeFlags name the store a command reads or writes: --postgres DSN,
// --data DIR (SQLite), or the one a configuration file names.
type storeFlags struct {
	config, postgres, data *string
	set                    func(name string) bool
}

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	f := &storeFlags{
		config:   fs.String("config", "", "configuration file naming the store (postgres.dsn, else data)"),
		postgres: fs.String("postgres", "", "PostgreSQL DSN of the store"),
		data:     fs.String("data", "", "data directory of the SQLite store (default ./data)"),
	}
	f.set = func(name string) bool {
		found := false
		fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
		return found
	}
	return f
}

// named reports whether a store was named by a flag.
func (f *storeFlags) named() bool { return f.set("postgres") || f.set("data") || f.set("config") }

// openStore opens the store the flags name.
func (f *storeFlags) openStore(ctx context.Context) (*store.SQL, error) {
	cfg, err := f.configuration()
	if err != nil {
		return nil, err
	}
	return assembly.OpenStore(ctx, cfg)
}

// configuration returns the configuration the flags make: the file's,
// then --postgres or --data over it (--data alone means SQLite, even when
// the file names PostgreSQL).
func (f *storeFlags) configuration() (assembly.Config, error) {
	if f.set("postgres") && f.set("data") {
		return assembly.Config{}, errors.New("give --postgres or --data, not both")
	}
	cfg := assembly.DefaultConfig()
	if *f.config != "" {
		var err error
		if cfg, err = assembly.LoadConfig(*f.config); err != nil {
			return cfg, err
		}
	}
	if f.set("postgres") {
		cfg.Postgres.DSN = *f.postgres
	}
	if f.set("data") {
		cfg.Data, cfg.Postgres.DSN = *f.data, ""
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// describeStore names a store for messages, without its password.
func describeStore(cfg assembly.Config) string {
	if cfg.Postgres.DSN == "" {
		return "SQLite " + filepath.Join(cfg.Data, "firegrid.db")
	}
	if u, err := url.Parse(cfg.Postgres.DSN); err == nil && u.Host != "" {
		return "PostgreSQL " + u.Redacted()
	}
	return "PostgreSQL"
}

// registry runs `firegrid registry import|export`.
func registry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: firegrid registry import [--postgres DSN | --data DIR | --config FILE] [--from DIR] [--note TEXT]\n" +
		"       firegrid registry export [--postgres DSN | --data DIR | --config FILE] --to DIR [--version N] [--force]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "import":
		return registryImport(ctx, args[1:], stdout, stderr)
	case "export":
		return registryExport(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown registry command %q\n%s", args[0], usage)
}

// registryImport validates a territory directory (default: the embedded
// demo) and saves it into the store as a new version, the one in force for
// roles configured with registry: db.
func registryImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	from := fs.String("from", "", "territory directory to import (default: the embedded demo territory)")
	note := fs.String("note", "", "a note kept with the version (default: where it came from)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := sf.configuration()
	if err != nil {
		return err
	}
	var files map[string][]byte
	source := *from
	if source == "" {
		source = "the embedded demo territory"
		files, err = devices.ReadFilesFS(configs.FS, "demo")
	} else {
		// Load names the files with their directory in its errors.
		if _, err := devices.Load(*from); err != nil {
			return fmt.Errorf("registry refused, nothing imported:\n%w", err)
		}
		files, err = devices.ReadFiles(*from)
	}
	if err != nil {
		return err
	}
	if *note == "" {
		*note = "imported from " + source
	}
	st, err := assembly.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	before := 0
	if vs, err := st.RegistryVersions(ctx); err == nil && len(vs) > 0 {
		before = vs[0].Version
	}
	v, err := st.SaveRegistry(ctx, files, *note)
	if err != nil {
		return err
	}
	reg, _, err := st.LoadRegistry(ctx)
	if err != nil {
		return err
	}
	state := "imported"
	if v == before {
		state = "unchanged"
	}
	fmt.Fprintf(stdout, "registry version %d %s (%s) into %s: %d devices, %d sites, %d stations\n",
		v, state, source, describeStore(cfg), len(reg.Devices("")), len(reg.Sites()), len(reg.Stations()))
	return nil
}

// registryExport writes a version's files (default: the latest) into a
// directory, for editing and importing again.
func registryExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	to := fs.String("to", "", "directory to write the registry files into (created if needed)")
	version := fs.Int("version", 0, "version to export (default: the latest)")
	force := fs.Bool("force", false, "replace registry files already in --to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *to == "" {
		return errors.New("--to DIR is required")
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
	files, v, err := st.RegistryFiles(ctx, *version)
	if err != nil {
		return err
	}
	if err := writeRegistry(*to, files, *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registry version %d from %s written to %s\n", v, describeStore(cfg), *to)
	return nil
}

// writeRegistry writes files into dir. Registry files already there are
// an error unless force; then those the version lacks (residents.csv) are
// removed, so the directory holds exactly the version.
func writeRegistry(dir string, files map[string][]byte, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var present []string
	for _, name := range devices.FileNames() {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			present = append(present, name)
		}
	}
	if len(present) > 0 && !force {
		return fmt.Errorf("%s already holds %s; export elsewhere or replace them with --force", dir, strings.Join(present, ", "))
	}
	for _, name := range present {
		if _, ok := files[name]; !ok {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
