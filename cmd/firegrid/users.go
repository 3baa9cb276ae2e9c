package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/store"
)

// users runs `firegrid users add`: it writes a user with a bcrypt hash of
// the password into the users file, or into the store's users table with
// --postgres DSN or --data DIR (or --config naming dispatch.users: db). The
// password comes from FIREGRID_PASSWORD or the first line of standard
// input, never from a flag (flags end up in shell history and process
// lists). A user of the same name is replaced, in a file as in a database.
func users(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: firegrid users add [--file configs/users.yaml | --postgres DSN | --data DIR | --config FILE] " +
			"--username NAME --role crew|center119|subdistrict|admin|grid_worker|community|property [--station MFS-1] [--area Z-01|C-1] [--org NAME]")
	}
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file     = fs.String("file", "configs/users.yaml", "users file to create or change")
		username = fs.String("username", "", "log-in name")
		name     = fs.String("name", "", "the person's name (optional)")
		role     = fs.String("role", "", "crew, center119, subdistrict, admin, grid_worker, community or property")
		station  = fs.String("station", "", "the crew's station id (required for crew)")
		area     = fs.String("area", "", "a grid worker's zone (Z-01) or a community user's community (C-1); required for those roles")
		org      = fs.String("org", "", "a property company's name, as hazards are dispatched to it (required for property)")
		registry = fs.String("registry", "", "territory directory, or db, to check the station against "+
			"(default: the configuration's; writing to a database, its registry if it holds one; else the embedded demo)")
	)
	sf := addStoreFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: firegrid users add [flags]; the password is read from FIREGRID_PASSWORD or the first line of stdin")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	u := access.User{Username: *username, Name: *name, Role: access.Role(*role), Station: *station, Area: *area, Org: *org}
	if u.Username == "" || u.Role == "" {
		return errors.New("--username and --role are required")
	}
	cfg, err := sf.configuration()
	if err != nil {
		return err
	}
	toDB := sf.set("postgres") || sf.set("data") || (sf.set("config") && cfg.Dispatch.Users == assembly.FromDatabase)
	switch {
	case toDB && sf.set("file"):
		return errors.New("--file writes a users file, --postgres and --data a database: give one")
	case !toDB && !sf.set("file") && cfg.Dispatch.Users != "":
		*file = cfg.Dispatch.Users
	}
	var st *store.SQL
	if toDB {
		if st, err = assembly.OpenStore(ctx, cfg); err != nil {
			return err
		}
		defer st.Close()
	}
	if u.Station != "" || u.Area != "" {
		if sf.set("registry") {
			cfg.Registry = *registry
		}
		var reg *devices.Registry
		if st != nil && cfg.Registry == "" {
			if reg, _, err = st.LoadRegistry(ctx); err != nil && !errors.Is(err, store.ErrNoRegistry) {
				return err
			}
		}
		if reg == nil {
			if reg, err = assembly.LoadConfiguredRegistry(ctx, cfg); err != nil {
				return err
			}
		}
		if _, ok := reg.Station(u.Station); u.Station != "" && !ok {
			return fmt.Errorf("--station %q is not a station of the registry", u.Station)
		}
		if a, ok := reg.Area(u.Area); u.Area != "" && (!ok || (a.Level != devices.LevelZone && a.Level != devices.LevelCommunity)) {
			return fmt.Errorf("--area %q is not a zone or community of the registry", u.Area)
		}
	}
	password := os.Getenv("FIREGRID_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := access.CheckPassword(u.Username, password); err != nil {
		return err
	}
	hash, err := access.HashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	if st != nil {
		if err := st.SaveUser(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s (%s) written to %s\n", u.Username, u.Role, describeStore(cfg))
		return nil
	}
	if err := access.AddUser(*file, u); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (%s) written to %s\n", u.Username, u.Role, *file)
	return nil
}
