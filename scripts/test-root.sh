#!/usr/bin/env bash
# Makes (once) the clean Debian root the package test installs the .deb into: a debootstrap
# minbase of this machine's Debian release with etcd-server, and no Node. Kept outside the repo
# and reused between runs; rebuilt only when missing.
#   scripts/test-root.sh [DIR]    (default $WARREN_TEST_ROOT, else /var/cache/warren-test-root)
# Prints the directory. Needs root, debootstrap and the Debian mirror apt already uses.
set -euo pipefail
root="${1:-${WARREN_TEST_ROOT:-/var/cache/warren-test-root}}"
if [ -f "$root/.warren-test-root" ]; then echo "$root"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "test-root: building $root needs root" >&2; exit 1; fi
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || { echo "test-root: debootstrap is missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
# the mirror apt uses here (deb822 .sources first, then one-line lists)
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
tmp="$root.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "test-root: debootstrap $suite from $mirror into $root (once; a few minutes)" >&2
# policy-rc.d: etcd-server's postinst must not start a daemon inside the build root
mkdir -p "$tmp/usr/sbin"
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod +x "$tmp/usr/sbin/policy-rc.d"
debootstrap --variant=minbase --include=etcd-server,procps "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
  echo "test-root: debootstrap failed; its log: $tmp.log" >&2
  tail -5 "$tmp.log" >&2
  exit 1
}
rm -f "$tmp.log"
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"*
echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start )) s from $mirror" >"$tmp/.warren-test-root"
mv "$tmp" "$root"
trap - EXIT
echo "test-root: done in $(( $(date +%s) - start )) s" >&2
echo "$root"
