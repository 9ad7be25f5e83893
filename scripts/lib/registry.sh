# Loopback registries for the benchmarks (sourced by scripts/bench-*.sh).
#
# fresh_registry starts a new, empty docker-registry on 127.0.0.1 (stopping the previous one
# and deleting its storage) and sets REG=127.0.0.1:PORT; stop_registry stops it. The caller
# sets WORK (a scratch folder) and calls stop_registry in its EXIT trap.
# shellcheck shell=bash
REG_PID=
REG_DIR=
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop_registry() {
  if [[ -n $REG_PID ]]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=
  fi
  [[ -n ${REG_DIR:-} ]] && rm -rf "$REG_DIR"
  REG_DIR=
}
# A fresh, empty registry (and the previous one stopped and its storage deleted).
fresh_registry() {
  stop_registry
  local port
  port=$(free_port)
  REG_DIR=$(mktemp -d "$WORK/registry.XXXXXX")
  cat >"$REG_DIR/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$REG_DIR/log" >&2; exit 1; }
  REG=127.0.0.1:$port
}

