package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/store"
)

// Login is a user name and password the demo prints at start.
type Login struct {
	Username string
	Password string
	Role     access.Role
	Station  string
	// Area is a grid worker's zone or a community's; Org a property
	// company's name.
	Area string
	Org  string
}

// DemoProperty is the demo's property company (物业), which hazards are
// dispatched to.
const DemoProperty = "福寿街物业"

// DemoLogins are the demo's users: one crew per station, the 119 centre,
// the sub-district and an administrator; for the hazard loop, one user
// per community, the grid worker of each community's first zone, and a
// property company. Their passwords are public (the demo is a demo) but
// meet access.CheckPassword like any other.
func DemoLogins(reg *devices.Registry) []Login {
	var out []Login
	for _, st := range reg.Stations() {
		name := strings.ToLower(st.ID)
		out = append(out, Login{Username: name, Password: "demo-duty-" + strings.ReplaceAll(name, "-", ""), Role: access.RoleCrew, Station: st.ID})
	}
	out = append(out,
		Login{Username: "center119", Password: "demo-dispatch-119", Role: access.RoleCenter119},
		Login{Username: "subdistrict", Password: "demo-street-office", Role: access.RoleSubdistrict},
		Login{Username: "admin", Password: "demo-system-desk-1", Role: access.RoleAdmin})
	for _, c := range reg.Areas(devices.LevelCommunity) {
		id := strings.ToLower(c.ID)
		out = append(out, Login{Username: id, Password: "demo-community-desk-" + strings.TrimPrefix(id, "c-"), Role: access.RoleCommunity, Area: c.ID})
		for _, z := range reg.Areas(devices.LevelZone) {
			if z.Parent == c.ID {
				zid := strings.ToLower(z.ID)
				out = append(out, Login{Username: "gw-" + zid, Password: "demo-patrol-" + strings.ReplaceAll(zid, "-", ""), Role: access.RoleGridWorker, Area: z.ID})
				break
			}
		}
	}
	return append(out, Login{Username: "property", Password: "demo-estate-office", Role: access.RoleProperty, Org: DemoProperty})
}

// loadUsers returns the configured users (the demo's when the demo runs
// without a users file) and, for the demo, the log-ins to print. No users
// means no log-ins, which is logged as a warning. With dispatch.users: db
// the users are st's, checked against reg as a users file's are.
func loadUsers(ctx context.Context, cfg Config, reg *devices.Registry, log *slog.Logger, st *store.SQL) ([]access.User, []Login, error) {
	if cfg.Dispatch.Users == FromDatabase {
		return usersFromStore(ctx, st, reg)
	}
	if cfg.Dispatch.Users != "" {
		f, err := access.LoadUsers(cfg.Dispatch.Users, reg)
		if err != nil {
			return nil, nil, fmt.Errorf("users: %w", err)
		}
		if len(f.Users) == 0 {
			return nil, nil, fmt.Errorf("users: %s has no users; add one with firegrid users add", cfg.Dispatch.Users)
		}
		return f.Users, nil, nil
	}
	if !cfg.Demo.Enabled {
		log.Warn("no users configured: anyone who reaches the console may see and act on every incident; add users with `firegrid users add` and set dispatch.users")
		return nil, nil, nil
	}
	logins := DemoLogins(reg)
	users := make([]access.User, 0, len(logins))
	for _, l := range logins {
		// The demo's passwords are printed for all to see: hashing them
		// hard would only slow the start.
		h, err := access.HashPasswordCost(l.Password, bcrypt.MinCost)
		if err != nil {
			return nil, nil, err
		}
		users = append(users, access.User{Username: l.Username, Role: l.Role, Station: l.Station, Area: l.Area, Org: l.Org, PasswordHash: h})
	}
	return users, logins, nil
}

// usersFromStore returns the users of the store's users table, each
// checked against the registry's stations.
func usersFromStore(ctx context.Context, st *store.SQL, reg *devices.Registry) ([]access.User, []Login, error) {
	if st == nil {
		return nil, nil, errors.New("dispatch.users: db needs a store")
	}
	users, err := st.Users(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("users: %w", err)
	}
	if len(users) == 0 {
		return nil, nil, errors.New("users: dispatch.users is db, but the database has no users; add one with " +
			"firegrid users add --postgres DSN (or --data DIR for SQLite)")
	}
	var errs []error
	for _, u := range users {
		if err := (&access.UsersFile{Users: []access.User{u}}).Validate(reg); err != nil {
			// The key path of a one-user file ("users.0.station") says
			// nothing here; the username does.
			msg := strings.ReplaceAll(err.Error(), "users.0.", "")
			errs = append(errs, fmt.Errorf("user %q in the database: %s", u.Username, msg))
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("users: %w", errors.Join(errs...))
	}
	return users, nil, nil
}
