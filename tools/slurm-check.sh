#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (loopback only), run the default workflow through
# `--profile workflow/profiles/slurm`, run it locally too, and check that both give the same bytes.
#
#   tools/slurm-check.sh [PYTHON]        # PYTHON: interpreter with atompump[slurm] installed (default: python3)
#
# Needs root (to install Debian's munge, slurmctld, slurmd and slurm-client, and to run the daemons). Prints
# "SLURM CHECK SKIPPED: <why>" and exits 0 when the packages cannot be installed; exits 1 when the results differ
# or the cluster run fails. The daemons are started by this script and stopped by PID when it ends; nothing in
# /etc is changed (SLURM_CONF points to a private slurm.conf).
set -euo pipefail

PYTHON="${1:-python3}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/atompump-slurm.XXXXXX)"
chmod 755 "$WORK"
PIDS=()

skip() { echo "SLURM CHECK SKIPPED: $*"; exit 0; }
SLURM_ETC=/etc/slurm/slurm.conf
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  if [ -f "$WORK/slurm.conf.previous" ]; then mv -f "$WORK/slurm.conf.previous" "$SLURM_ETC";
  elif [ -f "$WORK/slurm.conf.installed" ]; then rm -f "$SLURM_ETC"; fi
  [ "${KEEP_WORK:-0}" -eq 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# --- packages -------------------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  [ "$(id -u)" -eq 0 ] || skip "not root, and SLURM is not installed"
  command -v apt-get >/dev/null || skip "no apt-get to install munge/slurmctld/slurmd/slurm-client"
  echo "installing munge slurmctld slurmd slurm-client ..."
  if ! (apt-get update -q >/dev/null 2>&1 || true; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q munge slurmctld slurmd slurm-client >"$WORK/apt.log" 2>&1); then
    skip "apt-get install failed (see $WORK/apt.log)"
  fi
fi
[ "$(id -u)" -eq 0 ] || skip "the daemons need root"
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || skip "snakemake-executor-plugin-slurm is not installed for $PYTHON (pip install 'atompump[slurm]')"

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

# --- slurm.conf ---------------------------------------------------------------------------------------------------
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
[ -f "$SLURM_ETC" ] && cp -p "$SLURM_ETC" "$WORK/slurm.conf.previous"
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
sinfo -h -o "%T" | grep -qE "idle|mixed" || { echo "SLURM did not come up"; tail -n 20 "$WORK"/slurmctld.log "$WORK"/slurmd.log; exit 1; }
echo "SLURM cluster up: $(sinfo -h -o '%P %D nodes %c CPUs %T')"

# --- the same workflow, locally and on SLURM ---------------------------------------------------------------------
echo "local run ..."
"$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/local" --cores "$CPUS" -q >"$WORK/local.log" 2>&1 \
  || { KEEP_WORK=1; tail -30 "$WORK/local.log"; exit 1; }
echo "SLURM run ..."
start=$(date +%s)
"$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/slurm" --profile "$REPO/workflow/profiles/slurm" \
  >"$WORK/slurm.log" 2>&1 || { KEEP_WORK=1; tail -40 "$WORK/slurm.log"; exit 1; }
echo "SLURM run took $(( $(date +%s) - start )) s; jobs submitted: $(grep -c 'Job .* has been submitted with SLURM jobid' "$WORK/slurm.log" || true)"

# --- compare ---------------------------------------------------------------------------------------------------
status=0
while IFS= read -r file; do
  if ! cmp -s "$WORK/local/$file" "$WORK/slurm/$file"; then echo "DIFFERS: $file"; status=1; fi
done < <(cd "$WORK/local" && find results -type f | sort)
n=$(cd "$WORK/local" && find results -type f | wc -l)
[ "$(cd "$WORK/slurm" && find results -type f | wc -l)" -eq "$n" ] || { echo "different file counts"; status=1; }
if [ "$status" -eq 0 ]; then
  echo "SLURM CHECK PASSED: $n result files identical byte for byte (local vs SLURM)"
else
  KEEP_WORK=1
  echo "SLURM CHECK FAILED (work folder kept: $WORK)"
fi
exit "$status"
