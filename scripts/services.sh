# shellcheck shell=bash
# Functions shared by scripts/test.sh and scripts/bench.sh: install the
# Debian packages the tests use, build InfluxDB 1.8 once into a cache, and
# start a throwaway PostgreSQL cluster. Source it; it runs nothing itself.
#
# Every function is safe to run from two scripts at once: installs and
# builds take a lock, and each PostgreSQL cluster has its own directory and
# port.

# The InfluxDB the tests and docker-compose's future time-series service
# speak to: 1.8 is the last release that builds with `go install` and still
# serves the v2-compatible API (/api/v2/write, /api/v2/query with Flux).
FG_INFLUXDB_VERSION=1.8.10

FIREGRID_CACHE=${FIREGRID_CACHE:-${HOME:-/tmp}/.cache/firegrid}
export FIREGRID_CACHE

# fg_section prints a header that stands out in CI logs and remembers when
# the section started, for fg_summary.
FG_SECTIONS=()
FG_SECTION_START=$SECONDS
fg_section() {
	fg_section_end
	FG_SECTION_NAME=$1
	FG_SECTION_START=$SECONDS
	printf '\n==================== %s ====================\n' "$1"
}

fg_section_end() {
	if [[ -n ${FG_SECTION_NAME:-} ]]; then
		FG_SECTIONS+=("$(printf '%-28s %4ds' "$FG_SECTION_NAME" $((SECONDS - FG_SECTION_START)))")
		FG_SECTION_NAME=
	fi
}

# fg_summary prints how long each section took.
fg_summary() {
	fg_section_end
	printf '\n-------------------- time per section --------------------\n'
	printf '%s\n' "${FG_SECTIONS[@]}"
}

# fg_as_root runs a command as root: directly when we are root, through
# sudo when it exists, else it fails.
fg_as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "need root for: $* (no sudo here)" >&2
		return 1
	fi
}

# fg_have tells whether a binary is on PATH or in the sbin directories,
# which are not on every user's PATH.
fg_have() {
	command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/local/sbin/$1 ]]
}

# fg_install_packages installs, with apt-get, the packages whose binaries
# are missing: mosquitto (the broker tests start), mosquitto-clients
# (mosquitto_pub/sub), kcat (Kafka command-line client), chromium (the
# console's browser test), protoc (the Kafka records' generated code is
# checked against their schema) and postgresql (the server the tests start
# a cluster of). It does nothing when all are there, and
# FIREGRID_NO_INSTALL=1 makes it only report what is missing.
fg_install_packages() {
	local -A want=([mosquitto]=mosquitto [mosquitto_pub]=mosquitto-clients
		[mosquitto_sub]=mosquitto-clients [kcat]=kcat [chromium]=chromium [protoc]=protobuf-compiler)
	if [[ -n ${FIREGRID_MOSQUITTO:-} ]]; then
		unset 'want[mosquitto]'
	fi
	local missing=() bin
	for bin in "${!want[@]}"; do
		fg_have "$bin" || missing+=("${want[$bin]}")
	done
	# The PostgreSQL server (initdb, pg_ctl) the tests start a cluster of.
	if [[ -z ${FIREGRID_TEST_PG_DSN:-} ]] && ! fg_pg_bindir >/dev/null 2>&1; then
		missing+=(postgresql)
	fi
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "all present: ${!want[*]}"
		return 0
	fi
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [[ ${FIREGRID_NO_INSTALL:-} == 1 ]]; then
		echo "missing, not installed (FIREGRID_NO_INSTALL=1): ${missing[*]}"
		return 0
	fi
	echo "installing: ${missing[*]}"
	mkdir -p "$FIREGRID_CACHE"
	(
		# One install at a time from these scripts; apt's own locks
		# are waited for too, in case something else is installing.
		flock 9
		local m=() b
		for b in "${!want[@]}"; do
			fg_have "$b" || m+=("${want[$b]}")
		done
		if [[ -z ${FIREGRID_TEST_PG_DSN:-} ]] && ! fg_pg_bindir >/dev/null 2>&1; then
			m+=(postgresql)
		fi
		[[ ${#m[@]} -eq 0 ]] && exit 0
		# apt's output goes to a log, shown only if it fails.
		local log=$FIREGRID_CACHE/apt.log try
		: >"$log"
		for try in 1 2 3; do
			fg_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q update \
				>>"$log" 2>&1 && break
			if [[ $try -eq 3 ]]; then
				tail -n 30 "$log" >&2
				exit 1
			fi
			sleep $((try * 10))
		done
		mapfile -t m < <(printf '%s\n' "${m[@]}" | sort -u)
		if ! fg_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q \
			install -y --no-install-recommends "${m[@]}" >>"$log" 2>&1; then
			tail -n 30 "$log" >&2
			exit 1
		fi
		echo "installed: ${m[*]}"
	) 9>"$FIREGRID_CACHE/apt.lock"
}

# fg_build_influxd makes sure FIREGRID_INFLUXD names an InfluxDB
# $FG_INFLUXDB_VERSION binary: the one given, or the one in the cache,
# built there with `go install` the first time (about 2 minutes with an
# empty Go module cache on 2 cores; a few seconds to link when only the
# cache's binary is missing).
fg_build_influxd() {
	if [[ -n ${FIREGRID_INFLUXD:-} ]]; then
		if [[ ! -x $FIREGRID_INFLUXD ]]; then
			echo "FIREGRID_INFLUXD=$FIREGRID_INFLUXD is not an executable file" >&2
			return 1
		fi
		echo "using FIREGRID_INFLUXD=$FIREGRID_INFLUXD: $("$FIREGRID_INFLUXD" version)"
		return 0
	fi
	local bindir=$FIREGRID_CACHE/bin
	local bin=$bindir/influxd
	mkdir -p "$bindir"
	(
		flock 9
		if [[ -x $bin ]] && "$bin" version 2>/dev/null | grep -q "v$FG_INFLUXDB_VERSION "; then
			exit 0
		fi
		echo "building influxd $FG_INFLUXDB_VERSION into $bindir (once; about 2 minutes)"
		local start=$SECONDS tmp
		tmp=$(mktemp -d "$bindir/.build.XXXXXX")
		# Built outside this module, with no inherited flags (a -mod or
		# workspace setting of the caller would break `go install @v`),
		# and stamped so that `influxd version` names the release.
		# Its output (a page of "go: downloading") is shown only on failure.
		if ! (cd "$tmp" && env GOFLAGS= GOWORK=off GOTOOLCHAIN=local GOBIN="$tmp" \
			go install -ldflags "-X main.version=$FG_INFLUXDB_VERSION -X main.branch=1.8 -X main.commit=v$FG_INFLUXDB_VERSION" \
			"github.com/influxdata/influxdb/cmd/influxd@v$FG_INFLUXDB_VERSION") >"$tmp.log" 2>&1; then
			tail -n 40 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			exit 1
		fi
		rm -f "$tmp.log"
		mv -f "$tmp/influxd" "$bin"
		rm -rf "$tmp"
		echo "built in $((SECONDS - start))s"
	) 9>"$bindir/.influxd.lock" || return 1
	FIREGRID_INFLUXD=$bin
	export FIREGRID_INFLUXD
	echo "FIREGRID_INFLUXD=$FIREGRID_INFLUXD: $("$bin" version)"
}

# fg_pg_bindir prints the directory of initdb and pg_ctl: FIREGRID_PG_BIN,
# else the newest /usr/lib/postgresql/N/bin, else the directory of pg_ctl on
# PATH.
fg_pg_bindir() {
	if [[ -n ${FIREGRID_PG_BIN:-} ]]; then
		echo "$FIREGRID_PG_BIN"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [[ -n $d && -x $d/initdb ]]; then
		echo "$d"
	elif command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
	else
		return 1
	fi
}

# fg_port_in_use tells whether something listens on 127.0.0.1:$1.
fg_port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# fg_start_postgres starts a PostgreSQL cluster of its own for this run,
# unless FIREGRID_TEST_PG_DSN is already set, and exports
# FIREGRID_TEST_PG_DSN. The cluster lives in a new directory under /tmp,
# listens on 127.0.0.1 only, on a port below the kernel's ephemeral range,
# trusts local connections, and trades durability for speed (fsync off).
# PostgreSQL refuses to run as root, so as root it runs as the postgres
# user, created if missing. fg_stop_postgres removes it all.
fg_start_postgres() {
	if [[ -n ${FIREGRID_TEST_PG_DSN:-} ]]; then
		echo "using the PostgreSQL server of FIREGRID_TEST_PG_DSN"
		return 0
	fi
	local bindir
	if ! bindir=$(fg_pg_bindir); then
		echo "no PostgreSQL server binaries (initdb, pg_ctl): install postgresql, or set FIREGRID_PG_BIN or FIREGRID_TEST_PG_DSN" >&2
		return 1
	fi
	FG_PG_RUN=()
	if [[ $(id -u) -eq 0 ]]; then
		if ! id -u postgres >/dev/null 2>&1; then
			echo "creating the system user postgres (PostgreSQL does not run as root)"
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
		fi
		if command -v runuser >/dev/null 2>&1; then
			FG_PG_RUN=(runuser -u postgres --)
		else
			FG_PG_RUN=(fg_su_postgres)
		fi
	fi
	FG_PG_DIR=$(mktemp -d /tmp/firegrid-pg.XXXXXX)
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$FG_PG_DIR"
	fi
	"${FG_PG_RUN[@]}" "$bindir/initdb" --pgdata="$FG_PG_DIR/data" --username=postgres --auth=trust \
		--encoding=UTF8 --no-locale --no-sync >"$FG_PG_DIR/initdb.log" 2>&1 || {
		cat "$FG_PG_DIR/initdb.log" >&2
		return 1
	}
	local try port
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		fg_port_in_use "$port" && continue
		if "${FG_PG_RUN[@]}" "$bindir/pg_ctl" --pgdata="$FG_PG_DIR/data" --log="$FG_PG_DIR/postgres.log" \
			--wait --timeout=60 --silent \
			-o "-p $port -c listen_addresses=127.0.0.1 -k $FG_PG_DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start; then
			FG_PG_BINDIR=$bindir
			FIREGRID_TEST_PG_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			export FIREGRID_TEST_PG_DSN
			echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') in $FG_PG_DIR: FIREGRID_TEST_PG_DSN=$FIREGRID_TEST_PG_DSN"
			return 0
		fi
		echo "PostgreSQL did not start on port $port (try $try):" >&2
		tail -n 5 "$FG_PG_DIR/postgres.log" >&2 || true
	done
	return 1
}

# fg_su_postgres runs a command as postgres with su, where runuser is missing.
fg_su_postgres() {
	su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
}

# fg_stop_postgres stops the cluster fg_start_postgres started, if any, and
# removes its directory.
fg_stop_postgres() {
	if [[ -n ${FG_PG_DIR:-} ]]; then
		if [[ -n ${FG_PG_BINDIR:-} ]]; then
			"${FG_PG_RUN[@]}" "$FG_PG_BINDIR/pg_ctl" --pgdata="$FG_PG_DIR/data" --mode=immediate --wait --silent stop \
				>/dev/null 2>&1 || true
		fi
		rm -rf "$FG_PG_DIR"
		FG_PG_DIR=
	fi
}
