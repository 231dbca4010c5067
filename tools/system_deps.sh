#!/usr/bin/env bash
# Install the Debian packages that the browser (chromium) and Slurm tests need, if missing.
# Idempotent; does nothing where apt-get is unavailable or we are not root (those tests then skip
# with a stated reason).
set -u
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v slurmctld >/dev/null || need+=(slurmctld slurmd slurm-client munge)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: cannot install ${need[*]} (needs root and apt-get); the tests that use them will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# another apt/dpkg may be running (a second `make test`): wait for its lock instead of failing
apt_opts=(-o DPkg::Lock::Timeout=300)
apt-get "${apt_opts[@]}" update -qq >/dev/null \
  && apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  && echo "system-deps: installed ${need[*]}" \
  || echo "system-deps: apt-get install ${need[*]} failed; the tests that use them will skip"
