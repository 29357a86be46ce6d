# e2e.sh — helpers for the end-to-end tests (sourced after common.sh): a
# DCMTK storescp standing in for the sender's own receiving port, and waits
# on what it and the node's job queue report.

# start_receiver NAME AE: storescp on a fresh port, files in $WORK/NAME;
# sets RECV_PORT and RECV_PID.
start_receiver() {
    RECV_PORT=$(free_port)
    mkdir -p "$WORK/$1"
    storescp -v -aet "$2" -od "$WORK/$1" "$RECV_PORT" > "$WORK/$1.log" 2>&1 &
    RECV_PID=$!
}

# received NAME: C-STORE requests the receiver NAME has taken so far.
received() { grep -c 'Received Store Request' "$WORK/$1.log" 2>/dev/null || true; }

# wait_received NAME N SECONDS: until NAME has N requests (or time is up).
wait_received() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(received "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# jobs_json: the node's job list as JSON.
jobs_json() { node jobs list --json; }

# wait_jobs_done N SECONDS: until N jobs exist and none is queued or running.
wait_jobs_done() {
    for _ in $(seq $(($2 * 10))); do
        jobs_json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if len(j) >= int(sys.argv[1]) and all(r["state"] not in ("queued", "running") for r in j) else 1)' "$1" && return 0
        sleep 0.1
    done
    return 1
}
