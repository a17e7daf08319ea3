#!/usr/bin/env bash
# Run the default workflow on a real single-node SLURM cluster started on this machine (through
# `--profile workflow/profiles/slurm`) and locally, and check that both give the same bytes.
#
#   tools/slurm-check.sh [PYTHON]        # PYTHON: interpreter with atompump[slurm] installed (default: python3)
#
# The cluster is started and stopped by tools/slurm-cluster.sh (Debian's munge, slurmctld, slurmd, slurm-client,
# installed with apt-get when missing; loopback only; daemons stopped by PID at the end). Prints
# "SLURM CHECK SKIPPED: <why>" and exits 0 when no cluster can be started here or the executor plugin is missing;
# prints "SLURM CHECK PASSED: ..." and exits 0 when every result file is identical; exits 1 when the results differ
# or a run fails (the work folder is then kept and printed).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${1:-}" != "--in-cluster" ]; then
  PYTHON="${1:-python3}"
  "$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || { echo "SLURM CHECK SKIPPED: snakemake-executor-plugin-slurm is not installed for $PYTHON" \
              "(pip install 'atompump[slurm]')"; exit 0; }
  WORK="$(mktemp -d /tmp/atompump-slurm-check.XXXXXX)"
  chmod 755 "$WORK"
  set +e
  bash "$REPO/tools/slurm-cluster.sh" bash "$0" --in-cluster "$PYTHON" "$WORK" | tee "$WORK/check.out"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -eq 77 ]; then
    echo "SLURM CHECK SKIPPED: $(sed -n 's/^SLURM UNAVAILABLE: //p' "$WORK/check.out")"
    rm -rf "$WORK"; exit 0
  fi
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else echo "SLURM CHECK FAILED (work folder kept: $WORK)"; fi
  exit "$status"
fi

# --- inside the cluster (called by tools/slurm-cluster.sh): the same workflow, locally and on SLURM ---------------
PYTHON="$2"
WORK="$3"
CPUS=$(nproc)
# The two runs go side by side: the SLURM run spends most of its time waiting for squeue polls.
echo "local run and SLURM run, side by side ..."
start=$(date +%s)
( "$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/local" --profile "$REPO/workflow/profiles/default" \
    --cores "$CPUS" >"$WORK/local.log" 2>&1; echo $? >"$WORK/local.status"
  echo "local run took $(( $(date +%s) - start )) s" ) &
local_pid=$!
"$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/slurm" --profile "$REPO/workflow/profiles/slurm" \
  >"$WORK/slurm.log" 2>&1 || { wait "$local_pid"; tail -40 "$WORK/slurm.log"; exit 1; }
echo "SLURM run took $(( $(date +%s) - start )) s; jobs submitted to SLURM:" \
  "$(grep -c 'has been submitted with SLURM jobid' "$WORK/slurm.log" || true)"
wait "$local_pid"
[ "$(cat "$WORK/local.status")" = 0 ] || { tail -30 "$WORK/local.log"; exit 1; }

# --- compare every result file ---------------------------------------------------------------------------------
status=0
while IFS= read -r file; do
  if ! cmp -s "$WORK/local/$file" "$WORK/slurm/$file"; then echo "DIFFERS: $file"; status=1; fi
done < <(cd "$WORK/local" && find results -type f | sort)
n=$(cd "$WORK/local" && find results -type f | wc -l)
m=$(cd "$WORK/slurm" && find results -type f | wc -l)
if [ "$m" -ne "$n" ]; then
  echo "different file counts: $n local, $m on SLURM"
  diff <(cd "$WORK/local" && find results -type f | sort) <(cd "$WORK/slurm" && find results -type f | sort) || true
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "SLURM CHECK PASSED: $n result files identical byte for byte (local vs SLURM)"
fi
exit "$status"
