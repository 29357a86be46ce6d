# orthanc.sh — starting Orthanc for a test (sourced after common.sh).
#
# start_orthanc WRITE_JSON: WRITE_JSON writes $WORK/orthanc.json from $DP
# (Orthanc's DICOM port) and $HP (its HTTP port); Orthanc starts, and once
# its REST API answers at $api, ORTHANC_PID is set (killed on exit).  A port
# can be taken between free_port and Orthanc's bind: Orthanc then starts
# again on fresh ports (three tries in all), and the "port = OLD" lines of
# $CONF follow DP.  The test fails with Orthanc's log if it never starts.
start_orthanc() {
    mkdir -p "$WORK/orthanc"
    for _ in 1 2 3; do
        "$1"
        Orthanc "$WORK/orthanc.json" >> "$WORK/orthanc.log" 2>&1 &
        ORTHANC_PID=$!
        trap 'kill $ORTHANC_PID 2>/dev/null; cleanup' EXIT
        api="http://127.0.0.1:$HP"
        for _ in $(seq 100); do
            curl -sf "$api/system" > /dev/null && return 0
            kill -0 "$ORTHANC_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill "$ORTHANC_PID" 2>/dev/null
        wait "$ORTHANC_PID" 2>/dev/null
        local old=$DP
        DP=$(free_port)
        HP=$(free_port)
        [ -f "$CONF" ] && sed -i "s/^port = $old\$/port = $DP/" "$CONF"
    done
    fail "Orthanc did not start: $(tail -5 "$WORK/orthanc.log")"
}
