#!/usr/bin/env bash
# The Java compiler and Maven (the job's Java module), headless Chromium (the trends page
# test), promtool (alert rule checks) and wrk (the API latency benchmark) are Debian
# packages. Install them when running as root with apt; otherwise print the one command that
# installs them.
set -euo pipefail
# Usage: ensure-system-tools.sh [java] [maven] [browser] [promtool] [wrk]
#        (no argument: what `make test` needs, java maven browser promtool)
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(java maven browser promtool)
missing=()
for tool in "${wanted[@]}"; do
  case "$tool" in
    java) command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless) ;;
    maven) command -v mvn >/dev/null 2>&1 || missing+=(maven) ;;
    browser) command -v chromium >/dev/null 2>&1 || missing+=(chromium) ;;
    promtool) command -v promtool >/dev/null 2>&1 || missing+=(prometheus) ;;
    wrk) command -v wrk >/dev/null 2>&1 || missing+=(wrk) ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The prometheus package starts a server on :9090 where systemd runs; we only need promtool.
  exit 0
fi
echo "missing tools: ${missing[*]}" >&2
echo "install them with: sudo apt-get install ${missing[*]}" >&2
if [[ " ${missing[*]} " == *" openjdk-17-jdk-headless "* || " ${missing[*]} " == *" maven "* ]]; then
  echo "(the job needs javac and Maven to build its Java module)" >&2
  exit 1
fi
echo "(the browser and promtool tests and the API latency benchmark need them)" >&2
exit 0
