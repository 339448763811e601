#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for lgbench (run as root):
#   setup.sh run       what lgbench needs to run (make run)
#   setup.sh cluster   that, and a one-node SLURM cluster's packages (make cluster-up)
#   setup.sh test      that, and what the tests need: the cluster, chromium, pytest, MkDocs
#                      (make test, make docs)
# Installs the system packages missing, then a venv from /usr/bin/python3 that sees Debian's
# python3-guestfs (--system-site-packages), then lgbench into it.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_PACKAGES=(libguestfs-tools python3-guestfs qemu-system-x86 qemu-utils user-mode-linux
              libvirt-daemon-system libvirt-clients linux-image-amd64 python3-venv
              acl  # setfacl: libvirt's qemu user may traverse the private cache
              gcc libc6-dev  # gcc: the UML backend builds a small LD_PRELOAD library
              debootstrap)  # lgbench-images build debian
# A one-node SLURM cluster with accounting (started and stopped by the tests and make cluster-up).
CLUSTER_PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server)
TEST_PACKAGES=(chromium)  # the HTML report's rendering test

target="${1:-run}"
case "$target" in
  run) packages=("${RUN_PACKAGES[@]}"); extra="" ;;
  cluster) packages=("${RUN_PACKAGES[@]}" "${CLUSTER_PACKAGES[@]}"); extra="" ;;
  test) packages=("${RUN_PACKAGES[@]}" "${CLUSTER_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
        extra="[test]" ;;
  *) echo "setup: usage: $0 run|cluster|test" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
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
# Reinstall only when pyproject.toml changed since this target's last install.
stamp=".venv/.lgbench-installed${extra:+-test}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q -e ".$extra"
  touch "$stamp"
fi
