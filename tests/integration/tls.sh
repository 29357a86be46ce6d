#!/bin/bash
# DICOM TLS against DCMTK's own TLS tools, both directions, with mutual
# authentication: echoscu/storescu +tls into the node's TLS port (client
# certificates verified, one bound to its AE title), the node's isonode
# echo|send and its outbox into storescp +tls (which requires the node's
# client certificate), host names and pins checked.  Every hostile handshake
# is refused within acse_timeout with one log line saying why, while a plain
# and a TLS peer keep being served.  SIGHUP renews the node's certificate
# while a TLS association stays open.  Certificates are made here with the
# openssl command (tests/lib/certs.sh).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/certs.sh"
need openssl storescu storescp echoscu python3 timeout
need_shared
P=$WORK/pki
make_pki "$P" || fail "making the test certificates"
CT=$(ls "$SHARED"/data/ct/philips-phantom-140/* | head -10)

recv_port=$(free_port); wrong_port=$(free_port); TLS_PORT=$(free_port)
mkdir -p "$WORK/recv" "$WORK/wrong" "$WORK/tls"
storescp -aet RECV +tls "$P/peer.key" "$P/peer.pem" +cf "$P/ca.pem" --require-peer-cert \
    -od "$WORK/recv" "$recv_port" > "$WORK/recv.log" 2>&1 &
storescp -aet WRONG +tls "$P/wronghost.key" "$P/wronghost.pem" +cf "$P/ca.pem" \
    -od "$WORK/wrong" "$wrong_port" > "$WORK/wrong.log" 2>&1 &
# the node's files live where a renewal can replace them
cp "$P/node.pem" "$P/node.key" "$WORK/tls/"
chmod 600 "$WORK/tls/node.key"
mod1_sha=$(cert_sha256 "$P/mod1.pem")
wrong_sha=$(cert_sha256 "$P/wronghost.pem")
write_conf "tls_port = $TLS_PORT\nacse_timeout = 3\ncheck_calling_ae = yes" \
"[tls]
certificate = $WORK/tls/node.pem
private_key = $WORK/tls/node.key
ca_file = $P/ca.pem
crl_file = $P/crl.pem
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104
[peer mod1]
ae_title = MOD1
host = 127.0.0.1
port = 104
client_certificate_sha256 = $mod1_sha
[peer mod2]
ae_title = MOD2
host = 127.0.0.1
port = 104
client_certificate_subject = CN=mod2
[peer recv]
ae_title = RECV
host = 127.0.0.1
port = $recv_port
tls = yes
[peer wrong]
ae_title = WRONG
host = localhost
port = $wrong_port
tls = yes
[peer pinned]
ae_title = PINNED
host = localhost
port = $wrong_port
tls = yes
certificate_sha256 = $wrong_sha"

# a key others may read is refused before anything listens
chmod 644 "$WORK/tls/node.key"
"$ISONODED" -c "$CONF" > "$WORK/badkey.log" 2>&1 && fail "isonoded started with a world-readable key"
grep -q 'may be read by others (mode 0644): chmod 600 it' "$WORK/badkey.log" ||
    fail "key mode refusal: $(cat "$WORK/badkey.log")"
grep -q 'BEGIN\|PRIVATE' "$WORK/badkey.log" && fail "key material in the log"
chmod 600 "$WORK/tls/node.key"
ok "a private key others may read is refused, and not shown"

start_node
grep -q "listening on 0.0.0.0 (port $PORT, TLS port $TLS_PORT)" "$WORK/node.log" || fail "start line"
grep -q "tls: the node's certificate expires in 29 day(s)" "$WORK/node.log" ||
    fail "no expiry warning for a certificate valid 30 days"
node status | grep -q 'tls certificate: CN=localhost, expires in 29 days: WARNING' ||
    fail "status: $(node status | grep tls)"
ok "expiry within 30 days is warned about in the log and by isonode status"

tls_client() { # AE KEY CERT: DCMTK's TLS options for a modality
    echo -aet "$1" -aec ISONODE +tls "$P/$2.key" "$P/$3.pem" +cf "$P/ca.pem"
}
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "echoscu +tls with MOD1's certificate"
storescu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" $CT || fail "storescu +tls"
[ "$(count instances)" = 10 ] || fail "stored $(count instances) instances over TLS"
grep -q "association MOD1 -> ISONODE from 127.0.0.1 over TLSv1.3 .* released .* stored 10" \
    "$WORK/node.log" || fail "no TLS association line"
echoscu $(tls_client MOD2 mod2 mod2) 127.0.0.1 "$TLS_PORT" || fail "MOD2 bound by subject"
ok "echoscu and storescu +tls store over TLS 1.3, client certificates bound by SHA-256 and by subject"

# refusals: each within acse_timeout (3 s), each with its line
lines_before=$(wc -l < "$WORK/node.log")
refused() { # WHAT PATTERN: the log has gained a line matching PATTERN
    for _ in $(seq 50); do
        tail -n +"$((lines_before + 1))" "$WORK/node.log" | grep -q -- "$2" && return 0
        sleep 0.1
    done
    fail "$1: no log line matching '$2'"
}
# a stalled handshake (TCP open, nothing sent) holds only its own thread
python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(6)' \
    "$TLS_PORT" & stall=$!
sleep 0.3
t0=$(date +%s%N)
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "plain echo during a stalled handshake"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "TLS echo during a stalled handshake"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 2000 ] || fail "peers waited ${ms} ms behind a stalled handshake"
refused "stalled handshake" "TLS connection from 127.0.0.1 closed: no TLS handshake within 3 s"
wait $stall
ok "a stalled handshake is dropped after acse_timeout; a plain and a TLS peer were served meanwhile (${ms} ms)"

storescu -aet MOD1 -aec ISONODE 127.0.0.1 "$TLS_PORT" $CT 2>/dev/null && fail "plain DICOM on the TLS port"
refused "plain on TLS port" "closed: plain DICOM (an A-ASSOCIATE-RQ) on the TLS port"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$PORT" 2>/dev/null && fail "TLS on the plain port"
refused "TLS on plain port" "closed: a TLS ClientHello on the plain DICOM port"
for v in tls1 tls1_1; do
    timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" "-$v" -cipher 'DEFAULT@SECLEVEL=0' -cert "$P/mod1.pem" \
        -key "$P/mod1.key" < /dev/null > "$WORK/s_client.log" 2>&1 && fail "$v accepted"
done
refused "TLS 1.0/1.1" "TLS handshake failed: unsupported protocol"
timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_2 -cipher AES128-SHA \
    -cert "$P/mod1.pem" -key "$P/mod1.key" < /dev/null > "$WORK/s_client.log" 2>&1 && fail "weak cipher accepted"
refused "weak cipher" "TLS handshake failed: no shared cipher"
for c in expired:"certificate has expired" revoked:"certificate revoked" \
         selfsigned:"self-signed certificate"; do
    echoscu $(tls_client MOD1 "${c%%:*}" "${c%%:*}") 127.0.0.1 "$TLS_PORT" 2>/dev/null &&
        fail "${c%%:*} client certificate accepted"
    refused "${c%%:*}" "TLS handshake failed: certificate refused: ${c#*:}"
done
echoscu -aet MOD1 -aec ISONODE +tla +cf "$P/ca.pem" 127.0.0.1 "$TLS_PORT" 2>/dev/null &&
    fail "no client certificate accepted"
refused "no client certificate" "TLS handshake failed: peer did not return a certificate"
echoscu $(tls_client MOD1 mod2 mod2) 127.0.0.1 "$TLS_PORT" 2>/dev/null && fail "MOD1 with MOD2's certificate"
refused "wrong client certificate" "rejected: calling AE 'MOD1' presented client certificate .*, not the one bound to \[peer mod1\]"
echoscu -aet MOD1 -aec ISONODE 127.0.0.1 "$PORT" 2>/dev/null && fail "MOD1 over plain TCP"
refused "bound AE over plain TCP" "rejected: calling AE 'MOD1' must call over TLS"
echoscu $(tls_client MOD2 mod1 mod1) 127.0.0.1 "$TLS_PORT" 2>/dev/null && fail "MOD2 with MOD1's certificate"
refused "wrong subject" "calling AE 'MOD2' presented a client certificate of 'CN=mod1', not 'CN=mod2'"
kill -0 "$NODE_PID" || fail "the node died"
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "plain echo after the refusals"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "TLS echo after the refusals"
ok "refused with one line each: plain on the TLS port, TLS on the plain port, TLS 1.0/1.1, a weak cipher, expired, revoked, untrusted and missing client certificates, a certificate not bound to the calling AE, a bound AE over plain TCP"

# the node as client: mutual authentication with storescp +tls
node echo recv | grep -q 'C-ECHO recv (RECV@127.0.0.1:[0-9]*, TLS): success' || fail "isonode echo over TLS"
study=$(node ls studies --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["StudyInstanceUID"])')
node send recv "$study" | grep -q 'sent 10 of 10 instances to recv' || fail "isonode send over TLS"
[ "$(find "$WORK/recv" -type f | wc -l)" = 10 ] || fail "storescp +tls received $(find "$WORK/recv" -type f | wc -l)"
node echo wrong > "$WORK/wrong.out" 2>&1 && fail "a certificate for another host was accepted"
grep -q 'certificate refused: hostname mismatch' "$WORK/wrong.out" || fail "wrong host: $(cat "$WORK/wrong.out")"
node echo pinned | grep -q 'success' || fail "the pinned certificate was not accepted"
extra="$SHARED/data/ct/philips-phantom-140/$(ls "$SHARED"/data/ct/philips-phantom-140 | sed -n 20p)"
node outbox add recv "$extra" || fail "outbox add"
for _ in $(seq 100); do [ "$(find "$WORK/recv" -type f | wc -l)" = 11 ] && break; sleep 0.1; done
[ "$(find "$WORK/recv" -type f | wc -l)" = 11 ] || fail "the outbox did not deliver over TLS"
ok "isonode echo, send and the outbox reach storescp +tls (client certificate required); a wrong host name is refused, a pinned certificate accepted"

# renewal: SIGHUP while a TLS association is open
cat > "$WORK/hold.py" <<'PY'
import os, socket, ssl, sys, time
sys.path.insert(0, sys.argv[5])
import dicomtool as d
port, pki, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
ctx.load_cert_chain(pki + "/mod1.pem", pki + "/mod1.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
first = s.getpeercert(binary_form=True)
s.sendall(d.associate_rq(calling="MOD1", contexts=((1, d.VERIFICATION, d.IMPLICIT_LE),)))
kind, _ = d.recv_pdu(s)
assert kind == 2, kind
open(work + "/open", "w").close()
while not os.path.exists(work + "/go"):
    time.sleep(0.05)
s.sendall(d.pdata(1, d.c_echo_rq(), True))
assert d.read_status(s) == 0
assert d.release(s)
import hashlib
print(hashlib.sha256(first).hexdigest())
PY
python3 "$WORK/hold.py" "$TLS_PORT" "$P" "$WORK" x "$top_srcdir/tests/lib" > "$WORK/hold.out" 2>&1 & hold=$!
for _ in $(seq 100); do [ -f "$WORK/open" ] && break; sleep 0.05; done
[ -f "$WORK/open" ] || fail "the held association did not open: $(cat "$WORK/hold.out")"
cp "$P/node2.pem" "$WORK/tls/node.pem"
kill -HUP "$NODE_PID"
for _ in $(seq 50); do grep -q 'SIGHUP: TLS certificate, key, CAs and CRLs reloaded' "$WORK/node.log" && break; sleep 0.1; done
grep -q 'SIGHUP: TLS certificate, key, CAs and CRLs reloaded (certificate valid for 59 more day(s))' \
    "$WORK/node.log" || fail "no reload line"
touch "$WORK/go"
wait $hold || fail "the association open across SIGHUP failed: $(cat "$WORK/hold.out")"
[ "$(cat "$WORK/hold.out")" = "$(cert_sha256 "$P/node.pem")" ] || fail "the held association changed certificate"
now=$(timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -cert "$P/mod1.pem" -key "$P/mod1.key" \
      -CAfile "$P/ca.pem" < /dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum | cut -d' ' -f1)
[ "$now" = "$(cert_sha256 "$P/node2.pem")" ] || fail "new connections do not get the renewed certificate"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "TLS echo after renewal"
ok "SIGHUP renews the certificate: the open association finished on the old one, new ones get the new one"

# a renewal that does not load keeps the certificate in use
echo garbage > "$WORK/tls/node.pem"
kill -HUP "$NODE_PID"
for _ in $(seq 50); do grep -q 'SIGHUP: TLS files not reloaded' "$WORK/node.log" && break; sleep 0.1; done
grep -q 'SIGHUP: TLS files not reloaded, the previous ones stay in use' "$WORK/node.log" || fail "bad renewal not reported"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "TLS echo after a failed renewal"
ok "a renewal that does not load is reported and the previous certificate stays in use"
grep -rlq 'PRIVATE KEY' "$DATA" && fail "key material under data_dir"
grep -q 'PRIVATE KEY' "$WORK/node.log" && fail "key material in the log"
ok "no private key is copied into data_dir or logged"
stop_node

# verify_peer = optional, the CAs from a hashed directory: a client without a
# certificate is served, a presented one is still verified
cp "$P/node.pem" "$WORK/tls/node.pem"
mkdir -p "$WORK/cadir" && cp "$P/ca.pem" "$WORK/cadir/" && openssl rehash "$WORK/cadir" 2>/dev/null ||
    c_rehash "$WORK/cadir" >/dev/null 2>&1 || fail "openssl rehash"
sed -i "s|^ca_file = .*|ca_dir = $WORK/cadir|" "$CONF"
sed -i 's/^\[tls\]$/[tls]\nverify_peer = optional/' "$CONF"
lines_before=$(wc -l < "$WORK/node.log")
start_node
echoscu -aec ISONODE +tla +cf "$P/ca.pem" 127.0.0.1 "$TLS_PORT" || fail "optional: a client without a certificate"
echoscu $(tls_client MOD1 mod1 mod1) 127.0.0.1 "$TLS_PORT" || fail "optional: a valid client certificate"
echoscu $(tls_client MOD1 expired expired) 127.0.0.1 "$TLS_PORT" 2>/dev/null && fail "optional: an expired certificate"
refused "optional, expired" "TLS handshake failed: certificate refused: certificate has expired"
ok "verify_peer = optional with ca_dir: no certificate is accepted, a presented one is verified"
stop_node
