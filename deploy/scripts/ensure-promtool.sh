#!/usr/bin/env bash
# Make sure `promtool` (from Debian's `prometheus` package) is on PATH.
#
# Used by the test suite (tests/deploy/conftest.py) before `promtool check rules`
# and `promtool check metrics`. Installs the package with apt-get when promtool is
# missing; needs root (or passwordless sudo). Prints the promtool path on success
# and exits non-zero with the reason otherwise, so the calling test FAILS.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "promtool is missing and installing Debian's 'prometheus' package needs root" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool is missing and apt-get is not available: install Prometheus' promtool by hand" >&2
  exit 1
fi

# Several test sessions may call this at once: serialise on a lock so that two
# apt-get runs don't fight over the dpkg lock.
LOCK=/tmp/sepsis-alert-ensure-promtool.lock
exec 9>"$LOCK"
flock -w 900 9 || { echo "timed out waiting for $LOCK" >&2; exit 1; }

if ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  # --no-install-recommends: promtool is all we need, not the server's extras.
  $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
  # The Debian package starts the Prometheus server as a service where systemd
  # runs it; in containers without init nothing is started. We only want the tool.
fi

command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after installing 'prometheus'" >&2; exit 1; }
command -v promtool
