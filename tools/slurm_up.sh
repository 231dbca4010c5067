#!/usr/bin/env bash
# Bring up a single-node Slurm on 127.0.0.1 for the Slurm workflow test (tests/test_slurm.py).
#
# Adapted from ../shared/slurm/slurm_up.sh (Debian 12, Slurm 22.05, munge; root, no systemd).
# Everything Slurm writes lives under $SLURM_DIR (default /tmp/skelvis-slurm). Daemons this script
# starts are listed in $SLURM_DIR/started (one PID file per line) so that tools/slurm_down.sh
# stops exactly those, by PID, and leaves alone a munged or slurmctld that was running before.
#
# The two silent traps of the recipe, handled here:
#  1. snakemake's slurm-jobstep strips every SLURM_* variable (SLURM_CONF too) before its inner
#     srun, so the config is also linked to the default path /etc/slurm/slurm.conf.
#  2. without slurmdbd, `sacct` only says "accounting storage is disabled" and the executor
#     plugin polls it forever: use `--slurm-status-command squeue` (finished jobs stay visible
#     to squeue for an hour: MinJobAge=3600).
#
# Exit status: 0 up, 3 cannot run here (not root, no apt-get, packages failed), 1 other failure.
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/tmp/skelvis-slurm}
export SLURM_CONF=$SLURM_DIR/slurm.conf
say() { echo "slurm_up: $*"; }

if [ "$(id -u)" != 0 ]; then say "needs root (it starts munged, slurmctld, slurmd)"; exit 3; fi

# 1. packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { say "slurm packages missing and no apt-get"; exit 3; }
  export DEBIAN_FRONTEND=noninteractive
  # another process may hold the dpkg lock for a while (tools/system_deps.sh): wait for it
  if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq \
         && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
              slurmctld slurmd slurm-client munge; } >"${TMPDIR:-/tmp}/skelvis-slurm-apt.log" 2>&1; then
    say "apt-get install slurmctld slurmd slurm-client munge failed (see ${TMPDIR:-/tmp}/skelvis-slurm-apt.log)"
    exit 3
  fi
fi

mkdir -p "$SLURM_DIR"/state "$SLURM_DIR"/spool /etc/slurm
: > "$SLURM_DIR/started"

# 2. munge: key, runtime dir, daemon as user munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
if ! pidof munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
  echo /run/munge/munged.pid >> "$SLURM_DIR/started"
fi
munge -n | unmunge >/dev/null   # round-trip check

# 3. minimal slurm.conf: one node with this machine's CPUs and memory, partition "debug"
# (nproc obeys OMP_NUM_THREADS, which test harnesses set to 1: ask for the real count)
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
MEM=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
cat > "$SLURM_CONF" <<CONF
ClusterName=skelvis
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf   # trap 1

# 4. daemons (both daemonize; -N localhost because the hostname is not 'localhost')
if ! pidof slurmctld >/dev/null; then
  /usr/sbin/slurmctld -f "$SLURM_CONF"
  echo "$SLURM_DIR/slurmctld.pid" >> "$SLURM_DIR/started"
fi
if ! pidof slurmd >/dev/null; then
  /usr/sbin/slurmd -f "$SLURM_CONF" -N localhost
  echo "$SLURM_DIR/slurmd.pid" >> "$SLURM_DIR/started"
fi
for i in $(seq 1 30); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o %T | grep -qx idle || { say "node did not become idle"; sinfo || true; exit 1; }
timeout 60 sbatch --wait --wrap hostname -o "$SLURM_DIR/hostname-%j.out" >/dev/null
say "up: $(sinfo -h -o '%P %D %c cpus %m MB %T' | head -1); export SLURM_CONF=$SLURM_CONF"
