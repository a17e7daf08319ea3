#!/usr/bin/env bash
# Run a command inside a real single-node SLURM cluster started on this machine (loopback only), then stop it.
#
#   tools/slurm-cluster.sh COMMAND [ARGS...]
#
# Starts munged, slurmctld and slurmd from Debian's packages (installing munge, slurmctld, slurmd and slurm-client
# with apt-get when they are missing), waits until the node is idle, runs COMMAND with SLURM_CONF exported, and
# stops the daemons it started by PID when COMMAND ends (or on any error or signal). Exits with COMMAND's status.
#
# When no cluster can be started here (not root, no apt-get, packages not installable), prints one line
# "SLURM UNAVAILABLE: <why>" and exits with status 77 (the usual "skipped" status); COMMAND is not run.
#
# The cluster: one node "localhost" with this machine's CPUs and 80 % of its memory, one default partition
# "debug", no accounting (so Snakemake's SLURM executor must check job status with squeue, as
# workflow/profiles/slurm does), state and logs in a private folder. The slurm.conf is installed at
# /etc/slurm/slurm.conf while the cluster runs, because srun inside a job reads that path (Snakemake's
# slurm-jobstep plugin does not pass SLURM_CONF on); a slurm.conf already there is put back at the end.
#
# Environment: SLURM_CLUSTER_WORK  folder for state and logs (default: a new temporary folder, removed at the end
#                                  unless the command failed, when it is kept and printed).
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

SLURM_ETC=/etc/slurm/slurm.conf
OWN_WORK=0
if [ -z "${SLURM_CLUSTER_WORK:-}" ]; then
  SLURM_CLUSTER_WORK="$(mktemp -d /tmp/atompump-slurm-cluster.XXXXXX)"
  OWN_WORK=1
fi
WORK="$SLURM_CLUSTER_WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"
PIDS=()
STATUS=1

unavailable() { echo "SLURM UNAVAILABLE: $*"; STATUS=77; exit 77; }
stop_cluster() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  if [ -f "$WORK/slurm.conf.previous" ]; then mv -f "$WORK/slurm.conf.previous" "$SLURM_ETC";
  elif [ -f "$WORK/slurm.conf.installed" ]; then rm -f "$SLURM_ETC"; fi
  if [ "$OWN_WORK" -eq 1 ]; then
    if [ "$STATUS" -eq 0 ] || [ "$STATUS" -eq 77 ]; then rm -rf "$WORK"; else echo "SLURM logs kept in $WORK"; fi
  fi
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- packages -------------------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  [ "$(id -u)" -eq 0 ] || unavailable "not root, and SLURM is not installed"
  command -v apt-get >/dev/null || unavailable "no apt-get to install munge/slurmctld/slurmd/slurm-client"
  echo "installing munge slurmctld slurmd slurm-client ..."
  if ! (apt-get update -q >/dev/null 2>&1 || true; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q munge slurmctld slurmd slurm-client \
        >"$WORK/apt.log" 2>&1); then
    unavailable "apt-get install munge slurmctld slurmd slurm-client failed: $(tail -n 1 "$WORK/apt.log")"
  fi
fi
[ "$(id -u)" -eq 0 ] || unavailable "the SLURM daemons need root"

# --- munge ------------------------------------------------------------------------------------------------------
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if [ ! -s /etc/munge/munge.key ]; then
  (command -v mungekey >/dev/null && mungekey --create --force) \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --foreground >"$WORK/munged.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n >/dev/null 2>&1 || { echo "munged did not start:"; cat "$WORK/munged.log"; exit 1; }
fi

# --- slurm.conf and the daemons -------------------------------------------------------------------------------------
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
mkdir -p "$WORK/state" "$WORK/spool"
cat >"$WORK/slurm.conf" <<CONF
ClusterName=atompump-check
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$(dirname "$SLURM_ETC")"
if [ -f "$SLURM_ETC" ]; then cp -p "$SLURM_ETC" "$WORK/slurm.conf.previous"; fi
cp "$WORK/slurm.conf" "$SLURM_ETC" && touch "$WORK/slurm.conf.installed"
export SLURM_CONF="$SLURM_ETC"

/usr/sbin/slurmctld -D -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
/usr/sbin/slurmd -D -N localhost -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do
  timeout 5 sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mixed" && break
  sleep 1
done
if ! sinfo -h -o "%T" | grep -qE "idle|mixed"; then
  echo "SLURM did not come up"; tail -n 20 "$WORK"/slurmctld.log "$WORK"/slurmd.log || true; exit 1
fi
echo "SLURM cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %T')"

# --- the command ------------------------------------------------------------------------------------------------
set +e
"$@"
STATUS=$?
set -e
exit "$STATUS"
