#!/usr/bin/env bash
# Installs whatever Warren needs that is missing, and says what it installs.
#   scripts/setup.sh           what the agent needs: npm packages, etcd, Docker (dockerd started)
#   scripts/setup.sh --test    also what the test suite needs
#   scripts/setup.sh --bench   also what the benchmarks compare against (wrk, nginx, dnsperf, dnsmasq, docker-compose)
#   --quiet                    say nothing when nothing is missing
# As root it installs with apt-get; otherwise it prints the exact command to run and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_bench=0
quiet=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_test=1; want_bench=1 ;;
    --quiet) quiet=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "setup: $*"; }

# Node itself cannot be installed from here in a useful version: check and explain.
node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a===20&&b>=19)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  echo "setup: Warren needs Node.js >= 20.19 (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# Debian packages: command that proves it is there -> package that provides it.
declare -a missing=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] || missing+=("$2"); }
need etcd etcd-server
need dockerd docker.io
need setpriv util-linux
if [ "$want_test" = 1 ]; then
  # the test image copies /bin/busybox into a container: it must be the static build
  if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
  need ip iproute2
  need iptables iptables
  need etcdctl etcd-client
  need curl curl
  need dig bind9-dnsutils
  # the package tests (test/integration/package.test.ts): build a clean Debian root, check the unit
  # and the runtimes' architecture
  need debootstrap debootstrap
  need systemd-analyze systemd
  need file file
  # wall-clock jumps of one agent (test/integration/clock-jump.test.ts): libfaketime
  need faketime faketime
  # the web UI tests drive Debian's Chromium with playwright-core (it never downloads a browser)
  need chromium chromium
fi
if [ "$want_bench" = 1 ]; then
  need wrk wrk
  need nginx nginx
  need dnsperf dnsperf
  need dnsmasq dnsmasq
  # stacks.deploy_ms's anchor: the same compose file brought up by Docker's own compose
  need docker-compose docker-compose
fi
if [ "${#missing[@]}" -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run as root:  apt-get update && $cmd" >&2
    exit 1
  fi
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/warren-apt.log 2>&1 || {
    echo "setup: apt-get failed; its output is in /tmp/warren-apt.log" >&2
    tail -5 /tmp/warren-apt.log >&2
    exit 1
  }
fi

# npm packages: install when absent or when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-fund --no-audit --loglevel=error >/tmp/warren-npm.log 2>&1 || {
    echo "setup: npm ci failed; its output is in /tmp/warren-npm.log" >&2
    tail -5 /tmp/warren-npm.log >&2
    exit 1
  }
fi

# Docker: start the engine when nothing runs it (no service manager on a bare machine).
if ! docker_ok=$(timeout 5 docker version --format '{{.Server.Version}}' 2>/dev/null); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: the Docker engine is not running; start it as root (e.g. dockerd &) or add yourself to the docker group" >&2
    exit 1
  fi
  echo "setup: starting dockerd (log: /var/log/warren-dockerd.log)"
  nohup dockerd >/var/log/warren-dockerd.log 2>&1 &
  for _ in $(seq 1 100); do
    timeout 2 docker version >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! timeout 5 docker version >/dev/null 2>&1; then
    echo "setup: dockerd did not come up; see /var/log/warren-dockerd.log" >&2
    tail -5 /var/log/warren-dockerd.log >&2
    exit 1
  fi
fi
say "ready: node $(node --version), $(etcd --version 2>/dev/null | head -1), docker $(timeout 5 docker version --format '{{.Server.Version}}' 2>/dev/null)"
