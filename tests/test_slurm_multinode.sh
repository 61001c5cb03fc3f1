#!/usr/bin/env bash
# Two Slurm nodes on one machine (issue 18): tests/slurm_cluster.sh's
# slurm_start_multi puts slurmctld and two slurmd in network namespaces of
# their own on a private bridge (no route out), each node with its own
# hostname. `sbatch -N 2 --ntasks-per-node=2 jobs/lightreasoner.sbatch`
# runs `run` as one srun --mpi=pmix step of 4 ranks (scorers, samplers and a
# trainer spread over both nodes, Open MPI over TCP between the
# namespaces); the run file equals the one-process run's.
# Skipped (77) without slurmctld, or without the rights to make namespaces.
. "$(dirname "$0")/slurm_common.sh"
if ! ip netns add "lrprobe$$" 2>/dev/null; then echo "SKIP: cannot create network namespaces (needs root / CAP_NET_ADMIN)"; exit 77; fi
ip netns del "lrprobe$$"
command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "SKIP: unshare/nsenter (util-linux) missing"; exit 77; }
unshare --uts true 2>/dev/null || { echo "SKIP: cannot create UTS namespaces (needs CAP_SYS_ADMIN)"; exit 77; }
slurm_start_multi "$work/cluster" 2 || fail "2-node cluster did not start"
X=$SLURM_NS_EXEC
echo "cluster up on $SLURM_NET/24: $($X sinfo -h -N -o '%N(%T)' | tr '\n' ' ')"
for ns in "${slurm_netns[@]}"; do # no way out: each namespace routes only the cluster's /24
  [ -z "$(ip -n "$ns" route show default)" ] || fail "namespace $ns has a default route"
done
# one step over both nodes: 2 tasks on node1, 2 on node2
[ "$($X srun -N 2 --ntasks-per-node=2 hostname | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" = "2node1 2node2 " ] \
  || fail "srun -N 2 did not place 2 tasks on each node"
cd "$work"
args="--max-problems 12 --max-new-tokens 40 --eval-limit 8 --eval-max-new-tokens 40 --max-steps 8 --save-every 4"
# shellcheck disable=SC2086
"$LR_BIN" run --out "$work/ref.h5" $args --threads 1 --quiet >/dev/null 2>ref.err || { cat ref.err; fail "reference run"; }

# Open MPI: TCP on the cluster's subnet only (plus shared memory within a node)
# (exported: sbatch --export=ALL passes them; a comma inside --export=... would split them)
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1 OMPI_MCA_btl_tcp_if_include=$SLURM_NET/24 \
  OMPI_MCA_oob_tcp_if_include=$SLURM_NET/24 PMIX_MCA_ptl_tcp_if_include=$SLURM_NET/24
$X sbatch --wait -N 2 --ntasks-per-node=2 -o "$work/two.out" \
  --export=ALL,LR_BIN="$LR_BIN",OUT="$work/two.h5",SRUN_MPI="$SLURM_MPI_DEFAULT",SCRATCH=none,TRAINERS=1,RUN_ARGS="$args" \
  "$jobs/lightreasoner.sbatch" || { cat two.out; fail "the 2-node job failed"; }
grep -q "2 node(s), 4 task(s)" two.out || fail "not 2 nodes x 2 tasks: $(head -3 two.out)"
grep -q "4 ranks: \[0, 3) sample" two.out || fail "roles: $(grep 'ranks' two.out)"
# where the ranks ran: one srun step over node1 and node2
$X sacct >/dev/null 2>&1 || true
run_digest ref.h5 >ref.txt
run_digest two.h5 >two.txt
diff ref.txt two.txt >digest.diff || { head -20 digest.diff; fail "the 2-node run differs from the one-process run"; }
echo "test_slurm_multinode: ok ($(grep -c '^==' ref.txt) datasets equal)"
