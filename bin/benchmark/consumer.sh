#!/usr/bin/env bash
# RocketMQ's benchmark consumer.sh on Bolide's push consumer (mqbench consumer), same options,
# verifying every body the benchmark producer wrote:
#
#   bin/benchmark/consumer.sh -n 127.0.0.1:9876 -t BenchmarkTest -g benchmark_consumer
#   bin/benchmark/consumer.sh -n 127.0.0.1:9876 --from-first --count 1000000 --idle 10
#
# Prints RocketMQ's "Consume TPS: ..." line once a second and one JSON summary line at the end
# (received, distinct, duplicates, corrupt, ...). Unlike RocketMQ's script it runs in the
# foreground. `-h` lists every option.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../lib/ensure-built.sh"
ensure_built mqbench bolide-client client
exec "$binary" consumer "$@"
