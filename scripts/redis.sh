#!/usr/bin/env bash
# Loopback Redis for the distributed-sweep tests (BullMQ).
#
#   scripts/redis.sh start [dir]   # installs Debian's redis-server if missing, starts it daemonized on a
#                                  # free 127.0.0.1 port; prints "redis://127.0.0.1:<port> <dir>" last
#   scripts/redis.sh stop <dir>    # stops the server started with that dir (pidfile), removes nothing else
#
# No persistence (--save '', no AOF) and noeviction, which BullMQ requires (evicted job keys would lose runs).
set -euo pipefail

install_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" != "0" ]]; then
    echo "redis.sh: redis-server is not installed and installing it needs root: sudo apt-get install -y redis-server" >&2
    exit 1
  fi
  exec 9>"/tmp/niwt-apt.lock"
  flock 9
  if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends redis-server >&2 2>/dev/null; then
      apt-get update >&2
      apt-get install -y --no-install-recommends redis-server >&2
    fi
  fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

cmd="${1:-}"
case "$cmd" in
  start)
    install_redis
    dir="${2:-$(mktemp -d /tmp/niwt-redis-XXXXXX)}"
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5; do
      port="$(free_port)"
      if redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save '' --appendonly no \
          --maxmemory-policy noeviction --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" \
          --logfile "$dir/redis.log" >&2; then
        for _ in $(seq 1 50); do
          if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "$port" > "$dir/port"
            echo "redis://127.0.0.1:$port $dir"
            exit 0
          fi
          sleep 0.1
        done
        [[ -f "$dir/redis.pid" ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
      fi
      echo "redis.sh: start on port $port failed (attempt $attempt), retrying" >&2
    done
    echo "redis.sh: could not start redis-server; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    dir="${2:?usage: scripts/redis.sh stop <dir>}"
    if [[ -f "$dir/redis.pid" ]]; then
      pid="$(cat "$dir/redis.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/redis.pid"
    fi
    ;;
  *)
    echo "usage: scripts/redis.sh start [dir] | stop <dir>" >&2
    exit 2
    ;;
esac
