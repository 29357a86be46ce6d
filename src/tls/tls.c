/* tls.c — contexts, handshakes and session I/O for DICOM TLS (see tls.h). */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util/hex.h"

struct iso_tls {
    const iso_config *cfg;
    pthread_mutex_t mu; /* guards the two context pointers (swapped by reload) */
    SSL_CTX *server, *client;
    long not_after; /* the node's certificate (Unix seconds); 0: none */
};

/* TLS 1.2 suites: ECDHE key exchange with AEAD only (BCP 195 / RFC 9325). */
static const char suites12_nd[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char suites12_ext[] = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char suites13_nd[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char suites13_ext[] = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/* OpenSSL's oldest queued error as text (and the queue emptied). */
static void ssl_reason(char *out, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(out, size, "no reason given");
        return;
    }
    const char *r = ERR_reason_error_string(e);
    snprintf(out, size, "%s", r != NULL ? r : "unknown error");
    ERR_clear_error();
}

static iso_code ssl_fail(iso_err *err, const char *what, const char *path)
{
    char why[160];
    ssl_reason(why, sizeof why);
    return iso_fail(err, ISO_ECONFIG, "[tls] %s %s: %s", what, path, why);
}

/* The key file may be read by its owner only. */
static iso_code check_key_mode(const char *path, iso_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return iso_fail(err, ISO_ECONFIG, "[tls] private_key %s: %s", path, strerror(errno));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return iso_fail(err, ISO_ECONFIG,
                        "[tls] private_key %s may be read by others (mode %04o): chmod 600 it",
                        path, (unsigned)(st.st_mode & 07777));
    return ISO_OK;
}

static iso_code load_crls(SSL_CTX *ctx, const char *path, iso_err *err)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL)
        return ssl_fail(err, "crl_file", path);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    X509_CRL *crl;
    while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        n++;
    }
    BIO_free(b);
    ERR_clear_error(); /* the end of the file */
    if (n == 0)
        return iso_fail(err, ISO_ECONFIG, "[tls] crl_file %s holds no CRL", path);
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return ISO_OK;
}

static iso_code build_ctx(const iso_config *cfg, bool server, SSL_CTX **out, iso_err *err)
{
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL)
        return iso_fail(err, ISO_ENOMEM, "[tls] cannot create a context");
    bool ext = cfg->tls_profile == ISO_TLS_BCP195_EXTENDED;
    iso_code rc = ISO_OK;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                 (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, ext ? suites12_ext : suites12_nd) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, ext ? suites13_ext : suites13_nd) != 1)
        rc = ssl_fail(err, "profile", ext ? "bcp195-extended" : "bcp195-nd");
    if (rc == ISO_OK && cfg->tls_certificate[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_certificate) != 1)
            rc = ssl_fail(err, "certificate", cfg->tls_certificate);
        else if (check_key_mode(cfg->tls_private_key, err) != ISO_OK)
            rc = err->code;
        else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_private_key, SSL_FILETYPE_PEM) != 1)
            rc = ssl_fail(err, "private_key", cfg->tls_private_key);
        else if (SSL_CTX_check_private_key(ctx) != 1)
            rc = ssl_fail(err, "private_key does not match", cfg->tls_certificate);
    }
    const char *ca_file = cfg->tls_ca_file[0] ? cfg->tls_ca_file : NULL;
    const char *ca_dir = cfg->tls_ca_dir[0] ? cfg->tls_ca_dir : NULL;
    if (rc == ISO_OK && (ca_file || ca_dir) &&
        SSL_CTX_load_verify_locations(ctx, ca_file, ca_dir) != 1)
        rc = ssl_fail(err, "ca_file/ca_dir", ca_file ? ca_file : ca_dir);
    if (rc == ISO_OK && cfg->tls_crl_file[0] != '\0')
        rc = load_crls(ctx, cfg->tls_crl_file, err);
    if (rc == ISO_OK) {
        int mode = SSL_VERIFY_NONE;
        if (cfg->tls_verify_peer != ISO_VERIFY_NONE)
            mode = SSL_VERIFY_PEER;
        if (server && cfg->tls_verify_peer == ISO_VERIFY_REQUIRE)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
        if (server) {
            static const unsigned char sid[] = "isonode";
            SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        }
    }
    if (rc != ISO_OK) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return ISO_OK;
}

/* Seconds since the epoch of an ASN1_TIME. */
static long asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (long)timegm(&tm);
}

static long cert_not_after(SSL_CTX *ctx)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    return x != NULL ? asn1_unix(X509_get0_notAfter(x)) : 0;
}

bool iso_tls_wanted(const iso_config *cfg)
{
    if (cfg->tls_port != 0)
        return true;
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (cfg->peers[i].tls)
            return true;
    return false;
}

iso_code iso_tls_open(const iso_config *cfg, iso_tls **out, iso_err *err)
{
    *out = NULL;
    iso_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    t->cfg = cfg;
    pthread_mutex_init(&t->mu, NULL);
    if (build_ctx(cfg, true, &t->server, err) != ISO_OK ||
        build_ctx(cfg, false, &t->client, err) != ISO_OK) {
        iso_tls_free(t);
        return err->code;
    }
    t->not_after = cert_not_after(t->server);
    *out = t;
    return ISO_OK;
}

iso_code iso_tls_reload(iso_tls *t, iso_err *err)
{
    SSL_CTX *server = NULL, *client = NULL;
    if (build_ctx(t->cfg, true, &server, err) != ISO_OK)
        return err->code;
    if (build_ctx(t->cfg, false, &client, err) != ISO_OK) {
        SSL_CTX_free(server);
        return err->code;
    }
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old_server = t->server, *old_client = t->client;
    t->server = server;
    t->client = client;
    t->not_after = cert_not_after(server);
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old_server); /* sessions using them hold their own references */
    SSL_CTX_free(old_client);
    return ISO_OK;
}

void iso_tls_free(iso_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

iso_code iso_tls_days_left(iso_tls *t, long *days, iso_err *err)
{
    pthread_mutex_lock(&t->mu);
    long not_after = t->not_after;
    pthread_mutex_unlock(&t->mu);
    if (not_after == 0)
        return iso_fail(err, ISO_ENOTFOUND, "no [tls] certificate");
    long left = not_after - (long)time(NULL);
    *days = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
    return ISO_OK;
}

iso_code iso_tls_file_days(const char *pem_path, long *days, char *subject, size_t subject_size,
                           iso_err *err)
{
    FILE *f = fopen(pem_path, "r");
    if (f == NULL)
        return iso_fail(err, ISO_ENOTFOUND, "%s: %s", pem_path, strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        ERR_clear_error();
        return iso_fail(err, ISO_EINVAL, "%s holds no PEM certificate", pem_path);
    }
    long left = asn1_unix(X509_get0_notAfter(x)) - (long)time(NULL);
    *days = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
    if (subject != NULL && subject_size > 0) {
        subject[0] = '\0';
        BIO *b = BIO_new(BIO_s_mem());
        if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
            int n = BIO_read(b, subject, (int)subject_size - 1);
            subject[n > 0 ? n : 0] = '\0';
        }
        BIO_free(b);
    }
    X509_free(x);
    return ISO_OK;
}

/* ---- handshakes and I/O on a non-blocking socket ---- */

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until the socket can do what OpenSSL asked for (ssl_error
 * WANT_READ or WANT_WRITE), at most until deadline; false on timeout or a
 * dead socket. */
static bool wait_for(int fd, int ssl_error, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, (short)(ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
    }
}

static bool set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

/* Why a handshake failed, in words an operator can act on. */
static void handshake_why(SSL *s, int ssl_error, char *out, size_t size)
{
    long v = SSL_get_verify_result(s);
    char reason[160];
    ssl_reason(reason, sizeof reason);
    if (v != X509_V_OK)
        snprintf(out, size, "certificate refused: %s", X509_verify_cert_error_string(v));
    else if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN)
        snprintf(out, size, "the peer closed the connection during the handshake (%s)", reason);
    else
        snprintf(out, size, "%s", reason);
}

/* Runs SSL_accept or SSL_connect to the end or the deadline. */
static iso_code handshake(SSL *s, int fd, bool server, long timeout_ms, iso_err *err)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        ERR_clear_error();
        int r = server ? SSL_accept(s) : SSL_connect(s);
        if (r == 1)
            return ISO_OK;
        int e = SSL_get_error(s, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)) {
            if (wait_for(fd, e, deadline))
                continue;
            return iso_fail(err, ISO_ENET, "TLS handshake not complete within the %s",
                            "acse_timeout");
        }
        char why[256];
        handshake_why(s, e, why, sizeof why);
        return iso_fail(err, ISO_ENET, "TLS handshake failed: %s", why);
    }
}

/* A new session on ctx (taken under the lock: reload may swap it). */
static SSL *new_session(iso_tls *t, bool server, int fd, iso_err *err)
{
    pthread_mutex_lock(&t->mu);
    SSL *s = SSL_new(server ? t->server : t->client);
    pthread_mutex_unlock(&t->mu);
    if (s == NULL) {
        iso_fail(err, ISO_ENOMEM, "cannot create a TLS session");
        return NULL;
    }
    if (!set_nonblocking(fd) || SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        iso_fail(err, ISO_ENET, "cannot attach TLS to the socket");
        return NULL;
    }
    return s;
}

iso_code iso_tls_accept(iso_tls *t, int fd, long timeout_ms, SSL **out, iso_err *err)
{
    *out = NULL;
    /* A plain A-ASSOCIATE-RQ (PDU type 01) where a ClientHello (record type
     * 22) belongs: say so rather than "wrong version number". */
    long long started = now_ms();
    unsigned char first = 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, (int)timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return iso_fail(err, ISO_ENET, "no TLS handshake within %ld s", timeout_ms / 1000);
    if (r > 0 && recv(fd, &first, 1, MSG_PEEK) == 1 && first == 0x01)
        return iso_fail(err, ISO_ENET, "plain DICOM (an A-ASSOCIATE-RQ) on the TLS port");
    SSL *s = new_session(t, true, fd, err);
    if (s == NULL)
        return err->code;
    long left = timeout_ms - (long)(now_ms() - started);
    if (handshake(s, fd, true, left > 0 ? left : 1, err) != ISO_OK) {
        SSL_free(s);
        return err->code;
    }
    *out = s;
    return ISO_OK;
}

static bool is_ip_address(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

iso_code iso_tls_connect(iso_tls *t, int fd, const char *host, const char *pin_sha256,
                         long timeout_ms, SSL **out, iso_err *err)
{
    *out = NULL;
    SSL *s = new_session(t, false, fd, err);
    if (s == NULL)
        return err->code;
    bool pinned = pin_sha256 != NULL && pin_sha256[0] != '\0';
    if (!is_ip_address(host))
        SSL_set_tlsext_host_name(s, host);
    if (!pinned && t->cfg->tls_verify_peer != ISO_VERIFY_NONE) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(s);
        int ok = is_ip_address(host) ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
                                     : X509_VERIFY_PARAM_set1_host(vp, host, 0);
        if (ok != 1) {
            SSL_free(s);
            return iso_fail(err, ISO_ENET, "cannot check the certificate against host %s", host);
        }
    }
    iso_code rc = handshake(s, fd, false, timeout_ms, err);
    char got[65];
    if (rc == ISO_OK && pinned && (!iso_tls_peer_sha256(s, got) || strcmp(got, pin_sha256) != 0))
        rc = iso_fail(err, ISO_ENET,
                      "TLS: the certificate of %s is not the pinned one (SHA-256 %s, pinned %s)",
                      host, got, pin_sha256);
    if (rc != ISO_OK) {
        SSL_free(s);
        return rc;
    }
    *out = s;
    return ISO_OK;
}

long iso_tls_read(SSL *s, void *buf, size_t n, long timeout_ms, iso_err *err)
{
    long long deadline = now_ms() + timeout_ms;
    int fd = SSL_get_fd(s);
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(s, buf, n > (size_t)1 << 30 ? 1 << 30 : (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(s, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && wait_for(fd, e, deadline))
            continue;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            iso_fail(err, ISO_ENET, "TLS: nothing read within %ld ms", timeout_ms);
            return -2;
        } else {
            char why[160];
            ssl_reason(why, sizeof why);
            iso_fail(err, ISO_ENET, "TLS read: %s", e == SSL_ERROR_SYSCALL ? "connection lost" : why);
        }
        return -1;
    }
}

iso_code iso_tls_write(SSL *s, const void *buf, size_t n, long timeout_ms, iso_err *err)
{
    long long deadline = now_ms() + timeout_ms;
    int fd = SSL_get_fd(s);
    const unsigned char *p = buf;
    while (n > 0) {
        ERR_clear_error();
        int chunk = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
        int r = SSL_write(s, p, chunk);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        int e = SSL_get_error(s, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && wait_for(fd, e, deadline))
            continue;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return iso_fail(err, ISO_ENET, "TLS: write not done within %ld s", timeout_ms / 1000);
        char why[160];
        ssl_reason(why, sizeof why);
        return iso_fail(err, ISO_ENET, "TLS write: %s", e == SSL_ERROR_SYSCALL ? "connection lost" : why);
    }
    return ISO_OK;
}

int iso_tls_pending(SSL *s)
{
    return SSL_pending(s);
}

bool iso_tls_peer_sha256(SSL *s, char out[65])
{
    out[0] = '\0';
    X509 *x = SSL_get1_peer_certificate(s);
    if (x == NULL)
        return false;
    unsigned char md[32];
    unsigned int len = 0;
    bool ok = X509_digest(x, EVP_sha256(), md, &len) == 1 && len == 32;
    X509_free(x);
    if (ok)
        iso_hex(md, 32, out);
    return ok;
}

bool iso_tls_peer_subject(SSL *s, char *out, size_t size)
{
    out[0] = '\0';
    X509 *x = SSL_get1_peer_certificate(s);
    if (x == NULL)
        return false;
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0;
    if (ok) {
        int n = BIO_read(b, out, (int)size - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    X509_free(x);
    return ok;
}

void iso_tls_describe(SSL *s, char *out, size_t size)
{
    snprintf(out, size, "%s %s", SSL_get_version(s), SSL_get_cipher_name(s));
}

void iso_tls_end(SSL *s)
{
    if (s == NULL)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(s); /* non-blocking: one try at close_notify */
    ERR_clear_error();
    SSL_free(s);
}
