#!/usr/bin/env bash
# RocketMQ's benchmark producer.sh on Bolide's client (mqbench producer), same options:
#
#   bin/benchmark/producer.sh -n 127.0.0.1:9876 -t BenchmarkTest -w 64 -s 128 --duration 60
#   bin/benchmark/producer.sh -n 127.0.0.1:9876 -y true --count 1000000
#
# Prints RocketMQ's "Send TPS: ..." line once a second and one JSON summary line at the end.
# Unlike RocketMQ's script it runs in the foreground. `-h` lists every option.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../lib/ensure-built.sh"
ensure_built mqbench bolide-client client
exec "$binary" producer "$@"
