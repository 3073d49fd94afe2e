#!/usr/bin/env bash
# Master/slave replication across hosts, each host a Linux network namespace on one bridge:
#
#   nsrv 10.77.0.10 (name server)   master 10.77.0.11 (broker-a, id 0)
#   slave 10.77.0.12 (broker-a, id 1)   client 10.77.0.20 (quickstart producer/consumer)
#
#   sudo tests/netns/replication-multihost.sh [ASYNC_MASTER|SYNC_MASTER]
#
# Needs root (ip netns, a bridge, veth pairs); not part of `cargo test`. Steps and checks:
#   1. 1000 quickstart sends through the master, all SEND_OK; the slave catches up over its
#      own link (its commitLogMaxOffset equals the master's).
#   2. SYNC_MASTER only: the slave's link goes down; a send must not come back SEND_OK.
#   3. The master is killed (SIGKILL); a new consumer group reads all 1000 from the slave.
# Prints PASS or the first failed check; everything is removed on exit.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
source "$repo/bin/lib/ensure-built.sh"
role="${1:-ASYNC_MASTER}"
[[ $role == ASYNC_MASTER || $role == SYNC_MASTER ]] || { echo "role: ASYNC_MASTER or SYNC_MASTER" >&2; exit 1; }
ensure_built mqnamesrv bolide-namesrv namesrv client; namesrv_bin="$binary"
ensure_built mqbroker bolide-broker broker client; broker_bin="$binary"
ensure_built mqadmin bolide-client client; admin_bin="$binary"
ensure_built mqtools bolide-client client; tools_bin="$binary"

work="$(mktemp -d /tmp/bolide-netns.XXXXXX)"
hosts=(nsrv master slave client)
declare -A ip=([nsrv]=10.77.0.10 [master]=10.77.0.11 [slave]=10.77.0.12 [client]=10.77.0.20)
pids=()

remove_network() {
    for host in "${hosts[@]}"; do
        ip netns del "bolide-$host" 2>/dev/null || true
        ip link del "v-$host" 2>/dev/null || true
    done
    ip link del bolide-br 2>/dev/null || true
}
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    remove_network
    rm -rf "$work"
}
trap cleanup EXIT
remove_network
fail() { echo "FAIL: $*" >&2; exit 1; }

ip link add bolide-br type bridge
ip link set bolide-br up
for host in "${hosts[@]}"; do
    ns="bolide-$host"
    ip netns add "$ns"
    ip link add "v-$host" type veth peer name eth0 netns "$ns"
    ip link set "v-$host" master bolide-br up
    ip netns exec "$ns" ip addr add "${ip[$host]}/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
done
on() { local host="$1"; shift; ip netns exec "bolide-$host" "$@"; }

start() { # host name command...
    local host="$1" name="$2"
    shift 2
    # Not through `on`: $! must be the server itself (ip and env exec into it), not a
    # subshell, so that killing it kills the server.
    ip netns exec "bolide-$host" env BOLIDE_PID_DIR="$work/run-$name" "$@" > "$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do
        grep -q "boot success" "$work/$name.log" && return 0
        sleep 0.1
    done
    cat "$work/$name.log" >&2
    fail "$name did not boot"
}

printf 'listenPort=9876\nkvConfigPath=%s/kv.json\n' "$work" > "$work/namesrv.properties"
for node in master slave; do
    id=0 node_role="$role"
    [[ $node == slave ]] && id=1 node_role=SLAVE
    cat > "$work/$node.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=$id
brokerRole=$node_role
brokerIP1=${ip[$node]}
brokerIP2=${ip[$node]}
namesrvAddr=${ip[nsrv]}:9876
storePathRootDir=$work/$node
storePathCommitLog=$work/$node/commitlog
slaveTimeout=1000
diskMaxUsedSpaceRatio=95
diskSpaceCleanForciblyRatio=95
diskSpaceWarningLevelRatio=95
EOF
done
start nsrv namesrv "$namesrv_bin" -c "$work/namesrv.properties"
start master master "$broker_bin" -c "$work/master.properties"
start slave slave "$broker_bin" -c "$work/slave.properties"
sleep 2

namesrv="${ip[nsrv]}:9876"
max_offset() {
    on client "$admin_bin" brokerStatus -n "$namesrv" -b "$1:10911" 2>/dev/null |
        awk '/commitLogMaxOffset/ {print $3}'
}

echo "== 1. 1000 sends, replicated over the slave's own link"
on client env NAMESRV_ADDR="$namesrv" "$tools_bin" Producer > "$work/producer.log" 2>&1
sent=$(grep -c "sendStatus=SEND_OK" "$work/producer.log" || true)
[[ $sent == 1000 ]] || fail "$sent of 1000 sends were SEND_OK"
for _ in $(seq 100); do
    m=$(max_offset "${ip[master]}") s=$(max_offset "${ip[slave]}")
    [[ -n $m && $m == "$s" ]] && break
    sleep 0.2
done
[[ -n $m && $m == "$s" ]] || fail "the slave is at ${s:-?}, the master at ${m:-?}"
echo "   master and slave at commit log offset $m"

if [[ $role == SYNC_MASTER ]]; then
    echo "== 2. the slave's link goes down: no SEND_OK"
    ip link set v-slave down
    sleep 1
    on client env NAMESRV_ADDR="$namesrv" timeout 60 "$tools_bin" Producer > "$work/cut.log" 2>&1 || true
    ok=$(grep -c "sendStatus=SEND_OK" "$work/cut.log" || true)
    [[ $ok == 0 ]] || fail "$ok sends were SEND_OK with the slave unreachable"
    echo "   $(grep -o 'sendStatus=[A-Z_]*' "$work/cut.log" | sort | uniq -c | tr '\n' ' ')"
    ip link set v-slave master bolide-br up
    for _ in $(seq 150); do
        m=$(max_offset "${ip[master]}") s=$(max_offset "${ip[slave]}")
        [[ -n $m && $m == "$s" ]] && break
        sleep 0.2
    done
    [[ $m == "$s" ]] || fail "the slave did not catch up after its link came back"
fi

echo "== 3. the master is killed; a new group reads everything from the slave"
kill -9 "${pids[1]}"
for _ in $(seq 50); do
    kill -0 "${pids[1]}" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "${pids[1]}" 2>/dev/null; then fail "the master survived SIGKILL"; fi
[[ -z $(max_offset "${ip[master]}") ]] || fail "the master still answers after SIGKILL"
expected=$(grep -c "Receive\|sendStatus=" "$work/producer.log" || true)
[[ $role == SYNC_MASTER ]] && expected=$((expected + $(grep -c "sendStatus=" "$work/cut.log" || true)))
on client env NAMESRV_ADDR="$namesrv" timeout 40 "$tools_bin" Consumer > "$work/consumer.log" 2>&1 || true
received=$(grep "Receive New Messages" "$work/consumer.log" | grep -o "storeHost=/[0-9.:]*, msgId=[0-9A-F]*" | sort -u | wc -l)
[[ $received == "$expected" ]] || fail "the consumer read $received of $expected messages from the slave"
echo "   $received of $expected messages read from the slave"
echo "PASS ($role)"
