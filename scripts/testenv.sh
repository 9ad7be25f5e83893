#!/usr/bin/env bash
# flow's real test environment: a private Docker Engine plus eight container
# registries (and three token servers), all on loopback, all under one state dir.
#
#   scripts/testenv.sh up     start everything in a FRESH dir, verify it, write $DIR/env
#   scripts/testenv.sh env    print the path of the current env file (to `source`)
#   scripts/testenv.sh down [DIR]
#                             stop everything and remove the dir (idempotent)
#
# State dir: $FLOW_TESTENV_DIR if set (must be empty or absent), else a new
# `mktemp -d /tmp/flow-testenv.XXXXXX`. /tmp/flow-testenv.current is a symlink
# to the dir of the current environment, so `down` and `env` can find it.
#
# Why a fresh dir every time: a dockerd that was SIGKILLed (e.g. when a
# session ended) leaves pid files, sockets, containerd state and mounts
# behind. Never reusing a dir means none of that can break the next `up`.
# `up` also sweeps such dead environments (dirs whose `up` and dockerd are
# both gone) away; live ones, e.g. a demo's or another test run's, are left
# alone, so two environments can run side by side. `env` and a bare `down`
# act on the newest one (the symlink); scripts/test.sh downs its own by dir.
#
# Nothing here listens on anything but 127.0.0.1 or a unix socket in the dir,
# and containers get no network at all (see start_dockerd). Two things are
# written outside the dir:
#  - the CAs of the tlsbasic and plainrealm registries, as
#    /etc/docker/certs.d/127.0.0.1:PORT/ca.crt (where dockerd and flow look for
#    a registry's CA); the dirs `up` creates there are listed in
#    $DIR/certs.d.created, and `down` removes exactly those;
#  - one /etc/hosts line, "127.0.0.1 flow-realm.<env>.test": a name that
#    resolves to loopback without being a loopback literal, for the plainrealm
#    registry's token realm. `up` adds it only if absent and lists it in
#    $DIR/hosts.added; `down` removes exactly the lines listed there.
#
# Knobs (env vars):
#   FLOW_TESTENV_DIR              state dir to use instead of a mktemp one
#   FLOW_TESTENV_KEEP_ON_FAILURE  =1: if `up` fails, leave things as they are
#                                 for debugging (default: print logs, tear down)
#   FLOW_TESTENV_STORAGE_DRIVER   force a dockerd storage driver (default: auto,
#                                 which is overlay2 here)
#   FLOW_TESTENV_TIMEOUT          seconds to wait for each service (default 60)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TOKEN_SERVER="$REPO_ROOT/tests/support/token_server.py"
CURRENT_LINK=/tmp/flow-testenv.current
MARKER=.flow-testenv # file in the state dir; `down` only deletes dirs that have it
# Docker's per-registry trust dir (the daemon reads it; so does flow's pre-flight).
CERTS_D=/etc/docker/certs.d
HOSTS=/etc/hosts
HOSTS_LOCK=/tmp/flow-testenv.hosts.lock # serialises edits of /etc/hosts between envs
TIMEOUT=${FLOW_TESTENV_TIMEOUT:-60}

# Fixed test credentials. The basic-auth password deliberately contains '+',
# '/' and '=' (characters that break naive base64/URL/form handling), and
# the token one a ':' (which must only be split at the first ':').
BASIC_USER=flowtest
# '+', '/' and '=' in the password, and a run of '?' that makes the standard base64 of
# the X-Registry-Auth JSON contain '/' whatever the alignment (bollard's encoding bug).
BASIC_PASSWORD='p+ss/w=rd+/==??????'
TOKEN_USER=flowtoken
TOKEN_PASSWORD='t0k:en+/=pw'
# A read-only account of the token server (same password): its tokens grant pull only.
TOKEN_READER=flowreader
# Token lifetime (seconds) of the shorttoken registry's token server.
SHORT_LIFETIME=2
TOKEN_SERVICE=flow-test-registry
TOKEN_ISSUER=flow-test-token-server

log() { printf '[testenv] %s\n' "$*" >&2; }
FAIL_REASON=""
die() {
  FAIL_REASON=$*
  printf '[testenv] ERROR: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- packages --

# Debian packages the environment needs. Checked by dpkg status, not by
# command, because e.g. a docker CLI may live in /usr/local/bin without the
# engine (docker.io) being installed.
PACKAGES=(
  docker.io                        # dockerd, containerd, runc, docker CLI
  docker-registry                  # distribution 2.8: /usr/bin/docker-registry
  skopeo                           # registry client used to verify the registries
  golang-docker-credential-helpers # docker-credential-pass, for credential-helper tests
  pass gnupg                       # the password store behind docker-credential-pass
  apache2-utils                    # htpasswd (bcrypt)
  openssl                          # CA, TLS certs, token signing
  busybox-static                   # static busybox: the only base image we can have offline
  curl iptables python3 ca-certificates
)

ensure_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]})); then
    log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -qq
    # With recommends, as on the machines this was verified on. (apparmor, one
    # of docker.io's, matters on kernels with AppArmor on: without
    # apparmor_parser dockerd can't start containers there.)
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# ----------------------------------------------------------------- helpers --

# N free TCP ports on 127.0.0.1, all bound at once so they are distinct. There
# is a small race between closing them here and the registry binding them; a
# registry that loses it fails its readiness check with a clear error.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# spawn NAME PIDFILE CMD... : run CMD detached from this shell (own session,
# so Ctrl-C in the caller or the caller's exit doesn't hit it), stdin from
# /dev/null and all output to $DIR/NAME.log (so a caller reading our output
# through a pipe is not kept waiting for EOF). The child writes its own pid to
# PIDFILE before exec, so it is right even where setsid has to fork.
spawn() {
  local name=$1 pidfile=$2
  shift 2
  # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >"$DIR/$name.log" 2>&1 &
}

# alive PID: the process exists and is not a zombie. Zombies matter here: this
# machine's init reaps orphans only every second or so, and `kill -0`
# succeeds on a zombie.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # after "(comm)", which may itself contain spaces
  [[ ${stat%% *} != Z ]]
}
pid_alive() { [[ -f $1 ]] && alive "$(cat "$1")"; }

# wait_until DESC PIDFILE LOGFILE CMD... : poll CMD until it succeeds; fail with
# the log's tail if the process dies or TIMEOUT passes.
wait_until() {
  local desc=$1 pidfile=$2 logfile=$3
  shift 3
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pidfile ]] && [[ -f $pidfile ]] && ! pid_alive "$pidfile"; then
      log "$desc exited early; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      die "$desc failed to start"
    fi
    if ((SECONDS >= deadline)); then
      log "$desc not ready after ${TIMEOUT}s; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      die "timed out waiting for $desc"
    fi
    sleep 0.2
  done
}

http_code() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }

# expect_code WANT DESC CURL-ARGS... : one real HTTP request, must answer WANT.
expect_code() {
  local want=$1 desc=$2 got
  shift 2
  got=$(http_code "$@")
  [[ $got == "$want" ]] || die "$desc: expected HTTP $want, got ${got:-nothing}"
  log "ok: $desc -> $want"
}

# The docker CLI against our daemon, with its own client config: independent
# of ~/.docker, and with one (dummy) auths entry, because a config with none
# makes the CLI pick the `pass` credential store by itself once
# docker-credential-pass is installed - and pass has no store here.
dk() { DOCKER_CONFIG=$DIR/docker-cli docker -H "unix://$DIR/docker.sock" "$@"; }
make_cli_config() {
  mkdir -p "$DIR/docker-cli"
  echo '{"auths":{"flow-testenv.invalid":{}}}' >"$DIR/docker-cli/config.json"
}

# ------------------------------------------------------------------ pieces --

make_certs() {
  local c=$DIR/certs
  mkdir -p "$c"
  # A throwaway CA, and a server cert for the TLS registry signed by it. The
  # SAN is required: modern TLS clients (Go, rustls) ignore the CN.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
    -keyout "$c/ca.key" -out "$c/ca.crt" -subj "/CN=flow-test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 \
    -keyout "$c/server.key" -out "$c/server.csr" -subj "/CN=localhost" 2>/dev/null
  cat >"$c/server.ext" <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
  openssl x509 -req -sha256 -days 7 -in "$c/server.csr" \
    -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -extfile "$c/server.ext" -out "$c/server.crt" 2>/dev/null
  # A client certificate for the engine's TCP+TLS endpoint, laid out as the
  # docker CLI and bollard expect under DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem).
  mkdir -p "$c/docker-client"
  openssl req -newkey rsa:2048 -nodes -sha256 \
    -keyout "$c/docker-client/key.pem" -out "$c/client.csr" -subj "/CN=flow-test client" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
    >"$c/client.ext"
  openssl x509 -req -sha256 -days 7 -in "$c/client.csr" \
    -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -extfile "$c/client.ext" -out "$c/docker-client/cert.pem" 2>/dev/null
  cp "$c/ca.crt" "$c/docker-client/ca.pem"
  # The token server's signing key, with a self-signed cert: the registry's
  # rootcertbundle lists exactly this cert, and the JWT's x5c carries it.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
    -keyout "$c/token.key" -out "$c/token.crt" -subj "/CN=flow-test token signer" 2>/dev/null
  chmod 600 "$c"/*.key "$c/docker-client/key.pem"
}

start_dockerd() {
  # Flags, and why:
  #  --data-root/--exec-root/--pidfile/-H unix://  everything of this daemon in
  #     $DIR (its containerd too: dockerd starts its own under exec-root), so
  #     it never touches /var/lib/docker or /var/run/docker.sock.
  #  --config-file $DIR/daemon.json  an empty one, so a host /etc/docker/daemon.json
  #     (e.g. one that sets "hosts") can't conflict with our flags.
  #  --bridge=none  no docker0 bridge (it would take 172.17.0.0/16): build
  #     containers get only a loopback interface. RUN steps still work (they
  #     need no network; nothing can be downloaded here anyway) and nothing in
  #     a container can send traffic off this machine.
  #  --iptables=false --ip6tables=false --ip-masq=false  don't rewrite the
  #     host's firewall (by default dockerd adds DOCKER chains and sets the
  #     FORWARD policy to DROP, which outlive the daemon).
  #  --ip-forward=false  don't flip the host's net.ipv4.ip_forward to 1. The
  #     price: each classic-builder step prints "[Warning] IPv4 forwarding is
  #     disabled. Networking will not work." - true, and harmless here.
  #  --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent /$(basename $DIR)
  #     containers (RUN steps too) go in cgroups named after this env, not the
  #     shared /docker. If dockerd and its shims are SIGKILLed, container
  #     processes live on (reparented to init; as pid-namespace inits they
  #     even ignore SIGTERM): `down` finds them through these cgroups.
  #  --shutdown-timeout 5  on SIGTERM, dockerd gives running containers 5s
  #     (not 15) before killing them; keeps `down` quick.
  #  -H tcp://127.0.0.1:PORT --tlsverify ...  the same engine also on TCP with
  #     mutual TLS (our CA), so tests can prove DOCKER_HOST=tcp:// with
  #     DOCKER_TLS_VERIFY/DOCKER_CERT_PATH works. Loopback only.
  #  127.0.0.0/8 is an insecure registry by default (dockerd always adds it),
  #  so pushes to our plain-HTTP registries work without --insecure-registry.
  local extra=()
  [[ -n ${FLOW_TESTENV_STORAGE_DRIVER:-} ]] && extra+=(--storage-driver "$FLOW_TESTENV_STORAGE_DRIVER")
  echo '{}' >"$DIR/daemon.json"
  DOCKER_TLS_PORT=$(free_ports 1)
  # Its own --pidfile must not be the one spawn writes: dockerd refuses to
  # start when its pid file names a live process (here: itself).
  spawn dockerd "$DIR/dockerd.launch.pid" dockerd \
    --config-file "$DIR/daemon.json" \
    --data-root "$DIR/docker-data" \
    --exec-root "$DIR/docker-exec" \
    --pidfile "$DIR/dockerd.pid" \
    -H "unix://$DIR/docker.sock" \
    -H "tcp://127.0.0.1:$DOCKER_TLS_PORT" \
    --tlsverify --tlscacert "$DIR/certs/ca.crt" \
    --tlscert "$DIR/certs/server.crt" --tlskey "$DIR/certs/server.key" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$(basename "$DIR")" \
    --shutdown-timeout 5 \
    "${extra[@]}"
  wait_until dockerd "$DIR/dockerd.launch.pid" "$DIR/dockerd.log" \
    dk version
  log "dockerd $(dk version --format '{{.Server.Version}}') up on unix://$DIR/docker.sock" \
    "(storage driver: $(dk info --format '{{.Driver}}'))"
}

make_base_image() {
  # No image can be pulled here, so the base image is made from the static
  # busybox binary: /bin/busybox plus a symlink per applet (sh, ls, cat, ...).
  local root=$DIR/rootfs bb
  bb=$(dpkg -L busybox-static | grep -E '/s?bin/busybox$' | head -n 1)
  [[ -x $bb ]] || die "busybox-static's binary not found"
  mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev}
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  # Running it inside the bare rootfs also proves it is really static.
  chroot "$root" /bin/busybox --install -s /bin
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
    dk import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/sh"]' \
      - flow-test/busybox:latest >/dev/null
  rm -rf "$root"

  # The engine must be able to run RUN steps of a classic-builder build
  # (what the Engine API's POST /build does without BuildKit).
  local ctx=$DIR/build-check
  mkdir -p "$ctx"
  printf 'FROM flow-test/busybox\nRUN echo hi > /x\n' >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 dk build -q -t flow-test/run-check:latest "$ctx" >"$DIR/build-check.log" 2>&1 ||
    { cat "$DIR/build-check.log" >&2; die "classic-builder build with a RUN step failed"; }
  [[ $(dk run --rm flow-test/run-check:latest cat /x 2>/dev/null) == hi ]] || die "RUN step left no /x"
  dk rmi flow-test/run-check:latest >/dev/null
  rm -rf "$ctx"
  log "ok: base image flow-test/busybox:latest; a classic build with RUN works"
}

# write_registry_config NAME PORT EXTRA-YAML: distribution 2.8 config with its
# own storage dir. EXTRA-YAML is appended (auth sections, http.tls lines).
write_registry_config() {
  # $4 = "readonly": the registry answers reads but refuses every upload, which
  # pre-flight cannot see (GET /v2/ is 200), so a push fails inside the stream.
  local name=$1 port=$2 yaml=$3 d=$DIR/registry-$1 readonly=${4:-}
  local ro=""
  [[ $readonly == readonly ]] && ro=$'\n    readonly:\n      enabled: true'
  mkdir -p "$d/data"
  cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry-$name
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false$ro
http:
  addr: 127.0.0.1:$port
  secret: $(openssl rand -hex 16)
  headers:
    X-Content-Type-Options: [nosniff]
$yaml
EOF
}

start_registry() {
  local name=$1 port=$2 scheme=${3:-http}
  local curl_tls=()
  [[ $scheme == https ]] && curl_tls=(--cacert "$DIR/certs/ca.crt")
  spawn "registry-$name" "$DIR/registry-$name.pid" docker-registry serve "$DIR/registry-$name/config.yml"
  # Any HTTP answer (200 or 401) means it is listening.
  wait_until "registry $name" "$DIR/registry-$name.pid" "$DIR/registry-$name.log" \
    curl -s -o /dev/null "${curl_tls[@]}" "$scheme://127.0.0.1:$port/v2/"
}

# install_registry_ca HOST:PORT : our CA as $CERTS_D/HOST:PORT/ca.crt, the path
# where dockerd (and flow's pre-flight) look for the CA of that registry. Each
# dir this creates (certs.d itself too, if it was missing) is appended to
# $DIR/certs.d.created *before* it is made, so a `down` after a half-done `up`
# still removes it; nothing that existed before is ever removed.
install_registry_ca() {
  local host=$1 d
  local dirs=("$(dirname "$CERTS_D")" "$CERTS_D" "$CERTS_D/$host")
  for d in "${dirs[@]}"; do
    if [[ ! -d $d ]]; then
      echo "$d" >>"$DIR/certs.d.created"
      mkdir "$d"
    elif [[ $d == "$CERTS_D/$host" ]]; then
      die "$d already exists (another environment's, or a stale one?); not touching it"
    fi
  done
  cp "$DIR/certs/ca.crt" "$CERTS_D/$host/ca.crt"
  log "CA of registry $host installed as $CERTS_D/$host/ca.crt"
}

# The dirs install_registry_ca created, deepest first: our ca.crt goes, then
# each dir with rmdir (so a file someone else put there keeps its dir).
remove_registry_cas() {
  local list=$DIR/certs.d.created d dirs=()
  [[ -f $list ]] || return 0
  mapfile -t dirs <"$list"
  local i
  for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
    d=${dirs[i]}
    [[ $d == "$CERTS_D" || $d == "$CERTS_D"/* || $d == "$(dirname "$CERTS_D")" ]] ||
      { log "warning: not removing $d (not under $CERTS_D)"; continue; }
    [[ -d $d ]] || continue
    if [[ $d == "$CERTS_D"/* ]]; then rm -f "$d/ca.crt"; fi
    rmdir "$d" 2>/dev/null || log "warning: $d is not empty, left in place"
  done
  rm -f "$list"
}

# start_token_server NAME [ARGS...]: a token server (tests/support/token_server.py)
# with the fixed credentials, logging to $DIR/NAME.log, its port in $DIR/NAME.port.
start_token_server() {
  local name=$1
  shift
  FLOW_TEST_TOKEN_PASSWORD=$TOKEN_PASSWORD spawn "$name" "$DIR/$name.pid" python3 "$TOKEN_SERVER" \
    --host 127.0.0.1 --port 0 --port-file "$DIR/$name.port" \
    --key "$DIR/certs/token.key" --cert "$DIR/certs/token.crt" \
    --service "$TOKEN_SERVICE" --issuer "$TOKEN_ISSUER" --user "$TOKEN_USER" "$@"
  wait_until "$name" "$DIR/$name.pid" "$DIR/$name.log" \
    test -s "$DIR/$name.port"
}

# add_hosts_entry NAME: the line "127.0.0.1 NAME" in /etc/hosts, unless it is there
# already (then it is not ours and stays). The line is listed in $DIR/hosts.added
# *before* it is written, so a `down` after a half-done `up` still removes it.
# /etc/hosts is edited in place (it may be a bind mount that cannot be replaced).
add_hosts_entry() {
  local line="127.0.0.1 $1"
  (
    flock 9
    if grep -qxF "$line" "$HOSTS"; then
      log "$HOSTS already has '$line'; using it, and leaving it there on down"
    else
      echo "$line" >>"$DIR/hosts.added"
      printf '%s\n' "$line" >>"$HOSTS"
      log "added '$line' to $HOSTS"
    fi
  ) 9>"$HOSTS_LOCK"
}

# Remove exactly the /etc/hosts lines listed in $DIR/hosts.added.
remove_hosts_entries() {
  local list=$DIR/hosts.added line
  [[ -f $list ]] || return 0
  (
    flock 9
    while IFS= read -r line; do
      [[ $line =~ ^127\.0\.0\.1\ flow-realm\.[a-z0-9-]+\.test$ ]] ||
        { log "warning: not removing '$line' from $HOSTS (not one of ours)"; continue; }
      grep -vxF "$line" "$HOSTS" >"$DIR/hosts.new" || true
      cat "$DIR/hosts.new" >"$HOSTS"
      rm -f "$DIR/hosts.new"
      log "removed '$line' from $HOSTS"
    done <"$list"
  ) 9>"$HOSTS_LOCK"
  rm -f "$list"
}

# skopeo_push DEST-REF SKOPEO-DEST-ARGS... : copy the base image from our
# dockerd into a registry with skopeo, i.e. a real blob upload + manifest PUT.
skopeo_push() {
  local dest=$1
  shift
  skopeo --policy "$DIR/skopeo-policy.json" copy -q \
    --src-daemon-host "unix://$DIR/docker.sock" "$@" \
    docker-daemon:flow-test/busybox:latest "docker://$dest" >>"$DIR/skopeo.log" 2>&1 ||
    { tail -n 20 "$DIR/skopeo.log" >&2; die "skopeo copy to $dest failed"; }
  log "ok: skopeo pushed flow-test/busybox to $dest"
}

verify_registries() {
  local tls_certs=$DIR/skopeo-certs
  # skopeo's own policy, so a host /etc/containers/policy.json doesn't matter.
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$DIR/skopeo-policy.json"

  # (a) plain HTTP, no auth; and a real `docker push` through our dockerd,
  # which relies on 127.0.0.0/8 being an insecure registry by default.
  expect_code 200 "plain: GET /v2/" "http://$PLAIN/v2/"
  dk info --format '{{json .RegistryConfig.InsecureRegistryCIDRs}}' | grep -q '127.0.0.0/8' ||
    die "dockerd does not treat 127.0.0.0/8 as insecure"
  dk tag flow-test/busybox:latest "$PLAIN/flow-test/busybox:check"
  dk push "$PLAIN/flow-test/busybox:check" >"$DIR/push-check.log" 2>&1 ||
    { cat "$DIR/push-check.log" >&2; die "docker push to the plain registry failed"; }
  dk rmi "$PLAIN/flow-test/busybox:check" >/dev/null
  expect_code 200 "plain: pushed manifest is there" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$PLAIN/v2/flow-test/busybox/manifests/check"
  log "ok: docker push through dockerd to $PLAIN"

  # (b) htpasswd basic auth over plain HTTP.
  expect_code 401 "basic: GET /v2/ without credentials" "http://$BASIC/v2/"
  expect_code 401 "basic: GET /v2/ with a wrong password" -u "$BASIC_USER:wrong" "http://$BASIC/v2/"
  expect_code 200 "basic: GET /v2/ with credentials" -u "$BASIC_USER:$BASIC_PASSWORD" "http://$BASIC/v2/"
  skopeo_push "$BASIC/flow-test/busybox:check" --dest-tls-verify=false \
    --dest-creds "$BASIC_USER:$BASIC_PASSWORD"

  # (c) TLS with our CA: must verify with the CA, and must fail without it.
  expect_code 200 "tls: GET /v2/ with --cacert" --cacert "$DIR/certs/ca.crt" "https://$TLS/v2/"
  expect_code 200 "tls: GET https://localhost/v2/ with --cacert" \
    --cacert "$DIR/certs/ca.crt" "https://localhost:${TLS##*:}/v2/"
  expect_code 000 "tls: GET /v2/ without the CA (must not verify)" "https://$TLS/v2/"
  mkdir -p "$tls_certs" && cp "$DIR/certs/ca.crt" "$tls_certs/ca.crt"
  skopeo_push "$TLS/flow-test/busybox:check" --dest-cert-dir "$tls_certs"

  # (c') TLS and htpasswd at once, the CA trusted through /etc/docker/certs.d.
  local ca=(--cacert "$DIR/certs/ca.crt")
  expect_code 401 "tlsbasic: GET /v2/ without credentials" "${ca[@]}" "https://$TLSBASIC/v2/"
  expect_code 401 "tlsbasic: GET /v2/ with a wrong password" "${ca[@]}" \
    -u "$BASIC_USER:wrong" "https://$TLSBASIC/v2/"
  expect_code 200 "tlsbasic: GET /v2/ with credentials" "${ca[@]}" \
    -u "$BASIC_USER:$BASIC_PASSWORD" "https://$TLSBASIC/v2/"
  expect_code 000 "tlsbasic: GET /v2/ without the CA (must not verify)" \
    -u "$BASIC_USER:$BASIC_PASSWORD" "https://$TLSBASIC/v2/"
  expect_code 200 "tlsbasic: GET /v2/ with the CA from $CERTS_D/$TLSBASIC" \
    --cacert "$CERTS_D/$TLSBASIC/ca.crt" -u "$BASIC_USER:$BASIC_PASSWORD" "https://$TLSBASIC/v2/"
  skopeo_push "$TLSBASIC/flow-test/busybox:check" --dest-cert-dir "$CERTS_D/$TLSBASIC" \
    --dest-creds "$BASIC_USER:$BASIC_PASSWORD"

  # (d) bearer tokens from our token server.
  local hdrs
  hdrs=$(curl -s -o /dev/null -D - "http://$TOKENREG/v2/" | tr -d '\r')
  grep -q '^HTTP/[0-9.]* 401' <<<"$hdrs" || die "token: /v2/ without a token is not 401"
  grep -qi "^www-authenticate: Bearer realm=\"$REALM\",service=\"$TOKEN_SERVICE\"" <<<"$hdrs" ||
    die "token: unexpected challenge: $(grep -i '^www-authenticate' <<<"$hdrs")"
  log "ok: token: GET /v2/ -> 401 with a Bearer challenge"
  expect_code 401 "token server: wrong password" -u "$TOKEN_USER:wrong" "$REALM?service=$TOKEN_SERVICE"
  local token
  token=$(curl -sf -u "$TOKEN_USER:$TOKEN_PASSWORD" "$REALM?service=$TOKEN_SERVICE" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
    die "token server: no token for the right credentials"
  expect_code 200 "token: GET /v2/ with a token" -H "Authorization: Bearer $token" "http://$TOKENREG/v2/"
  # Tamper with the first signature char (the last one may only carry padding bits).
  local sig=${token##*.} c=A
  [[ ${sig:0:1} == A ]] && c=B
  expect_code 401 "token: GET /v2/ with a tampered token" \
    -H "Authorization: Bearer ${token%.*}.$c${sig:1}" "http://$TOKENREG/v2/"
  # A full push needs scoped tokens (pull,push), so this checks `access` too.
  skopeo_push "$TOKENREG/flow-test/busybox:check" --dest-tls-verify=false \
    --dest-creds "$TOKEN_USER:$TOKEN_PASSWORD"
  local reader_token
  reader_token=$(curl -sf -u "$TOKEN_READER:$TOKEN_PASSWORD" \
    "$REALM?service=$TOKEN_SERVICE&scope=repository:x/y:pull,push" |
    python3 -c 'import base64,json,sys; p=json.load(sys.stdin)["token"].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"=="))["access"][0]["actions"])') ||
    die "token server: no token for the reader"
  [[ $reader_token == "['pull']" ]] || die "token server: the reader was granted $reader_token"
  log "ok: token server: the reader's token grants pull only"

  # (e) plainrealm: HTTPS (CA through $CERTS_D) with token auth whose realm is plain
  # HTTP under a name that resolves to loopback but is no loopback literal. Only
  # anonymous requests here: its token server records every Authorization header.
  [[ $(getent hosts "$REALM_HOST" | awk '{ print $1; exit }') == 127.0.0.1 ]] ||
    die "$REALM_HOST does not resolve to 127.0.0.1"
  hdrs=$(curl -s -o /dev/null -D - --cacert "$CERTS_D/$PLAINREALM/ca.crt" "https://$PLAINREALM/v2/" | tr -d '\r')
  grep -q '^HTTP/[0-9.]* 401' <<<"$hdrs" || die "plainrealm: /v2/ without a token is not 401"
  grep -qi "^www-authenticate: Bearer realm=\"$PLAIN_REALM_URL\"" <<<"$hdrs" ||
    die "plainrealm: unexpected challenge: $(grep -i '^www-authenticate' <<<"$hdrs")"
  log "ok: plainrealm: GET /v2/ -> 401 with realm $PLAIN_REALM_URL"
  expect_code 200 "plainrealm: anonymous token from $PLAIN_REALM_URL" "$PLAIN_REALM_URL?service=$TOKEN_SERVICE"

  # (f) shorttoken: tokens that expire after $SHORT_LIFETIME s.
  expect_code 200 "shorttoken: GET /v2/ with a token" -H "Authorization: Bearer $(
    curl -sf -u "$TOKEN_USER:$TOKEN_PASSWORD" "$SHORT_REALM?service=$TOKEN_SERVICE" |
      python3 -c "import json,sys; t=json.load(sys.stdin); assert t['expires_in'] == $SHORT_LIFETIME, t; print(t['token'])"
  )" "http://$SHORTTOKEN/v2/"
}

write_env() {
  local f=$DIR/env
  {
    echo "# flow test environment, made by scripts/testenv.sh up on $(date -u +%FT%TZ)."
    echo "# Source it. Stop everything with: scripts/testenv.sh down"
    local kv
    for kv in \
      "FLOW_TESTENV_DIR=$DIR" \
      "DOCKER_HOST=unix://$DIR/docker.sock" \
      "FLOW_TEST_DOCKER_TLS_HOST=tcp://127.0.0.1:$DOCKER_TLS_PORT" \
      "FLOW_TEST_DOCKER_CERT_PATH=$DIR/certs/docker-client" \
      "FLOW_TEST_BASE_IMAGE=flow-test/busybox:latest" \
      "FLOW_TEST_REGISTRY_PLAIN=$PLAIN" \
      "FLOW_TEST_REGISTRY_BASIC=$BASIC" \
      "FLOW_TEST_BASIC_USER=$BASIC_USER" \
      "FLOW_TEST_BASIC_PASSWORD=$BASIC_PASSWORD" \
      "FLOW_TEST_REGISTRY_TLS=$TLS" \
      "FLOW_TEST_REGISTRY_TLSBASIC=$TLSBASIC" \
      "FLOW_TEST_TLSBASIC_CERT_DIR=$CERTS_D/$TLSBASIC" \
      "FLOW_TEST_REGISTRY_READONLY=$READONLY" \
      "FLOW_TEST_TLS_CA=$DIR/certs/ca.crt" \
      "FLOW_TEST_REGISTRY_TOKEN=$TOKENREG" \
      "FLOW_TEST_TOKEN_REALM=$REALM" \
      "FLOW_TEST_TOKEN_SERVICE=$TOKEN_SERVICE" \
      "FLOW_TEST_TOKEN_USER=$TOKEN_USER" \
      "FLOW_TEST_TOKEN_PASSWORD=$TOKEN_PASSWORD" \
      "FLOW_TEST_TOKEN_SERVER_LOG=$DIR/token-server.log" \
      "FLOW_TEST_TOKEN_READER=$TOKEN_READER" \
      "FLOW_TEST_REGISTRY_PLAINREALM=$PLAINREALM" \
      "FLOW_TEST_PLAINREALM_REALM=$PLAIN_REALM_URL" \
      "FLOW_TEST_PLAINREALM_REQUESTS=$DIR/realm-requests.jsonl" \
      "FLOW_TEST_REGISTRY_SHORTTOKEN=$SHORTTOKEN" \
      "FLOW_TEST_SHORTTOKEN_LIFETIME=$SHORT_LIFETIME" \
      "FLOW_TEST_SHORTTOKEN_REQUESTS=$DIR/short-requests.jsonl"; do
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------- commands --

cmd_up() {
  local t0=$SECONDS
  [[ $(id -u) == 0 ]] || die "must run as root (dockerd needs it)"
  ensure_packages
  [[ -f $TOKEN_SERVER ]] || die "missing $TOKEN_SERVER"

  sweep_dead_envs

  if [[ -n ${FLOW_TESTENV_DIR:-} ]]; then
    DIR=$FLOW_TESTENV_DIR
    [[ $DIR == /* ]] || die "FLOW_TESTENV_DIR must be an absolute path"
    mkdir -p "$DIR"
    [[ -z $(ls -A "$DIR") ]] || die "FLOW_TESTENV_DIR=$DIR is not empty; use a fresh dir"
  else
    DIR=$(mktemp -d /tmp/flow-testenv.XXXXXX)
  fi
  # unix socket paths are limited to 108 bytes; containerd's is the longest.
  ((${#DIR} <= 60)) || die "state dir path too long for unix sockets: $DIR"
  chmod 755 "$DIR"
  touch "$DIR/$MARKER"
  echo $$ >"$DIR/up.pid" # while this runs, no other `up` sweeps the dir
  # Point at it at once, so `down` finds it even if this `up` dies half-way.
  ln -sfn "$DIR" "$CURRENT_LINK"
  log "state dir: $DIR"

  # If anything below fails (or we are interrupted): show the logs and tear
  # down, so a failed `up` leaves nothing running (unless asked to keep it).
  trap 'up_failed' EXIT

  make_certs
  make_cli_config
  start_dockerd
  make_base_image

  read -r P_PLAIN P_BASIC P_TLS P_TOKEN P_RO P_TLSBASIC P_PLAINREALM P_SHORT <<<"$(free_ports 8)"
  PLAIN=127.0.0.1:$P_PLAIN BASIC=127.0.0.1:$P_BASIC TLS=127.0.0.1:$P_TLS TOKENREG=127.0.0.1:$P_TOKEN
  READONLY=127.0.0.1:$P_RO TLSBASIC=127.0.0.1:$P_TLSBASIC
  PLAINREALM=127.0.0.1:$P_PLAINREALM SHORTTOKEN=127.0.0.1:$P_SHORT

  start_token_server token-server --reader "$TOKEN_READER"
  REALM=http://127.0.0.1:$(cat "$DIR/token-server.port")/token
  # The plainrealm registry's token server, reached by a name of its own (one per
  # env, so two environments never share an /etc/hosts line).
  REALM_HOST=flow-realm.$(basename "$DIR" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-').test
  add_hosts_entry "$REALM_HOST"
  start_token_server token-server-realm --record "$DIR/realm-requests.jsonl"
  PLAIN_REALM_URL=http://$REALM_HOST:$(cat "$DIR/token-server-realm.port")/token
  start_token_server token-server-short --lifetime "$SHORT_LIFETIME" --record "$DIR/short-requests.jsonl"
  SHORT_REALM=http://127.0.0.1:$(cat "$DIR/token-server-short.port")/token

  write_registry_config plain "$P_PLAIN" ""
  write_registry_config readonly "$P_RO" "" readonly
  mkdir -p "$DIR/registry-basic"
  htpasswd -Bbn "$BASIC_USER" "$BASIC_PASSWORD" >"$DIR/registry-basic/htpasswd" 2>/dev/null
  write_registry_config basic "$P_BASIC" "auth:
  htpasswd:
    realm: flow-test-basic
    path: $DIR/registry-basic/htpasswd"
  # The tls block must sit under http:, which is the last top-level key so
  # far: appending indented lines extends it.
  write_registry_config tls "$P_TLS" "  tls:
    certificate: $DIR/certs/server.crt
    key: $DIR/certs/server.key"
  # TLS (under http:) and htpasswd (a new top-level key) in one registry, with
  # the basic registry's user and password; its CA goes to /etc/docker/certs.d.
  mkdir -p "$DIR/registry-tlsbasic"
  htpasswd -Bbn "$BASIC_USER" "$BASIC_PASSWORD" >"$DIR/registry-tlsbasic/htpasswd" 2>/dev/null
  write_registry_config tlsbasic "$P_TLSBASIC" "  tls:
    certificate: $DIR/certs/server.crt
    key: $DIR/certs/server.key
auth:
  htpasswd:
    realm: flow-test-tlsbasic
    path: $DIR/registry-tlsbasic/htpasswd"
  install_registry_ca "$TLSBASIC"
  write_registry_config token "$P_TOKEN" "auth:
  token:
    realm: $REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $DIR/certs/token.crt"
  # TLS and token auth, the realm plain HTTP under $REALM_HOST: flow must refuse to
  # send credentials there (and its token server records whether it did).
  write_registry_config plainrealm "$P_PLAINREALM" "  tls:
    certificate: $DIR/certs/server.crt
    key: $DIR/certs/server.key
auth:
  token:
    realm: $PLAIN_REALM_URL
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $DIR/certs/token.crt"
  install_registry_ca "$PLAINREALM"
  write_registry_config shorttoken "$P_SHORT" "auth:
  token:
    realm: $SHORT_REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $DIR/certs/token.crt"

  start_registry plain "$P_PLAIN"
  start_registry basic "$P_BASIC"
  start_registry tls "$P_TLS" https
  start_registry token "$P_TOKEN"
  start_registry readonly "$P_RO"
  start_registry tlsbasic "$P_TLSBASIC" https
  start_registry plainrealm "$P_PLAINREALM" https
  start_registry shorttoken "$P_SHORT"
  log "registries: plain=$PLAIN basic=$BASIC tls=$TLS token=$TOKENREG (realm $REALM) readonly=$READONLY" \
    "tlsbasic=$TLSBASIC plainrealm=$PLAINREALM (realm $PLAIN_REALM_URL) shorttoken=$SHORTTOKEN"

  verify_registries
  write_env

  trap - EXIT
  log "up in $((SECONDS - t0))s. env file: $DIR/env"
  log "use: source \"\$(scripts/testenv.sh env)\"   stop: scripts/testenv.sh down"
}

up_failed() {
  trap - EXIT
  set +e
  log "up FAILED${FAIL_REASON:+: $FAIL_REASON}. Logs in $DIR:"
  local f
  for f in "$DIR"/*.log; do
    [[ -s $f ]] || continue
    log "---- tail of $f"
    tail -n 15 "$f" >&2
  done
  [[ -n $FAIL_REASON ]] && log "up FAILED: $FAIL_REASON"
  if [[ ${FLOW_TESTENV_KEEP_ON_FAILURE:-} == 1 ]]; then
    log "FLOW_TESTENV_KEEP_ON_FAILURE=1: leaving it running; clean up with: $0 down"
  else
    log "tearing down (set FLOW_TESTENV_KEEP_ON_FAILURE=1 to keep it for debugging)"
    (cmd_down "$DIR")
  fi
  exit 1
}

# Pids of processes that belong to DIR: any whose command line mentions the
# dir (dockerd, its containerd and shims, registries, token server all do).
# The dir name is a unique mktemp path, so this can't match anything else.
pids_of_dir() {
  local p cmdline
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    cmdline=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
    [[ $cmdline == *"$DIR/"* ]] && echo "$p"
  done
  return 0
}

# stop_pids SIGNAL-WAIT-SECONDS PID... : SIGTERM, wait, then SIGKILL.
stop_pids() {
  local wait=$1 p left
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$((SECONDS + wait))
  while ((SECONDS < deadline)); do
    left=()
    for p in "$@"; do alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.2
  done
  log "still running after ${wait}s, sending SIGKILL: ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.5
}

cmd_down() {
  DIR=${1:-}
  if [[ -z $DIR ]]; then
    if [[ -L $CURRENT_LINK ]]; then
      DIR=$(readlink "$CURRENT_LINK")
    elif [[ -n ${FLOW_TESTENV_DIR:-} ]]; then
      DIR=$FLOW_TESTENV_DIR
    else
      log "no environment to stop"
      return 0
    fi
  fi
  DIR=${DIR%/}
  [[ $DIR == /* && $DIR != / ]] || die "refusing to clean up '$DIR'"
  if [[ ! -d $DIR ]]; then
    log "$DIR is already gone"
    [[ $(readlink "$CURRENT_LINK" 2>/dev/null) == "$DIR" ]] && rm -f "$CURRENT_LINK"
    return 0
  fi
  [[ -f $DIR/$MARKER ]] || die "$DIR has no $MARKER file; not a testenv dir, not touching it"
  log "stopping environment in $DIR"

  # 1. The servers and dockerd, all at once (each takes a second or two to
  # shut down gracefully). dockerd stops its containers and its containerd.
  local pids=() f
  for f in "$DIR"/token-server*.pid "$DIR"/registry-*.pid "$DIR/dockerd.pid" "$DIR/dockerd.launch.pid"; do
    pid_alive "$f" && pids+=("$(cat "$f")")
  done
  mapfile -t pids < <(printf '%s\n' "${pids[@]}" | grep . | sort -u)
  stop_pids 30 "${pids[@]}"
  # 2. Anything else still tied to the dir: a containerd or shim orphaned by
  # a SIGKILLed dockerd, or a process whose pid file was never written.
  mapfile -t pids < <(pids_of_dir)
  stop_pids 10 "${pids[@]}"

  # 3. Container processes that outlived their shim, found through the
  # env's own cgroups (see --cgroup-parent); then the cgroups themselves.
  # Straight SIGKILL: a container's pid-namespace init ignores SIGTERM.
  local cgs
  mapfile -t cgs < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "$(basename "$DIR")" 2>/dev/null)
  if ((${#cgs[@]})); then
    mapfile -t pids < <(find "${cgs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    ((${#pids[@]})) && { kill -KILL "${pids[@]}" 2>/dev/null || true; }
    sleep 0.3
    find "${cgs[@]}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi

  # 4. Mounts left under the dir (overlay layers, netns and shm bind mounts
  # of a daemon that was killed). Deepest first; lazy if busy.
  local mnts m
  for _ in 1 2 3 4 5; do
    mapfile -t mnts < <(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    ((${#mnts[@]})) || break
    for m in "${mnts[@]}"; do
      m=$(printf '%b' "${m//\\/\\0}") # mountinfo escapes spaces etc. as \040
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  ((${#mnts[@]} == 0)) || log "warning: could not unmount: ${mnts[*]}"

  # 5. The registry CAs `up` put under /etc/docker/certs.d, and the /etc/hosts
  # line (both listed in the dir).
  remove_registry_cas
  remove_hosts_entries

  # 6. The dir itself, and the pointer if it points here.
  rm -rf "$DIR" || log "warning: could not remove all of $DIR"
  [[ $(readlink "$CURRENT_LINK" 2>/dev/null) == "$DIR" ]] && rm -f "$CURRENT_LINK"
  log "environment stopped and removed"
}

# Remove environments whose processes are all gone (a killed session's
# leftovers: dirs, mounts, cgroups, maybe orphaned containerd/shims).
sweep_dead_envs() {
  local d dirs=()
  dirs=(/tmp/flow-testenv.*/)
  [[ -L $CURRENT_LINK ]] && dirs+=("$(readlink "$CURRENT_LINK")/")
  for d in "${dirs[@]}"; do
    d=${d%/}
    [[ -f $d/$MARKER ]] || continue
    if pid_alive "$d/up.pid" || pid_alive "$d/dockerd.pid" || pid_alive "$d/dockerd.launch.pid"; then
      continue # alive (or still starting): not ours to touch
    fi
    log "sweeping dead environment $d"
    (cmd_down "$d") || true # subshell: its `die` must not end this `up`
  done
  # A dangling pointer (its dir is gone) is just confusing.
  if [[ -L $CURRENT_LINK && ! -d $(readlink "$CURRENT_LINK") ]]; then rm -f "$CURRENT_LINK"; fi
}

cmd_env() {
  local dir
  dir=$(readlink "$CURRENT_LINK" 2>/dev/null) || die "no environment is up (run: $0 up)"
  [[ -f $dir/env ]] || die "environment in $dir has no env file (did up fail?)"
  echo "$dir/env"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down "${2:-}" ;;
env) cmd_env ;;
*)
  echo "usage: $0 up|down [DIR]|env" >&2
  exit 2
  ;;
esac
