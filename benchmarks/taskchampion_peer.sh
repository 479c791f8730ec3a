#!/bin/sh
# Make TaskChampion measurable as bench_long_lived's peer on a machine where its
# Python binding cannot be built (it needs crates.io): Debian unstable ships it
# built (python3-taskchampion-py, for its own Python), so this puts a minimal
# Debian unstable root at $ROOT and installs it there. Needs root, debootstrap
# (apt-get install debootstrap) and deb.debian.org. Idempotent.
#
#   sudo sh benchmarks/taskchampion_peer.sh        # then: python -m benchmarks.bench_long_lived
#
# bench_long_lived finds it at /opt/tc-sid, or wherever TASKLEDGER_TASKCHAMPION
# says (a command that runs a Python which imports taskchampion, e.g.
# "chroot /opt/tc-sid /usr/bin/python3").
set -eu
ROOT=${1:-/opt/tc-sid}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    mkdir -p "$ROOT"
    debootstrap --variant=minbase sid "$ROOT" "$MIRROR"
fi
mkdir -p "$ROOT/tmp"
# (a mirror snapshot older than its Release file's Valid-Until is still the archive)
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -q &&
           apt-get -o Acquire::Check-Valid-Until=false install -y -q --no-install-recommends \
               python3-taskchampion-py'
chroot "$ROOT" /usr/bin/python3 -c 'import taskchampion; print("taskchampion ready in '"$ROOT"'")'
