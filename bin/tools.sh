#!/usr/bin/env bash
# RocketMQ's tools.sh for the quickstart examples, with NAMESRV_ADDR from the environment:
#
#   export NAMESRV_ADDR=127.0.0.1:9876
#   bin/tools.sh org.apache.rocketmq.example.quickstart.Producer   # 1000 messages to TopicTest
#   bin/tools.sh org.apache.rocketmq.example.quickstart.Consumer   # prints them; Ctrl-C stops
#
# The short names Producer and Consumer work too. Without NAMESRV_ADDR, 127.0.0.1:9876 is used
# (with a note on stderr).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/ensure-built.sh"
ensure_built mqtools bolide-client client
exec "$binary" "$@"
