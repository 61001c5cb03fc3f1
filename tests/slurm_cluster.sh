# A throw-away single-node Slurm cluster on loopback, for the Slurm tests.
#   . tests/slurm_cluster.sh; slurm_start DIR; ...; slurm_stop
# Debian's slurmctld + slurmd + munged run as root from DIR (config, state,
# spool, logs, munge socket and key), started with setsid and stopped by
# their PIDs; nothing outside DIR is touched. Clients need SLURM_CONF, which
# slurm_start exports.

slurm_pids=()

slurm_start() {
  local d=$1 host cpus mem port
  host=$(hostname -s)
  # nproc obeys OMP_NUM_THREADS (ctest sets it): count the processors; at
  # least 4 slots so 2-task jobs and a 3-task array fit on a small CI box
  # (config_overrides lets the node advertise more than it has)
  cpus=$(grep -c ^processor /proc/cpuinfo)
  [ "$cpus" -ge 4 ] || cpus=4
  mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  mkdir -p "$d/state" "$d/spool" "$d/munge" "$d/log"
  chmod 700 "$d/munge"

  # munge: our own key and socket, so no system daemon is needed
  mungekey -c -k "$d/munge/munge.key" -b 1024 2>/dev/null || dd if=/dev/urandom of="$d/munge/munge.key" bs=128 count=1 2>/dev/null
  chmod 600 "$d/munge/munge.key"
  setsid munged --force -S "$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" -F \
    </dev/null >>"$d/log/munged.out" 2>&1 &
  slurm_pids+=($!)

  local mpi=none
  [ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so ] || ls /usr/lib/*/slurm-wlm/mpi_pmix.so >/dev/null 2>&1 && mpi=pmix
  SLURM_MPI_DEFAULT=$mpi
  cat >"$d/slurm.conf" <<EOF
ClusterName=lrtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock
MpiDefault=$mpi
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MaxArraySize=100
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
  export SLURM_CONF=$d/slurm.conf
  local i
  for i in $(seq 50); do [ -S "$d/munge/munge.sock" ] && break; sleep 0.1; done
  setsid slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$d/log/slurmctld.out" 2>&1 &
  slurm_pids+=($!)
  setsid slurmd -D -f "$SLURM_CONF" -N "$host" </dev/null >>"$d/log/slurmd.out" 2>&1 &
  slurm_pids+=($!)
  for i in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then return 0; fi
    sleep 0.3
  done
  echo "slurm did not come up; logs:" >&2
  tail -n 20 "$d"/log/* >&2
  return 1
}

slurm_stop() {
  local p
  for p in "${slurm_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${slurm_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  slurm_pids=()
  local ns
  for ns in "${slurm_netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  slurm_netns=()
}

# A multi-node cluster on this one machine: slurm_start_multi DIR N.
# Every daemon lives in a network namespace of its own on a private /24:
# the controller's namespace holds a bridge (address .1); node k (node1 ..
# nodeN) is a namespace joined to it by a veth pair (address .(k+1)) and
# has its own UTS namespace (hostname nodek), so slurmd, its job steps and
# Open MPI see N distinct hosts. No namespace has a route out: traffic goes
# to loopback and to the cluster's own addresses only. Clients run in the
# controller's namespace: use "$SLURM_NS_EXEC sbatch ...". slurm_stop also
# deletes the namespaces (which removes the veths and the bridge).
slurm_netns=()
slurm_start_multi() {
  local d=$1 n=$2 id=$$ k cpus mem port net
  SLURM_NET=10.$((100 + RANDOM % 100)).$((RANDOM % 250)).0
  net=${SLURM_NET%.0}
  cpus=$(grep -c ^processor /proc/cpuinfo)
  [ "$cpus" -ge 4 ] || cpus=4
  mem=$(awk '/MemTotal/ {print int($2 / 1024 / 4)}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  mkdir -p "$d/state" "$d/spool" "$d/munge" "$d/log"
  chmod 700 "$d/munge"
  local c=lrc$id
  ip netns add "$c" || return 1
  slurm_netns+=("$c")
  ip -n "$c" link set lo up
  ip -n "$c" link add br0 type bridge
  ip -n "$c" addr add "$net.1/24" dev br0
  ip -n "$c" link set br0 up
  for k in $(seq "$n"); do
    ip netns add "lrn$id-$k" || return 1
    slurm_netns+=("lrn$id-$k")
    ip -n "lrn$id-$k" link set lo up
    ip -n "$c" link add "v$k" type veth peer name eth0 netns "lrn$id-$k"
    ip -n "$c" link set "v$k" master br0
    ip -n "$c" link set "v$k" up
    ip -n "lrn$id-$k" addr add "$net.$((k + 1))/24" dev eth0
    ip -n "lrn$id-$k" link set eth0 up
  done
  SLURM_NS_EXEC="nsenter --net=/run/netns/$c"

  mungekey -c -k "$d/munge/munge.key" -b 1024 2>/dev/null || dd if=/dev/urandom of="$d/munge/munge.key" bs=128 count=1 2>/dev/null
  chmod 600 "$d/munge/munge.key"
  setsid munged --force -S "$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" -F \
    </dev/null >>"$d/log/munged.out" 2>&1 &
  slurm_pids+=($!)
  local mpi=none
  ls /usr/lib/*/slurm-wlm/mpi_pmix.so >/dev/null 2>&1 && mpi=pmix
  SLURM_MPI_DEFAULT=$mpi
  {
    cat <<EOF2
ClusterName=lrmulti
SlurmctldHost=lrctl($net.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock
MpiDefault=$mpi
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
TmpFS=$d/tmp/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=10
InactiveLimit=0
MinJobAge=300
EOF2
    for k in $(seq "$n"); do
      echo "NodeName=node$k NodeAddr=$net.$((k + 1)) CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
  } >"$d/slurm.conf"
  export SLURM_CONF=$d/slurm.conf
  local i
  for i in $(seq 50); do [ -S "$d/munge/munge.sock" ] && break; sleep 0.1; done
  setsid nsenter --net=/run/netns/"$c" unshare --uts sh -c 'hostname lrctl && exec slurmctld -D -i -f "$SLURM_CONF"' \
    </dev/null >>"$d/log/slurmctld.out" 2>&1 &
  slurm_pids+=($!)
  for k in $(seq "$n"); do
    mkdir -p "$d/spool/node$k" "$d/tmp/node$k" # per node: the PMIx plugin's directories live in TmpFS
    setsid nsenter --net=/run/netns/"lrn$id-$k" unshare --uts sh -c "hostname node$k && exec slurmd -D -f \"\$SLURM_CONF\"" \
      </dev/null >>"$d/log/slurmd-node$k.out" 2>&1 &
    slurm_pids+=($!)
  done
  for i in $(seq 150); do
    if [ "$($SLURM_NS_EXEC sinfo -h -o %T 2>/dev/null | grep -cE '^(idle|mixed)')" -ge 1 ] &&
       [ "$($SLURM_NS_EXEC sinfo -h -N -o '%N %T' 2>/dev/null | grep -cE ' (idle|mixed)$')" = "$n" ]; then return 0; fi
    sleep 0.3
  done
  echo "the $n-node slurm did not come up; logs:" >&2
  tail -n 20 "$d"/log/* >&2
  return 1
}
