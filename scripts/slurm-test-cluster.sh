#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests and the benchmark of
# `course autograde --backend slurm`. Idempotent: a cluster that already answers is left alone.
#
#   sudo scripts/slurm-test-cluster.sh          # start (installs slurm-wlm and munge if missing)
#   sudo scripts/slurm-test-cluster.sh stop     # stop the daemons it started
#
# The node is this host (`hostname -s`) with 2 CPUs in one partition, `grading`. No systemd is
# needed: munged, slurmctld and slurmd are started directly. Needs root (Debian's packages).
set -euo pipefail

NODE="$(hostname -s)"
CPUS="${SLURM_TEST_CPUS:-2}"
PARTITION="${SLURM_TEST_PARTITION:-grading}"
CONF=/etc/slurm/slurm.conf

die() { echo "slurm-test-cluster: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts system daemons)"

if [ "${1:-start}" = stop ]; then
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "Installing Debian's slurm-wlm and munge..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge \
    >/dev/null
fi

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1; }
if scontrol ping 2>/dev/null | grep -q UP && [ "$(node_state)" = idle ] \
   && sinfo -h -p "$PARTITION" >/dev/null 2>&1 && grep -q "^PartitionName=$PARTITION " "$CONF"; then
  echo "Slurm test cluster already up: node $NODE, partition $PARTITION."
  exit 0
fi

# munge: the key comes with the package; the daemon runs as user munge.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create --force
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
  (munge -n | unmunge) >/dev/null 2>&1 || die "munged did not start (see /var/log/munge)"
fi

install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > "$CONF.new" <<EOF
# Written by scripts/slurm-test-cluster.sh: a one-node test cluster.
ClusterName=coursetest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s "$CONF.new" "$CONF"; then
  mv "$CONF.new" "$CONF"
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do  # restart with the new configuration
    if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then sleep 1; fi
  done
else
  rm -f "$CONF.new"
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running /run/slurmctld.pid || /usr/sbin/slurmctld
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
running /run/slurmd.pid || /usr/sbin/slurmd
for _ in $(seq 100); do
  case "$(node_state)" in
    idle|mixed|allocated) break ;;
    down*|drain*|fail*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.2
done
state="$(node_state)"
case "$state" in
  idle|mixed|allocated) echo "Slurm test cluster up: node $NODE ($CPUS CPUs), partition $PARTITION." ;;
  *) die "node $NODE is '${state:-unknown}' (see /var/log/slurm/slurmd.log)" ;;
esac
