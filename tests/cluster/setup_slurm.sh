#!/usr/bin/env bash
# Installs what the Slurm test needs from Debian's packages (munge,
# slurmctld, slurmd, slurm-client), once; other tests may run apt at the
# same time, so it waits for dpkg's lock. Exit 0 when everything is there.
set -u
need=""
for c in munged slurmctld slurmd sbatch; do command -v "$c" >/dev/null || need=1; done
[ -z "$need" ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "setup_slurm: not root, cannot apt-get install slurm"; exit 1; }
command -v apt-get >/dev/null || { echo "setup_slurm: no apt-get on this machine"; exit 1; }
echo "setup_slurm: installing munge slurmctld slurmd slurm-client"
(
  flock -w 600 9 || exit 1
  apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      munge slurmctld slurmd slurm-client >/dev/null
) 9>/tmp/refit-apt.lock
