#!/usr/bin/env bash
# A throwaway single-node Ceph cluster (one monitor, one in-memory OSD) plus a
# radosgw S3 endpoint on loopback, for local development and the test suite.
#
#   local-rgw.sh start   start it (a no-op that prints the env when already healthy)
#   local-rgw.sh stop    stop its daemons and remove its state directory
#   local-rgw.sh status  exit 0 when S3 answers, 1 otherwise
#   local-rgw.sh env     print `export` lines for the endpoint and credentials
#
# Settings (environment): RGW_DIR, RGW_PORT, RGW_ACCESS_KEY, RGW_SECRET_KEY,
# RGW_LC_DEBUG_INTERVAL, RGW_MEMSTORE_BYTES. Needs the Debian packages
# ceph-mon ceph-osd radosgw ceph-common, and root.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/session-gateway-rgw}
RGW_PORT=${RGW_PORT:-7480}
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-gateway-test}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-gateway-test-secret}
RGW_LC_DEBUG_INTERVAL=${RGW_LC_DEBUG_INTERVAL:-10}
RGW_MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-$((4 * 1024 * 1024 * 1024))}

RGW_DIR=${RGW_DIR%/}
[[ -n $RGW_DIR && $RGW_DIR == /* ]] || { echo "local-rgw: RGW_DIR must be an absolute path" >&2; exit 2; }
CONF=$RGW_DIR/ceph.conf
LOGS=$RGW_DIR/log
RUN=$RGW_DIR/run
MARKER=$RGW_DIR/.local-rgw   # proves the directory is ours before `stop` deletes it
USER_ID=session-gateway
# Messenger v1 on the classic port: on other ports clients negotiate v2, and
# with auth "none" radosgw then fails to authenticate and hangs.
MON_PORT=6789
export CEPH_CONF=$CONF
AS_ROOT=(--setuser root --setgroup root)
DAEMONS=(client.rgw osd.0 mon.a)   # stop order: clients of the cluster first

log() { echo "local-rgw: $*" >&2; }

# Print the tail of a daemon's log (if any) and fail.
die() {
  local msg=$1 name=${2:-}
  log "ERROR: $msg"
  if [[ -n $name && -s $LOGS/$name.log ]]; then
    log "last lines of $LOGS/$name.log:"
    tail -n 40 "$LOGS/$name.log" >&2
  fi
  exit 1
}

# Succeeds when something on the port answers an anonymous ListBuckets with
# 200. Plain bash, so no HTTP client is needed; the reply is read to the end
# because hanging up early makes radosgw log an error for every probe.
s3_answers() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
    IFS= read -r line <&3 && cat <&3 >/dev/null &&
    [[ $line == "HTTP/1."?" 200"* ]]' _ "$RGW_PORT" 2>/dev/null
}

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# A pid counts only while it is a live (non-zombie) process started with our
# config file: pid files can go stale and pids get reused.
is_ours() {
  local pid=$1 stat arg args=()
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  IFS= read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] || return 1
  for arg in "${args[@]}"; do [[ $arg == "$CONF" ]] && return 0; done
  return 1
}

daemon_pid() {
  local f=$RUN/$1.pid pid
  [[ -r $f ]] || return 1
  pid=$(<"$f")
  is_ours "$pid" && echo "$pid"
}

# Every process of ours: those in pid files, plus any started with our config
# whose pid file was never written or already removed (e.g. a crashed start).
our_pids() {
  local d p
  {
    for d in "${DAEMONS[@]}"; do daemon_pid "$d" || true; done
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      if [[ $p != "$$" ]] && is_ours "$p"; then echo "$p"; fi
    done
  } | sort -un
}

kill_daemons() {
  local pids i
  pids=$(our_pids)
  [[ -n $pids ]] || return 0
  log "stopping pids $(echo $pids)"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    pids=$(for p in $pids; do if is_ours "$p"; then echo "$p"; fi; done)
    [[ -n $pids ]] || return 0
    # The state is thrown away, so there is no point waiting long for the
    # in-memory OSD to write itself out.
    ((i == 50)) && { log "sending SIGKILL to $(echo $pids)"; kill -KILL $pids 2>/dev/null || true; }
    sleep 0.1
  done
  die "processes $(echo $pids) did not exit"
}

remove_dir() {
  [[ -d $RGW_DIR ]] || return 0
  if [[ -e $MARKER || -z $(ls -A "$RGW_DIR") ]]; then
    rm -rf -- "$RGW_DIR"
  else
    die "$RGW_DIR exists but was not created by this script; refusing to delete it"
  fi
}

healthy() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
  [[ -s $RGW_DIR/env ]] && s3_answers
}

# wait_for SECONDS WHAT LOGNAME COMMAND...: retry COMMAND once a second.
wait_for() {
  local secs=$1 what=$2 name=$3 deadline
  shift 3
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>>"$LOGS/commands.log"; do
    ((SECONDS < deadline)) || die "$what not ready after ${secs}s" "$name"
    sleep 1
  done
}

ceph_cli() { timeout 20 ceph -c "$CONF" --connect-timeout 15 "$@"; }
rgw_admin() { timeout 30 radosgw-admin -c "$CONF" "$@"; }
osd_up() { [[ $(ceph_cli osd stat 2>/dev/null) == *' 1 up'* ]]; }
user_ready() {
  rgw_admin user info --uid="$USER_ID" >/dev/null 2>&1 ||
    rgw_admin user create --uid="$USER_ID" --display-name="$USER_ID" \
      --access-key="$RGW_ACCESS_KEY" --secret="$RGW_SECRET_KEY" >/dev/null
}

write_conf() {
  local fsid sts_key
  fsid=$(uuidgen)
  sts_key=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')   # STS needs exactly 16 chars
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = 127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# Loopback-only test cluster: no cephx, no keyrings.
auth cluster required = none
auth service required = none
auth client required = none
keyring = $RGW_DIR/keyring
run dir = $RUN
log file = $LOGS/\$name.log
mon cluster log file = $LOGS/cluster.log
crash dir = $RGW_DIR/crash
# One OSD: pools of size 1, placement across OSDs rather than hosts, few PGs.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on msgr2 not enabled = false
mon warn on insecure global id reclaim allowed = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# Tests may run on a nearly full disk; the monitor stops itself below crit.
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $RGW_DIR/\$name
pid file = $RUN/\$name.pid

[osd]
osd data = $RGW_DIR/\$name
osd journal = $RGW_DIR/\$name/journal
pid file = $RUN/\$name.pid
osd objectstore = memstore
memstore device bytes = $RGW_MEMSTORE_BYTES
# The default (460) makes RGW answer 500 for keys over ~381 bytes in versioned buckets.
osd max object name len = 2048
osd max object namespace len = 64

[client.rgw]
rgw data = $RGW_DIR/\$name
pid file = $RUN/\$name.pid
# Loopback only; without tcp_nodelay every small response waits ~40 ms for Nagle.
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
# One lifecycle "day" lasts this many seconds, so expiry really runs in tests.
rgw lc debug interval = $RGW_LC_DEBUG_INTERVAL
rgw lc max worker = 1
rgw enable usage log = false
rgw sts key = $sts_key
rgw s3 auth use sts = true
EOF
}

cmd_start() {
  if healthy; then
    log "already running at http://127.0.0.1:$RGW_PORT"
    cat "$RGW_DIR/env"
    return 0
  fi
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen; do
    command -v "$bin" >/dev/null || die "$bin not found (install ceph-mon ceph-osd radosgw ceph-common)"
  done
  # Leftovers of a crashed or half-finished start are discarded, not repaired.
  kill_daemons
  remove_dir
  port_open "$RGW_PORT" && die "port $RGW_PORT is already in use"
  port_open "$MON_PORT" && die "port $MON_PORT is in use (another Ceph monitor?)"

  local t0=$SECONDS
  mkdir -p "$RGW_DIR"
  touch "$MARKER"
  mkdir -p "$LOGS" "$RUN" "$RGW_DIR/crash" "$RGW_DIR/mon.a" "$RGW_DIR/osd.0" "$RGW_DIR/client.rgw"
  write_conf
  # From here on a failure must not leave half a cluster running; the
  # directory stays so its logs can be read.
  trap 'if (($? != 0)); then kill_daemons; log "logs kept in $LOGS"; fi' EXIT

  log "starting monitor"
  monmaptool --create --add a "127.0.0.1:$MON_PORT" --fsid "$(awk '/^fsid/ {print $3}' "$CONF")" \
    "$RGW_DIR/monmap" >>"$LOGS/commands.log" 2>&1 || die "monmaptool failed" commands
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$RGW_DIR/monmap" "${AS_ROOT[@]}" \
    >>"$LOGS/commands.log" 2>&1 || die "ceph-mon --mkfs failed" mon.a
  ceph-mon -c "$CONF" -i a "${AS_ROOT[@]}" >>"$LOGS/commands.log" 2>&1 || die "ceph-mon failed to start" mon.a
  wait_for 30 "monitor" mon.a ceph_cli mon stat

  log "starting OSD"
  # The OSD re-registers itself with its uuid on boot; an OSD created without
  # one is then refused with "wrong fsid".
  local id uuid
  uuid=$(uuidgen)
  id=$(ceph_cli osd create "$uuid" 2>>"$LOGS/commands.log") || die "ceph osd create failed" mon.a
  [[ $id == 0 ]] || die "expected OSD id 0, got '$id'" mon.a
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" "${AS_ROOT[@]}" >>"$LOGS/commands.log" 2>&1 || die "ceph-osd --mkfs failed" osd.0
  ceph-osd -c "$CONF" -i 0 "${AS_ROOT[@]}" >>"$LOGS/commands.log" 2>&1 || die "ceph-osd failed to start" osd.0
  wait_for 60 "OSD" osd.0 osd_up

  log "starting radosgw on 127.0.0.1:$RGW_PORT"
  radosgw -c "$CONF" -n client.rgw "${AS_ROOT[@]}" >>"$LOGS/commands.log" 2>&1 || die "radosgw failed to start" client.rgw
  wait_for 90 "S3 endpoint" client.rgw s3_answers

  wait_for 60 "S3 user" client.admin user_ready
  rgw_admin caps add --uid="$USER_ID" --caps="roles=*" >/dev/null 2>>"$LOGS/commands.log" ||
    log "warning: could not add roles caps"

  cat >"$RGW_DIR/env" <<EOF
export RGW_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export RGW_ACCESS_KEY=$RGW_ACCESS_KEY
export RGW_SECRET_KEY=$RGW_SECRET_KEY
EOF
  log "ready at http://127.0.0.1:$RGW_PORT after $((SECONDS - t0))s"
  cat "$RGW_DIR/env"
}

cmd_stop() {
  kill_daemons
  remove_dir
  log "stopped"
}

cmd_status() {
  if s3_answers; then
    log "S3 answers at http://127.0.0.1:$RGW_PORT"
  else
    log "S3 does not answer at http://127.0.0.1:$RGW_PORT"
    return 1
  fi
}

cmd_env() {
  [[ -s $RGW_DIR/env ]] || die "not started (no $RGW_DIR/env); run: $0 start"
  cat "$RGW_DIR/env"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
