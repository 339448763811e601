#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for lgbench (run as root).
# Installs the system stack libguestfs needs, then a venv that sees python3-guestfs.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libguestfs-tools python3-guestfs qemu-system-x86 qemu-utils user-mode-linux
          libvirt-daemon-system libvirt-clients linux-image-amd64 python3-venv
          acl  # setfacl: libvirt's qemu user may traverse the private cache
          gcc libc6-dev  # gcc: the UML backend builds a small LD_PRELOAD library
          debootstrap  # lgbench-images build debian
          chromium  # the HTML report's rendering test
          slurmctld slurmd slurmdbd slurm-client munge mariadb-server)  # a one-node SLURM
          # cluster with accounting (tests, make cluster-up; started and stopped by them)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: apt packages are missing and this is not root; install them: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.lgbench-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
