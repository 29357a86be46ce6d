#!/bin/bash
# systemd/isonoded.service passes systemd-analyze verify, is Type=notify with
# watchdog and hardening, and the daemon really sends READY=1 (under
# systemd-notify's socket) only once it accepts associations.
. "$top_srcdir/tests/lib/common.sh"
need systemd-analyze python3 echoscu
unit=$top_builddir/systemd/isonoded.service
[ -f "$unit" ] || fail "unit not generated at $unit"
grep -q "^ExecStart=/.*/isonoded -c /.*/isonode/isonode.conf$" "$unit" || fail "ExecStart not filled in: $(grep ExecStart "$unit")"
for k in 'Type=notify' 'WatchdogSec=' 'StateDirectory=isonode' 'ProtectSystem=strict' \
         'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ProtectHome=yes' 'User=isonode' 'Restart=on-failure'; do
    grep -q "^$k" "$unit" || fail "unit lacks $k"
done
ok "unit declares Type=notify, watchdog, state directory, hardening, dedicated user, restart"
mkdir -p "$WORK/units"
sed "s|^ExecStart=[^ ]*|ExecStart=$ISONODED|" "$unit" > "$WORK/units/isonoded.service"
# verify runs man(1) on Documentation=: point it at our pages.
mkdir -p "$WORK/man/man1" "$WORK/man/man5" "$WORK/man/man8"
cp "$top_srcdir/man/isonode.1" "$WORK/man/man1/"; cp "$top_srcdir/man/isonode.conf.5" "$WORK/man/man5/"
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
NOTIFY_SOCKET=$sock "$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 & NODE_PID=$!
for _ in $(seq 50); do grep -q READY=1 "$WORK/notify.log" && break; sleep 0.1; done
grep -q 'READY=1' "$WORK/notify.log" || fail "no READY=1"
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "READY=1 sent but no C-ECHO answer"
stop_node
sleep 0.3
grep -q 'STOPPING=1' "$WORK/notify.log" || fail "no STOPPING=1"
ok "READY=1 once associations are accepted, STOPPING=1 on SIGTERM"
