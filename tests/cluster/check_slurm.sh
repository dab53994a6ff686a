#!/usr/bin/env bash
# The Slurm template (launch/slurm/refit.sbatch) submitted to a real Slurm:
# a one-node cluster started here from Debian's packages (munge, slurmctld,
# slurmd; installed by setup_slurm.sh when missing), with two fake GPUs
# (generic resources backed by /dev/null-like device files) so the
# template's --gpus-per-node is honoured. Runs the
# job with srun --mpi=pmix and with mpirun inside the allocation; the dumps
# must equal the SPEC reference and settings exported before sbatch must
# reach every rank. Skips (77) with the reason where Slurm cannot start.
# usage: check_slurm.sh REFIT
REFIT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
SBATCH_FILE="$HERE/../../launch/slurm/refit.sbatch"
source "$HERE/../mpi/lib.sh"
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "starting slurmctld/slurmd needs root"
bash "$HERE/setup_slurm.sh" >"$WORK/setup.log" 2>&1 || skip "cannot install Slurm: $(tail -n 3 "$WORK/setup.log")"

D="$WORK/slurm"
mkdir -p "$D/state" "$D/spool"
chmod 755 "$WORK" "$D" # munged checks that its socket's directory is reachable
stop_all() {
  for p in slurmd slurmctld munged; do
    [ -f "$D/$p.pid" ] && kill "$(cat "$D/$p.pid")" 2>/dev/null
  done
  sleep 1
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap stop_all EXIT

# --- munge: a fresh key and a private socket
dd if=/dev/urandom of="$D/munge.key" bs=128 count=1 status=none && chmod 600 "$D/munge.key"
munged --force -S "$D/munge.sock" --key-file="$D/munge.key" --log-file="$D/munged.log" \
  --pid-file="$D/munged.pid" --seed-file="$D/munged.seed" 2>"$D/munged.err" ||
  skip "munged does not start: $(cat "$D/munged.err" "$D/munged.log" 2>/dev/null | tail -n 3)"

# --- slurm.conf: this host as controller and compute node, private ports and state
node=$(hostname -s)
port=$((17000 + ($$ % 500) * 2))
cat >"$D/slurm.conf" <<CONF
ClusterName=refittest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
GresTypes=gpu
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
# Two fake GPUs: Slurm wants a character device per GPU; /dev/null's numbers do.
mknod "$D/gpu0" c 1 3 && mknod "$D/gpu1" c 1 3 || skip "cannot make the fake GPU device files (mknod)"
echo "Name=gpu File=$D/gpu[0-1]" >"$D/gres.conf"
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF" 2>"$D/slurmctld.err" || skip "slurmctld does not start: $(tail -n 3 "$D/slurmctld.err")"
slurmd -f "$SLURM_CONF" 2>"$D/slurmd.err" || skip "slurmd does not start: $(tail -n 3 "$D/slurmd.err")"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && break
  sleep 0.5
done
sinfo -h -o %t 2>/dev/null | grep -qx idle ||
  skip "the Slurm node does not come up: $(sinfo 2>&1 | tail -n 2); $(tail -n 3 "$D/slurmd.log" 2>/dev/null)"
pass "one-node Slurm up: $(sinfo -h -o '%P %D %t %G')"

make_model qwen2 11 "$WORK/g0"
make_model qwen2 12 "$WORK/g1"

submit() { # LAUNCHER QUANT: sbatch the template (2 tasks, 2 GPUs), wait, check
  local launcher=$1 quant=$2 out="$WORK/job-$1"
  if ! (cd "$WORK" && REFIT_BIN="$REFIT" REFIT_LAUNCHER="$launcher" REFIT_QUANT="$quant" REFIT_BUCKET_MB=1 \
        timeout 300 sbatch --wait --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 \
        --output="$out.log" "$SBATCH_FILE" --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" \
        --tp 2 --dump "$out.dump" >"$out.submit" 2>&1); then
    fail "sbatch ($launcher): $(cat "$out.submit")"; cat "$out.log" 2>/dev/null | tail -n 30; return
  fi
  if ! grep -q "scheme $quant" "$out.log" || ! grep -q "generation 1 committed on all 2 ranks" "$out.log"; then
    fail "job ($launcher) did not commit generation 1 with REFIT_QUANT=$quant"; tail -n 30 "$out.log"; return
  fi
  if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/g1" --tp 2 --world 2 --quant "$quant" \
       --dump "$out.dump" --generation 1 >"$out.check" 2>&1; then
    pass "sbatch refit.sbatch with $launcher: $(head -n 1 "$out.log" | sed 's/^refit.sbatch: //'); dumps exact"
  else
    fail "job ($launcher): dump differs from the SPEC reference"; head -n 20 "$out.check"
  fi
}

submit srun fp8-row
submit mpirun fp8-block
finish
