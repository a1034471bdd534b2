#!/usr/bin/env bash
# A single-node Slurm on loopback, for the sweep's tests: Debian's slurm-wlm and munge, run as the
# current user from a state folder of their own (nothing under /etc is touched).
#
#   tools/slurm/local-slurm.sh start DIR   # writes DIR/slurm.conf, starts munged, slurmctld, slurmd;
#                                          # prints `export SLURM_CONF=DIR/slurm.conf`
#   tools/slurm/local-slurm.sh stop DIR    # stops the three daemons it started
#   tools/slurm/local-slurm.sh install     # apt-get install slurm-wlm munge (Debian/Ubuntu)
set -euo pipefail

command=${1:-}
dir=${2:-}

die() { echo "local-slurm: $*" >&2; exit 1; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null
}

# Runs a daemon with none of this shell's descriptors but 0-2 (pointed at /dev/null): a caller
# that waits for its child through an inherited descriptor (Foundation's Process does) must not
# wait for the daemons too.
detached() {
  (
    for fd in /proc/self/fd/*; do
      n=${fd##*/}
      if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) </dev/null >/dev/null 2>&1
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

start() {
  [ -n "$dir" ] || die "usage: $0 start DIR"
  command -v slurmctld >/dev/null || die "slurmctld not found (run: $0 install)"
  mkdir -p "$dir"/{state,spool,log,munge}
  dir=$(cd "$dir" && pwd)
  local user host cpus memory ctld_port d_port
  user=$(id -un)
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  ctld_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done

  # munge: a key and a socket of its own.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
  chmod 0600 "$dir/munge/munge.key"
  chmod 0755 "$dir/munge"
  detached munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"

  cat > "$dir/slurm.conf" <<CONF
ClusterName=prune-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
Waittime=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxArraySize=10001
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

  export SLURM_CONF="$dir/slurm.conf"
  detached slurmctld -c -f "$SLURM_CONF"
  detached slurmd -f "$SLURM_CONF"

  # Wait until the node takes work.
  local i state=""
  for i in $(seq 1 60); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
    case "$state" in idle*|mix*|alloc*) echo "export SLURM_CONF=$SLURM_CONF"; return 0 ;; esac
    sleep 0.5
  done
  die "the node did not come up (state '$state'); see $dir/log"
}

stop() {
  [ -n "$dir" ] || die "usage: $0 stop DIR"
  local pidfile pid
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case "$command" in
  install) install_packages ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
