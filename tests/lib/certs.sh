# certs.sh — a throw-away PKI for the TLS tests, made with the openssl
# command (sourced, bash).  make_pki DIR writes into DIR:
#   ca.pem ca.key                 the test CA
#   node.pem node.key             CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (the node)
#   peer.pem peer.key             CN=localhost, SAN as node (storescp, Orthanc)
#   mod1.pem mod1.key             CN=mod1 (a modality's client certificate)
#   mod2.pem mod2.key             CN=mod2 (valid, but bound to nobody)
#   expired.pem expired.key       CN=mod1, valid 2020-2021
#   revoked.pem revoked.key       CN=mod1, revoked in crl.pem
#   wronghost.pem wronghost.key   CN=wrong.example, SAN DNS:wrong.example
#   selfsigned.pem selfsigned.key CN=mod1, self-signed (no CA knows it)
#   crl.pem                       the CA's CRL (revoked.pem in it)
#   node2.pem                     a renewed node certificate (same key, new serial)
# Keys are 0600.  Every certificate is ECDSA P-256 (fast to make).

pki_cfg() {
    cat > "$1/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
dir = $1
database = $1/index.txt
new_certs_dir = $1/new
serial = $1/serial
crlnumber = $1/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[leaf]
basicConstraints = CA:false
keyUsage = digitalSignature, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
EOF
}

# leaf DIR NAME CN [SAN] [extra openssl ca args...]
leaf() {
    local d=$1 name=$2 cn=$3 san=${4:-}
    shift 4 2>/dev/null || shift $#
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
    chmod 600 "$d/$name.key"
    local ext=()
    [ -n "$san" ] && ext=(-addext "subjectAltName=$san")
    openssl req -new -key "$d/$name.key" -subj "/CN=$cn" "${ext[@]}" -out "$d/$name.csr" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -extensions leaf -cert "$d/ca.pem" -keyfile "$d/ca.key" \
        -in "$d/$name.csr" -out "$d/$name.pem" -notext "$@" >/dev/null 2>&1 || return 1
}

make_pki() {
    local d=$1
    mkdir -p "$d/new"
    : > "$d/index.txt"
    echo 1000 > "$d/serial"
    echo 1000 > "$d/crlnumber"
    pki_cfg "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/ca.key" -subj "/CN=isonode test CA" -days 30 \
        -addext "basicConstraints=critical,CA:true" -addext "keyUsage=keyCertSign,cRLSign" \
        -out "$d/ca.pem" 2>/dev/null || return 1
    leaf "$d" node localhost "DNS:localhost,IP:127.0.0.1" || return 1
    leaf "$d" peer localhost "DNS:localhost,IP:127.0.0.1" || return 1
    leaf "$d" mod1 mod1 "" || return 1
    leaf "$d" mod2 mod2 "" || return 1
    leaf "$d" expired mod1 "" -startdate 20200101000000Z -enddate 20210101000000Z || return 1
    leaf "$d" revoked mod1 "" || return 1
    leaf "$d" wronghost wrong.example "DNS:wrong.example" || return 1
    openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
        -revoke "$d/revoked.pem" >/dev/null 2>&1 || return 1
    openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" -gencrl \
        -out "$d/crl.pem" >/dev/null 2>&1 || return 1
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/selfsigned.key" 2>/dev/null
    chmod 600 "$d/selfsigned.key"
    openssl req -x509 -new -key "$d/selfsigned.key" -subj "/CN=mod1" -days 30 \
        -out "$d/selfsigned.pem" 2>/dev/null || return 1
    openssl req -new -key "$d/node.key" -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out "$d/node2.csr" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -extensions leaf -cert "$d/ca.pem" -keyfile "$d/ca.key" \
        -in "$d/node2.csr" -out "$d/node2.pem" -notext -days 60 >/dev/null 2>&1 || return 1
}

# sha256 of a certificate's DER, as 64 lower-case hex digits.
cert_sha256() {
    openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}
