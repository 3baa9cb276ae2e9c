#!/usr/bin/env bash
# Runs every check CI runs, against real servers: gofmt, go vet,
# go test -race with each benchmark run once as a smoke check, and the
# fault suite (faults injected into running firegrids, without -race;
# about 5 minutes; see "What survives what" in the README). It installs
# what is missing (Mosquitto, its clients, kcat, Chromium: apt-get), builds
# InfluxDB 1.8 once into a cache, and starts a PostgreSQL cluster of its
# own for the run. Safe to run twice at once; exits non-zero on any failure.
#
#   ./scripts/test.sh
#
# Environment (all optional):
#   FIREGRID_TEST_PKGS   packages to check (default ./...)
#   FIREGRID_TEST_RUN    go test -run pattern (default: every test)
#   FIREGRID_TEST_RACE   0 runs the tests without the race detector
#   FIREGRID_TEST_BENCH  0 skips running each benchmark once
#   FIREGRID_TEST_TIMEOUT  go test -timeout (default 20m)
#   FIREGRID_TEST_FAULTS 0 skips the fault suite, 1 runs it even when
#                        FIREGRID_TEST_PKGS or FIREGRID_TEST_RUN narrow the
#                        run (by default it runs only in a full run)
#   FIREGRID_TEST_PG_DSN PostgreSQL server to use instead of starting one
#   FIREGRID_PG_BIN      directory of initdb and pg_ctl (default: newest
#                        /usr/lib/postgresql/N/bin, else PATH)
#   FIREGRID_INFLUXD     influxd 1.8 to use instead of building one
#   FIREGRID_MOSQUITTO   mosquitto binary (default: PATH, /usr/sbin)
#   FIREGRID_CACHE       cache directory (default ~/.cache/firegrid)
#   FIREGRID_NO_INSTALL  1 reports missing packages instead of installing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh

trap fg_stop_postgres EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r -a pkgs <<<"${FIREGRID_TEST_PKGS:-./...}"
failed=()

fg_section "environment"
go version
echo "cores: $(nproc), packages: ${pkgs[*]}, cache: $FIREGRID_CACHE"

fg_section "packages (apt)"
fg_install_packages

fg_section "influxd $FG_INFLUXDB_VERSION"
fg_build_influxd

fg_section "postgresql"
fg_start_postgres

export FIREGRID_REQUIRE_SERVICES=1
if [[ -z ${FIREGRID_MOSQUITTO:-} ]] && ! command -v mosquitto >/dev/null 2>&1; then
	for m in /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
		if [[ -x $m ]]; then
			export FIREGRID_MOSQUITTO=$m
			break
		fi
	done
fi
echo
echo "FIREGRID_REQUIRE_SERVICES=1 FIREGRID_INFLUXD=$FIREGRID_INFLUXD FIREGRID_MOSQUITTO=${FIREGRID_MOSQUITTO:-$(command -v mosquitto || true)}"
echo "FIREGRID_TEST_PG_DSN=$FIREGRID_TEST_PG_DSN"

fg_section "gofmt"
# Every Go file of the packages checked, including test files and files
# behind build tags.
mapfile -t gofiles < <(go list -e -f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .TestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}
{{end}}' "${pkgs[@]}" | sed '/^$/d' | sort -u)
unformatted=
# (gofmt with no file would read standard input.)
if [[ ${#gofiles[@]} -gt 0 ]]; then
	unformatted=$(gofmt -l "${gofiles[@]}" 2>&1 || true)
fi
if [[ -n $unformatted ]]; then
	echo "not gofmt-ed (run gofmt -w on them):"
	echo "${unformatted//$PWD\//}"
	failed+=(gofmt)
else
	echo "${#gofiles[@]} files formatted"
fi

fg_section "go vet"
if go vet "${pkgs[@]}"; then
	echo "vet clean"
else
	failed+=("go vet")
fi

fg_section "go test"
args=(-count=1 -timeout "${FIREGRID_TEST_TIMEOUT:-20m}")
if [[ ${FIREGRID_TEST_RACE:-1} != 0 ]]; then
	args+=(-race)
fi
if [[ -n ${FIREGRID_TEST_RUN:-} ]]; then
	args+=(-run "$FIREGRID_TEST_RUN")
fi
if [[ ${FIREGRID_TEST_BENCH:-1} != 0 ]]; then
	# One iteration of each benchmark, after the tests, in the same
	# binaries: it proves they run, not how fast (scripts/bench.sh does).
	args+=(-bench . -benchtime 1x)
fi
echo "go test ${args[*]} ${pkgs[*]}"
if ! go test "${args[@]}" "${pkgs[@]}"; then
	failed+=("go test")
fi

fg_section "fault suite"
faults=${FIREGRID_TEST_FAULTS:-}
if [[ -z $faults ]]; then
	faults=0
	if [[ -z ${FIREGRID_TEST_PKGS:-} && -z ${FIREGRID_TEST_RUN:-} ]]; then
		faults=1
	fi
fi
if [[ $faults == 1 ]]; then
	# Without the race detector: the suite measures latencies and
	# recovery times, and runs real servers and firegrid processes.
	echo "FIREGRID_FAULTS=1 go test -count=1 -timeout 15m -run '^TestFaults\$' -v ./assembly"
	if ! FIREGRID_FAULTS=1 go test -count=1 -timeout 15m -run '^TestFaults$' -v ./assembly; then
		failed+=("fault suite")
	fi
else
	echo "skipped (a narrowed run; FIREGRID_TEST_FAULTS=1 runs it)"
fi

fg_summary
if [[ ${#failed[@]} -gt 0 ]]; then
	printf '\nFAILED:'
	printf ' [%s]' "${failed[@]}"
	printf '\n'
	exit 1
fi
printf '\nall checks passed\n'
