# common.sh — shared helpers for the integration tests (sourced, bash).
#
# Each test gets a private work directory, starts the isonoded it needs on a
# free loopback port, and stops it on exit.  Tools a test needs but the
# machine lacks make it skip (exit 77) with a message, never pass silently.
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
ISONODED=$top_builddir/src/isonoded
ISONODE=$top_builddir/src/isonode
SHARED=${SHARED:-$(cd "$top_srcdir/.." && pwd)/shared}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/isonode-test.XXXXXX")
NODE_PID=
PORT=
CONF=$WORK/isonode.conf
DATA=$WORK/data
export DCMDICTPATH=${DCMDICTPATH:-/usr/share/libdcmtk17/dicom.dic}

cleanup() {
    [ -n "$NODE_PID" ] && kill -9 "$NODE_PID" 2>/dev/null
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${KEEP_WORK:-}" ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$WORK/node.log" ] && tail -n 30 "$WORK/node.log" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }
need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c not installed"; done; }
need_shared() { [ -d "$SHARED/data" ] || skip "../shared not found at $SHARED"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_conf [EXTRA_NODE_LINES] [EXTRA_SECTIONS]: a config on a fresh port.
write_conf() {
    PORT=$(free_port)
    {
        echo "[node]"
        echo "port = $PORT"
        echo "data_dir = $DATA"
        echo "log_level = info"
        [ -n "${1:-}" ] && printf '%b\n' "$1"
        # tests of the store compare objects byte for byte: de-identification
        # is off unless a test asks for it (ANONYMIZE=yes)
        printf '[anonymize]\nenabled = %s\n' "${ANONYMIZE:-no}"
        [ -n "${2:-}" ] && printf '%b\n' "$2"
    } > "$CONF"
}

# start_node: starts isonoded on $CONF and waits until it answers C-ECHO.
start_node() {
    "$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 &
    NODE_PID=$!
    for _ in $(seq 100); do
        if echoscu -to 2 -aec ISONODE 127.0.0.1 "$PORT" >/dev/null 2>&1; then return 0; fi
        kill -0 "$NODE_PID" 2>/dev/null || fail "isonoded exited at start"
        sleep 0.1
    done
    fail "isonoded did not answer C-ECHO on port $PORT"
}

# stop_node: SIGTERM and wait; fails if the daemon does not exit cleanly.
stop_node() {
    [ -n "$NODE_PID" ] || return 0
    kill -TERM "$NODE_PID"
    local rc=0
    wait "$NODE_PID" || rc=$?
    NODE_PID=
    [ "$rc" -eq 0 ] || fail "isonoded exited with $rc on SIGTERM"
}

node() { "$ISONODE" -c "$CONF" "$@"; }

# count LEVEL: number of rows isonode ls prints at that level.
count() { node ls "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# A storescu configuration that proposes each storage SOP class once per
# transfer syntax we test, so every file goes out exactly as it is encoded.
storescu_all_ts_cfg() {
    local f=$WORK/storescu-all-ts.cfg
    local ts="LittleEndianExplicit LittleEndianImplicit BigEndianExplicit RLELossless JPEGLossless JPEGLosslessSV1 JPEGLSLossless JPEG2000LosslessOnly DeflatedLittleEndianExplicit"
    {
        echo "[[TransferSyntaxes]]"
        local uids=(1.2.840.10008.1.2.1 1.2.840.10008.1.2 1.2.840.10008.1.2.2 1.2.840.10008.1.2.5 1.2.840.10008.1.2.4.57 1.2.840.10008.1.2.4.70 1.2.840.10008.1.2.4.80 1.2.840.10008.1.2.4.90 1.2.840.10008.1.2.1.99)
        local i=0
        for t in $ts; do echo "[$t]"; echo "TransferSyntax1 = ${uids[$i]}"; i=$((i+1)); done
        echo "[[PresentationContexts]]"
        echo "[Contexts]"
        local n=1
        for cls in MRImageStorage CTImageStorage SecondaryCaptureImageStorage; do
            for t in $ts; do echo "PresentationContext$n = $cls\\$t"; n=$((n+1)); done
        done
        echo "[[Profiles]]"
        echo "[AllTS]"
        echo "PresentationContexts = Contexts"
    } > "$f"
    echo "$f"
}

# need_pydicom: sets PY to a Python with pydicom and numpy (Debian's
# python3-pydicom and python3-numpy live in /usr/bin/python3, which may not
# be the first python3 on PATH), or skips.
need_pydicom() {
    for p in /usr/bin/python3 python3; do
        if "$p" -c 'import pydicom, numpy' >/dev/null 2>&1; then PY=$p; return 0; fi
    done
    skip "python3-pydicom and python3-numpy not installed"
}

# json_get FILE EXPR: evaluates a Python expression on the JSON in FILE (as r).
json_get() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
