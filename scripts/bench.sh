#!/usr/bin/env bash
# Prints real benchmark figures (no race detector, -benchmem), with the same
# services as scripts/test.sh, in the format benchstat reads:
#
#   ./scripts/bench.sh > new.txt && benchstat old.txt new.txt
#
# Environment (all optional):
#   FIREGRID_BENCH_PKGS   packages (default ./...)
#   FIREGRID_BENCH        -bench pattern (default .)
#   FIREGRID_BENCH_COUNT  -count, runs of each benchmark (default 1; use 6+
#                         for benchstat)
#   FIREGRID_BENCHTIME    -benchtime (default 1s)
#   and the service variables of scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh

trap fg_stop_postgres EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r -a pkgs <<<"${FIREGRID_BENCH_PKGS:-./...}"

# Set-up goes to standard error so that standard output is only results.
{
	fg_section "services"
	fg_install_packages
	fg_build_influxd
	fg_start_postgres
} >&2
export FIREGRID_REQUIRE_SERVICES=1

echo "# $(go version), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
go test -run '^$' -bench "${FIREGRID_BENCH:-.}" -benchmem \
	-count "${FIREGRID_BENCH_COUNT:-1}" -benchtime "${FIREGRID_BENCHTIME:-1s}" \
	-timeout 60m "${pkgs[@]}"
