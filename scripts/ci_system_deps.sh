#!/usr/bin/env bash
# System packages the test suite uses beyond Python (called from .ci/run).
#   slurmctld slurmd slurm-client munge: tests/test_slurm.py starts a one-node
#   SLURM on localhost with scripts/slurm_localhost.sh (which installs them
#   itself when missing; installing here keeps the test's time down).
# Without root or apt-get nothing is installed and those tests skip, saying why.
set -uo pipefail
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "ci_system_deps: no apt-get or not root; SLURM tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
  || echo "ci_system_deps: could not install slurm packages; SLURM tests will skip" >&2
# Headless browser for the HTML-report and compare-page tests (driven over its DevTools pipe,
# no chromedriver); cjpeg for benchmarks/compress_throughput.py.
apt-get install -y -qq --no-install-recommends chromium libjpeg-turbo-progs make >/dev/null 2>&1 \
  || echo "ci_system_deps: could not install chromium; the report test will skip its browser check" >&2
exit 0
