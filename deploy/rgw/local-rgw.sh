#!/usr/bin/env bash
# A throwaway single-node Ceph cluster (one monitor, one in-memory OSD) with a
# radosgw S3 endpoint on loopback, for local development and the test suite.
#
#   local-rgw.sh start   start it; when already healthy, only print the env
#   local-rgw.sh stop    stop its daemons and remove its state directory
#   local-rgw.sh status  exit 0 when S3 answers, 1 otherwise
#   local-rgw.sh env     print `export` lines for the endpoint and credentials
#   local-rgw.sh gc      free the space of deleted objects now (radosgw frees it
#                        two hours after a delete; the store is in memory)
#
# Settings (environment): RGW_DIR, RGW_PORT, RGW_ACCESS_KEY, RGW_SECRET_KEY,
# RGW_LC_DEBUG_INTERVAL, RGW_MEMSTORE_BYTES. Needs root and the Debian
# packages ceph-mon ceph-osd radosgw ceph-common.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/session-gateway-rgw}
RGW_PORT=${RGW_PORT:-7480}
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-gateway-test}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-gateway-test-secret}
RGW_LC_DEBUG_INTERVAL=${RGW_LC_DEBUG_INTERVAL:-10}
RGW_MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-$((4 * 1024 * 1024 * 1024))}

RGW_DIR=${RGW_DIR%/}
[[ $RGW_DIR == /?* ]] || { echo "local-rgw: RGW_DIR must be an absolute path" >&2; exit 2; }
for v in RGW_PORT RGW_LC_DEBUG_INTERVAL RGW_MEMSTORE_BYTES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "local-rgw: $v must be a whole number" >&2; exit 2; }
done
CONF=$RGW_DIR/ceph.conf
LOGS=$RGW_DIR/log
RUN=$RGW_DIR/run
MARKER=$RGW_DIR/.local-rgw # proves the directory is ours before anything deletes it
USER_ID=session-gateway
# Messenger v1 on the classic port: on other ports clients speak v2 and, with
# auth "none", radosgw fails to authenticate and hangs.
MON_PORT=6789
DAEMONS=(client.rgw osd.0 mon.a) # stop order: clients of the cluster first
AS_ROOT=(--setuser root --setgroup root)
# All settings are in the file. Fetching config from the monitor first also
# leaves the daemon's monitor client with a zero fsid until the monmap comes;
# the OSD's first command can beat it and is refused ("wrong fsid").
NO_MON_CONFIG=--no-mon-config
export CEPH_CONF=$CONF

log() { echo "local-rgw: $*" >&2; }

# die MESSAGE [LOGNAME]: fail, showing the tail of that daemon's log and of
# commands.log, where errors raised before a daemon opens its log end up.
die() {
  local f
  log "ERROR: $1"
  for f in ${2:+"$LOGS/$2.log"} "$LOGS/commands.log"; do
    [[ -s $f ]] || continue
    log "last lines of $f:"
    tail -n 30 "$f" >&2
  done
  exit 1
}

# run LOGNAME WHAT COMMAND...
run() {
  local name=$1 what=$2
  shift 2
  "$@" >>"$LOGS/commands.log" 2>&1 || die "$what failed" "$name"
}

# wait_for SECONDS WHAT LOGNAME COMMAND...: retry COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2 name=$3 deadline
  shift 3
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>>"$LOGS/commands.log"; do
    ((SECONDS < deadline)) || die "$what not ready after ${secs}s" "$name"
    sleep 0.2
  done
}

# Succeeds when the port answers an anonymous ListBuckets with 200. Plain bash
# needs no HTTP client; the reply is read to the end because hanging up early
# makes radosgw log an error for every probe.
# shellcheck disable=SC2016
s3_answers() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
    IFS= read -r line <&3 && cat <&3 >/dev/null &&
    [[ $line == "HTTP/1."?" 200"* ]]' _ "$RGW_PORT" 2>/dev/null
}

# shellcheck disable=SC2016
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# A pid counts only while it is a live (not zombie) process started with our
# config file: pid files go stale and pids get reused.
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
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) && is_ours "$pid" && echo "$pid"
}

# terminate WHAT PID...: SIGTERM, SIGKILL after 5 s, wait until gone.
terminate() {
  local what=$1 i p alive
  shift
  log "stopping $what (pid $*)"
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive=()
    for p in "$@"; do if is_ours "$p"; then alive+=("$p"); fi; done
    ((${#alive[@]})) || return 0
    ((i != 50)) || kill -KILL "${alive[@]}" 2>/dev/null || true
    sleep 0.1
  done
  die "$what (pid ${alive[*]}) did not exit"
}

# One daemon at a time: radosgw whose OSD is already gone waits two minutes
# before giving up on a clean shutdown. Then anything else started with our
# config that no pid file names (a crashed start, a stuck radosgw-admin).
kill_daemons() {
  local d p pid strays=()
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then terminate "$d" "$pid"; fi
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if [[ $p != "$$" ]] && is_ours "$p"; then strays+=("$p"); fi
  done
  ((${#strays[@]} == 0)) || terminate "leftover processes" "${strays[@]}"
}

remove_dir() {
  [[ -d $RGW_DIR ]] || return 0
  [[ -e $MARKER || -z $(ls -A "$RGW_DIR") ]] ||
    die "$RGW_DIR exists but was not made by this script; refusing to delete it"
  rm -rf -- "$RGW_DIR"
}

healthy() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
  [[ -s $RGW_DIR/env ]] && s3_answers
}

ceph_cli() { timeout 20 ceph -c "$CONF" --connect-timeout 15 "$@"; }
rgw_admin() { timeout 30 radosgw-admin -c "$CONF" $NO_MON_CONFIG "$@"; }
osd_up() { [[ $(ceph_cli osd stat 2>/dev/null) == *' 1 up'* ]]; }
user_ready() {
  rgw_admin user info --uid="$USER_ID" >/dev/null 2>&1 ||
    rgw_admin user create --uid="$USER_ID" --display-name="$USER_ID" \
      --access-key="$RGW_ACCESS_KEY" --secret="$RGW_SECRET_KEY" >/dev/null
}

# write_conf FSID
write_conf() {
  local sts_key
  sts_key=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n') # STS wants exactly 16 chars
  cat >"$CONF" <<EOF
[global]
fsid = $1
mon host = 127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# Loopback-only test cluster: no cephx, so no keyrings.
auth cluster required = none
auth service required = none
auth client required = none
keyring = $RGW_DIR/keyring
run dir = $RUN
log file = $LOGS/\$name.log
mon cluster log file = $LOGS/cluster.log
crash dir = $RGW_DIR/crash
# One OSD: pools of size 1, replicas across OSDs rather than hosts, few PGs.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# radosgw creates its pools one map change at a time; at the default 1 s per
# change its first start takes ~10 s instead of ~1 s.
paxos propose interval = 0.1
# The monitor shuts itself down when its disk has under 5 % free.
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
# With the default 460, RGW answers 500 for keys over ~381 bytes in versioned buckets.
osd max object name len = 2048
osd max object namespace len = 64

[client.rgw]
rgw data = $RGW_DIR/\$name
pid file = $RUN/\$name.pid
# Without tcp_nodelay every small response waits ~40 ms (Nagle/delayed ACK).
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
  local bin fsid id t0=$SECONDS
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$bin" >/dev/null || die "$bin not found (install ceph-mon ceph-osd radosgw ceph-common)"
  done
  # Leftovers of a crashed or half-finished start are discarded, not repaired.
  kill_daemons
  remove_dir
  ! port_open "$RGW_PORT" || die "port $RGW_PORT is already in use"
  ! port_open "$MON_PORT" || die "port $MON_PORT is already in use (another Ceph monitor?)"

  mkdir -p "$RGW_DIR"
  touch "$MARKER"
  mkdir -p "$LOGS" "$RUN" "$RGW_DIR/crash" "$RGW_DIR/mon.a" "$RGW_DIR/osd.0" "$RGW_DIR/client.rgw"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  # A failed or interrupted start must not leave half a cluster running; the
  # directory stays so that its logs can be read.
  trap 'if (($? != 0)); then kill_daemons; log "logs kept in $LOGS"; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP

  log "starting monitor"
  run commands monmaptool monmaptool --create --add a "127.0.0.1:$MON_PORT" --fsid "$fsid" "$RGW_DIR/monmap"
  run mon.a "ceph-mon --mkfs" ceph-mon -c "$CONF" -i a --mkfs --monmap "$RGW_DIR/monmap" "${AS_ROOT[@]}"
  run mon.a "starting ceph-mon" ceph-mon -c "$CONF" -i a "${AS_ROOT[@]}"
  wait_for 30 "monitor" mon.a ceph_cli mon stat

  log "starting OSD"
  id=$(ceph_cli osd create 2>>"$LOGS/commands.log") || die "ceph osd create failed" mon.a
  [[ $id == 0 ]] || die "expected OSD id 0, got '$id'" mon.a
  run osd.0 "ceph-osd --mkfs" ceph-osd -c "$CONF" -i 0 --mkfs "${AS_ROOT[@]}"
  run osd.0 "starting ceph-osd" ceph-osd -c "$CONF" -i 0 $NO_MON_CONFIG "${AS_ROOT[@]}"
  wait_for 60 "OSD" osd.0 osd_up

  log "starting radosgw on 127.0.0.1:$RGW_PORT"
  run client.rgw "starting radosgw" radosgw -c "$CONF" -n client.rgw $NO_MON_CONFIG "${AS_ROOT[@]}"
  wait_for 90 "S3 endpoint" client.rgw s3_answers
  wait_for 60 "S3 user" client.admin user_ready
  rgw_admin caps add --uid="$USER_ID" --caps="roles=*" >/dev/null 2>>"$LOGS/commands.log" ||
    log "warning: could not give $USER_ID the roles caps (IAM roles, STS)"

  cat >"$RGW_DIR/env" <<EOF
export RGW_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export RGW_ACCESS_KEY=$RGW_ACCESS_KEY
export RGW_SECRET_KEY=$RGW_SECRET_KEY
EOF
  log "ready at http://127.0.0.1:$RGW_PORT after $((SECONDS - t0))s"
  cat "$RGW_DIR/env"
}

case ${1:-} in
  start) cmd_start ;;
  stop)
    kill_daemons
    remove_dir
    log "stopped"
    ;;
  status)
    s3_answers && { log "S3 answers at http://127.0.0.1:$RGW_PORT"; exit 0; }
    log "S3 does not answer at http://127.0.0.1:$RGW_PORT"
    exit 1
    ;;
  env)
    [[ -s $RGW_DIR/env ]] || die "not started (no $RGW_DIR/env); run: $0 start"
    cat "$RGW_DIR/env"
    ;;
  gc)
    s3_answers || die "not running"
    rgw_admin gc process --include-all
    log "deleted objects' space freed"
    ;;
  *) echo "usage: $0 start|stop|status|env|gc" >&2; exit 2 ;;
esac
