#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py and for
# trying profiles/slurm by hand.
#
#   scripts/slurm_localhost.sh           install (apt) if needed, write slurm.conf, start daemons
#   scripts/slurm_localhost.sh stop      stop the daemons this script started
#
# Needs root and apt-get (Debian 12: Slurm 22.05). There is no systemd in
# containers like CI's, so munged, slurmctld and slurmd are started by hand.
# Accounting is off (no slurmdbd): Snakemake's SLURM executor must then follow
# jobs with squeue (`--slurm-status-command squeue`), which it honours only when
# MinJobAge >= 3 x `--slurm-init-seconds-before-status-checks`; MinJobAge=300
# here, so init seconds up to 100 work.
#
# Exit status: 0 = cluster up (sinfo shows the node idle); 2 = cannot run here
# (the reason is printed on the last line, prefixed "skip:"); 1 = failed.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/lib/slurm-localhost
LOGS=/var/log/slurm-localhost
RUN=/run/slurm-localhost

skip() { echo "skip: $*"; exit 2; }

if [ "${1:-}" = stop ]; then
  for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  exit 0
fi

[ "$(uname -s)" = Linux ] || skip "SLURM localhost cluster needs Linux (this is $(uname -s))"
[ "$(id -u)" = 0 ] || skip "SLURM localhost cluster needs root to install and start slurmctld/slurmd (running as uid $(id -u))"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || skip "slurmctld/slurmd/munge are not installed and there is no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
    || skip "apt-get install slurmctld slurmd slurm-client munge failed (no package mirror reachable?)"
fi

HOST=$(hostname -s)
mkdir -p "$STATE/ctld" "$STATE/d" "$LOGS" "$RUN" "$CONF_DIR"

# --- munge: the package made /etc/munge/munge.key; munged runs as 'munge'.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none;
                                   chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
  if command -v runuser >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
  else
    su -s /bin/sh munge -c /usr/sbin/munged
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "munged did not start" >&2; exit 1; }
fi

# --- slurm.conf: one node = this machine, names from `hostname -s`.
CPUS=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
REAL_MEM=$(( MEM * 9 / 10 ))          # below what slurmd reports, or the node is drained
DEF_MEM=$(( REAL_MEM / CPUS ))
[ "$DEF_MEM" -gt 1000 ] && DEF_MEM=1000
cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by debiasqe scripts/slurm_localhost.sh: a one-node test cluster.
ClusterName=localhost
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
NodeName=$HOST CPUs=$CPUS RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running "$RUN/slurmctld.pid" && running "$RUN/slurmd.pid"; then
  scontrol reconfigure >/dev/null 2>&1 || true
else
  running "$RUN/slurmctld.pid" || slurmctld -i
  running "$RUN/slurmd.pid" || slurmd
fi

# Wait until the node takes jobs.
for _ in $(seq 100); do
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mixed|allocated) echo "slurm up: node $HOST ($CPUS CPUs, ${REAL_MEM} MB) state $state"; exit 0 ;;
    drain*|down*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
echo "slurm did not come up; sinfo: $(sinfo 2>&1 | tail -2)" >&2
tail -5 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
exit 1
