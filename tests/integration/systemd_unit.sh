#!/bin/bash
# systemd/isonoded.service passes systemd-analyze verify; systemd's own
# offline security analysis rates its sandbox (not a grep of our own
# strings: a unit stripped of its hardening fails here); and the daemon
# really speaks the notify protocol the unit declares: READY=1 only once it
# accepts associations, WATCHDOG=1 at the rate WatchdogSec asks, STOPPING=1
# on SIGTERM.
. "$top_srcdir/tests/lib/common.sh"
need systemd-analyze python3 echoscu
unit=$top_builddir/systemd/isonoded.service
[ -f "$unit" ] || fail "unit not generated at $unit"
grep -q "^ExecStart=/.*/isonoded -c /.*/isonode/isonode.conf$" "$unit" || fail "ExecStart not filled in: $(grep ExecStart "$unit")"
# exposure 0.0 (locked down) .. 10.0 (unsafe), as systemd judges it; the unit
# rates 1.8, without its hardening lines 9.1
systemd-analyze security --offline=yes --threshold=25 "$unit" > "$WORK/security.log" 2>&1 ||
    { tail -30 "$WORK/security.log"; fail "systemd rates the unit's exposure above 2.5"; }
for check in 'User=/DynamicUser=' 'NoNewPrivileges=' 'ProtectSystem=' 'ProtectHome=' 'PrivateTmp=' \
             'SystemCallFilter=~@mount' 'RestrictAddressFamilies=~AF_PACKET'; do
    grep -F "$check" "$WORK/security.log" | grep -q '✓' || fail "systemd finds $check not in force: $(grep -F "$check" "$WORK/security.log")"
done
ok "systemd's offline analysis: $(tail -1 "$WORK/security.log" | sed 's/→ //')"
mkdir -p "$WORK/units"
sed "s|^ExecStart=[^ ]*|ExecStart=$ISONODED|" "$unit" > "$WORK/units/isonoded.service"
# verify runs man(1) on Documentation=: point it at our pages.
mkdir -p "$WORK/man/man1" "$WORK/man/man5" "$WORK/man/man8"
cp "$top_builddir/man/isonode.1" "$WORK/man/man1/"; cp "$top_builddir/man/isonode.conf.5" "$WORK/man/man5/"
cp "$top_srcdir/man/isonoded.8" "$WORK/man/man8/"
MANPATH=$WORK/man systemd-analyze verify "$WORK/units/isonoded.service" > "$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
ok "systemd-analyze verify passes"

# READY=1 comes after the port is bound: listen on a notify socket ourselves.
write_conf
sock=$WORK/notify.sock
python3 - "$sock" > "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
while True:
    msg = s.recv(4096).decode()
    print(msg.replace("\n", " "), flush=True)
    if "STOPPING=1" in msg:
        break
PY
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
# WatchdogSec=1s as systemd passes it: WATCHDOG_USEC (no WATCHDOG_PID: any)
NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000 "$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 & NODE_PID=$!
for _ in $(seq 50); do grep -q READY=1 "$WORK/notify.log" && break; sleep 0.1; done
grep -q 'READY=1' "$WORK/notify.log" || fail "no READY=1"
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "READY=1 sent but no C-ECHO answer"
sleep 2.2
beats=$(grep -c 'WATCHDOG=1' "$WORK/notify.log" || true)
[ "$beats" -ge 3 ] || fail "$beats watchdog keep-alives in 2.2 s with WatchdogSec=1s"
stop_node
sleep 0.3
grep -q 'STOPPING=1' "$WORK/notify.log" || fail "no STOPPING=1"
ok "READY=1 once associations are accepted, $beats WATCHDOG=1 in 2.2 s (WatchdogSec=1s), STOPPING=1 on SIGTERM"
