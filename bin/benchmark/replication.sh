#!/usr/bin/env bash
# Replication benchmark: one name server, a master (ASYNC_MASTER or SYNC_MASTER, ASYNC_FLUSH)
# and its slave on this machine, loaded by mqbench producer with 1 KiB synchronous sends.
# Once a second it samples how far the slave's commit log is behind the master's.
#
#   bin/benchmark/replication.sh ASYNC_MASTER [THREADS=64] [SECONDS=20]
#   bin/benchmark/replication.sh SYNC_MASTER 64 20
#
# Uses ports 9876, 10909-10912 and 10919-10921, and a scratch directory
# ($BOLIDE_BENCH_DIR, default /tmp/bolide-bench-replication) that it empties first. Prints
# the producer's JSON summary (sends that did not come back SEND_OK count as
# response_failed) and the lag samples: "slave first" reads the slave then the master (an
# upper bound of the lag), "master first" the other way round (a lower bound).
set -euo pipefail
bin="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
source "$bin/lib/ensure-built.sh"
role="${1:-}"
threads="${2:-64}"
seconds="${3:-20}"
case "$role" in
ASYNC_MASTER | SYNC_MASTER) ;;
*)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 1
    ;;
esac
ensure_built mqnamesrv bolide-namesrv namesrv client
namesrv_bin="$binary"
ensure_built mqbroker bolide-broker broker client
broker_bin="$binary"
ensure_built mqadmin bolide-client client
admin_bin="$binary"
ensure_built mqbench bolide-client client
bench_bin="$binary"

dir="${BOLIDE_BENCH_DIR:-/tmp/bolide-bench-replication}"
rm -rf "$dir"
mkdir -p "$dir"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

printf 'listenPort=9876\nkvConfigPath=%s/kvConfig.json\n' "$dir" > "$dir/namesrv.properties"
for node in master slave; do
    if [[ $node == master ]]; then id=0 node_role=$role port=10911; else id=1 node_role=SLAVE port=10921; fi
    cat > "$dir/$node.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=$id
namesrvAddr=127.0.0.1:9876
listenPort=$port
storePathRootDir=$dir/$node
storePathCommitLog=$dir/$node/commitlog
brokerRole=$node_role
flushDiskType=ASYNC_FLUSH
# A shared build machine's disk must not make the brokers refuse writes mid-run.
diskMaxUsedSpaceRatio=95
diskSpaceCleanForciblyRatio=95
diskSpaceWarningLevelRatio=95
EOF
done

# Starts a server in the background and waits for "boot success" in its log.
start() {
    local log="$dir/$1.log"
    shift
    "$@" > "$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do
        grep -q "boot success" "$log" && return 0
        sleep 0.1
    done
    echo "replication.sh: $log shows no boot success" >&2
    exit 1
}
start namesrv "$namesrv_bin" -c "$dir/namesrv.properties"
start master "$broker_bin" -c "$dir/master.properties"
start slave "$broker_bin" -c "$dir/slave.properties"
sleep 3

max_offset() {
    "$admin_bin" brokerStatus -n 127.0.0.1:9876 -b "127.0.0.1:$1" 2>/dev/null |
        awk '/commitLogMaxOffset/ {print $3}'
}
(
    for _ in $(seq "$seconds"); do
        if ((RANDOM % 2)); then
            s=$(max_offset 10921) m=$(max_offset 10911) order="slave first"
        else
            m=$(max_offset 10911) s=$(max_offset 10921) order="master first"
        fi
        echo "$order $((m - s))"
        sleep 1
    done
) > "$dir/lag.log" &
sampler=$!
"$bench_bin" producer -n 127.0.0.1:9876 -t BenchReplication -w "$threads" -s 1024 \
    --duration "$seconds" | tail -1
wait "$sampler" || true
for order in "slave first" "master first"; do
    grep "^$order" "$dir/lag.log" | awk '{print $3}' | sort -n |
        awk -v order="$order" '{a[NR] = $1} END {
            if (NR) printf "lag bytes (%s): %d samples, p50 %d, max %d\n", order, NR, a[int((NR + 1) / 2)], a[NR]
        }'
done
