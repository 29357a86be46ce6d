/* scp.c — listener, connection threads and association policy (see scp.h).
 *
 * A connection's life:
 *   accept (listener thread; TCP_NODELAY set; over the thread cap or the
 *   per-host cap it is closed at once) -> connection thread: wait, with the
 *   ACSE timeout, until the whole A-ASSOCIATE-RQ PDU is buffered (a silent
 *   or garbage-sending client costs only its own thread) -> its structure
 *   is checked (assoc_rq.c; A-ABORT if malformed) -> DCMTK reads it ->
 *   policy decides reject or accept -> DIMSE loop whose store callbacks
 *   hand each object to the receive path (ingest/receive.h) and log what
 *   it answered -> one log line for the association.
 *
 * Limits: max_associations are served; up to REJECT_SLOTS more connections
 * are read just far enough to answer A-ASSOCIATE-RJ (transient, local limit
 * exceeded); beyond that a connection is closed unanswered.  Memory per
 * connection is bounded by max_pdu and the A-ASSOCIATE-RQ cap, never by a
 * length a peer announces.
 */
#include "net/scp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "ingest/receive.h"
#include "net/assoc_rq.h"
#include "net/find.h"
#include "net/move.h"
#include "tls/tls.h"
#include "util/fsx.h"
#include "util/log.h"
#include "util/uid.h"

enum {
    REJECT_SLOTS = 8,
    /* A real A-ASSOCIATE-RQ is a few hundred bytes to a few KiB (128
     * presentation contexts with several syntaxes each stay below 32 KiB);
     * a larger announcement is refused at once, and the whole PDU is
     * buffered before DCMTK reads it under the process-wide hand-off lock. */
    ASSOC_RQ_MAX = 64 << 10,
    /* A connection thread parses at most max_nesting (<= 128) levels
     * without recursion of ours, and DCMTK's recursive parse of a depth
     * that passed the scanner needs well under 100 KiB; sanitizer builds
     * have frames several times larger. */
#ifdef ISO_SANITIZERS
    CONN_STACK = 4 << 20,
#else
    CONN_STACK = 512 << 10,
#endif
};

#define DICOM_APP_CONTEXT "1.2.840.10008.3.1.1.1"

/* Open connections from one remote address. */
typedef struct host_slots {
    char ip[INET6_ADDRSTRLEN];
    int open;
    unsigned long refused; /* over the per-host limit while it had `open` */
} host_slots;

struct iso_scp {
    const iso_config *cfg;
    iso_receiver *receiver; /* the receive path (ingest/receive.h) */
    iso_scp_observer obs; /* callbacks NULL: nobody listens */
    uint64_t next_assoc;  /* under mu */
    iso_dcm_server *dcm;
    iso_anon *anon; /* NULL: objects are stored as received */
    iso_tls *tls;  /* NULL: no TLS listener */
    int listen_fd; /* plain DICOM; -1: none */
    int tls_fd;    /* DICOM TLS; -1: none */
    int wake_pipe[2];
    pthread_t listener;
    bool listener_started;
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    int active;          /* connection threads alive */
    host_slots *hosts;   /* connections per remote address (max_associations_per_host) */
    int n_hosts, cap_hosts;
    bool stopping;
    struct timespec stop_deadline;
};

typedef struct conn {
    iso_scp *scp;
    int fd;
    bool tls;         /* accepted on the TLS port */
    struct ssl_st *ssl; /* its session, once the handshake is done */
    char tls_desc[96];  /* protocol and cipher, for the log */
    char who[192];      /* peer_ip, and the TLS protocol and cipher: for log lines */
    bool over_limit;
    char peer_ip[64];
    iso_assoc_request req;
    uint64_t assoc; /* number of the accepted association, for the observer */
    iso_recv *recv;  /* the receive path of this association's objects */
} conn;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- waiting for the A-ASSOCIATE-RQ ---- */

static bool scp_stopping(iso_scp *scp)
{
    pthread_mutex_lock(&scp->mu);
    bool stopping = scp->stopping;
    pthread_mutex_unlock(&scp->mu);
    return stopping;
}

/* Waits until at least want bytes can be read without blocking (peeking
 * into buf, which holds want bytes).  SO_RCVLOWAT makes poll sleep until
 * that many bytes are there instead of waking on every segment. */
static int wait_bytes(iso_scp *scp, int fd, unsigned char *buf, int want,
                      const struct timespec *deadline)
{
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (deadline->tv_sec - now.tv_sec) * 1000 +
                  (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0 || scp_stopping(scp))
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(ms > 1000 ? 1000 : ms));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t n = recv(fd, buf, (size_t)want, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0)
            return -1; /* closed before the PDU was complete */
        if (n >= want)
            return 0;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (pfd.revents & (POLLHUP | POLLERR))
            return -1;
        struct timespec pause = {0, 2 * 1000000L}; /* partial data: do not spin */
        nanosleep(&pause, NULL);
    }
}

/* The whole request is here: only a well-formed one goes on to DCMTK.
 * A malformed one is answered A-ABORT (over TLS when ssl is set). */
static int check_rq(int fd, struct ssl_st *ssl, const unsigned char *buf, size_t len, char *why,
                    size_t why_size)
{
    iso_assoc_rq_summary sum;
    char bad[256];
    if (iso_assoc_rq_check(buf, len, &sum, bad, sizeof bad))
        return 0;
    /* A-ABORT, source: service provider, reason: invalid PDU parameter value */
    static const unsigned char abort_pdu[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6};
    if (ssl != NULL) {
        iso_err e = {0};
        (void)iso_tls_write(ssl, abort_pdu, sizeof abort_pdu, 1000, &e);
    } else {
        ssize_t w = send(fd, abort_pdu, sizeof abort_pdu, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    snprintf(why, why_size, "malformed A-ASSOCIATE-RQ from '%s' (A-ABORT sent): %s",
             sum.calling_ae, bad);
    return -1;
}

/* Returns 0 when a plausible A-ASSOCIATE-RQ is (mostly) buffered; else
 * fills why. */
static int await_associate_rq(iso_scp *scp, int fd, long timeout_s, char *why, size_t why_size)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    unsigned char *buf = malloc(ASSOC_RQ_MAX + 6);
    if (buf == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (wait_bytes(scp, fd, buf, 6, &deadline) != 0) {
        free(buf);
        snprintf(why, why_size, "no A-ASSOCIATE-RQ within %ld s (or shutting down)", timeout_s);
        return -1;
    }
    uint32_t len = (uint32_t)buf[2] << 24 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 8 | buf[5];
    if (buf[0] == 0x16 && buf[1] == 0x03) { /* a TLS handshake record */
        snprintf(why, why_size, "a TLS ClientHello on the plain DICOM port (TLS is served on "
                 "[node] tls_port%s)", scp->tls_fd >= 0 ? "" : ", which is off");
        free(buf);
        return -1;
    }
    if (buf[0] != 0x01) {
        snprintf(why, why_size, "first PDU has type 0x%02x, not A-ASSOCIATE-RQ", buf[0]);
        free(buf);
        return -1;
    }
    if (len < 68 || len > ASSOC_RQ_MAX) {
        free(buf);
        snprintf(why, why_size, "A-ASSOCIATE-RQ length %u out of range (68..%d)", len,
                 ASSOC_RQ_MAX);
        return -1;
    }
    int rc = wait_bytes(scp, fd, buf, (int)len + 6, &deadline);
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    if (rc != 0) {
        free(buf);
        snprintf(why, why_size, "incomplete A-ASSOCIATE-RQ (%u bytes announced) within %ld s",
                 len, timeout_s);
        return -1;
    }
    rc = check_rq(fd, NULL, buf, (size_t)len + 6, why, why_size);
    free(buf);
    return rc;
}

/* The same over DICOM TLS: the request is read (decrypted) whole into
 * *rq, within timeout_s, and checked; the adapter is handed the bytes. */
static int read_associate_rq_tls(conn *c, long timeout_s, unsigned char **rq, size_t *rq_len,
                                 char *why, size_t why_size)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    unsigned char *buf = malloc(ASSOC_RQ_MAX + 6);
    if (buf == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t have = 0, want = 6;
    while (have < want) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (deadline.tv_sec - now.tv_sec) * 1000 +
                  (deadline.tv_nsec - now.tv_nsec) / 1000000;
        iso_err e = {0};
        long n = ms > 0 && !scp_stopping(c->scp)
                     ? iso_tls_read(c->ssl, buf + have, want - have, ms > 1000 ? 1000 : ms, &e)
                     : -1;
        if (n == -2 && ms > 1000)
            continue; /* a second passed: look at the clock and at shutdown again */
        if (n <= 0) {
            free(buf);
            snprintf(why, why_size, "%s A-ASSOCIATE-RQ within %ld s (or shutting down)",
                     have == 0 ? "no" : "incomplete", timeout_s);
            return -1;
        }
        have += (size_t)n;
        if (have >= 6 && want == 6) {
            uint32_t len = (uint32_t)buf[2] << 24 | (uint32_t)buf[3] << 16 |
                           (uint32_t)buf[4] << 8 | buf[5];
            if (buf[0] != 0x01 || len < 68 || len > ASSOC_RQ_MAX) {
                snprintf(why, why_size,
                         buf[0] != 0x01 ? "first PDU has type 0x%02x, not A-ASSOCIATE-RQ"
                                        : "A-ASSOCIATE-RQ length out of range (type 0x%02x)",
                         buf[0]);
                free(buf);
                return -1;
            }
            want = (size_t)len + 6;
        }
    }
    if (check_rq(c->fd, c->ssl, buf, want, why, why_size) != 0) {
        free(buf);
        return -1;
    }
    *rq = buf;
    *rq_len = want;
    return 0;
}

/* ---- store callbacks: the glue between DCMTK's DIMSE loop and the
 * receive path (ingest/receive.h), and the log lines of each object ---- */

static iso_code sink_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    conn *c = ctx;
    return iso_recv_write(c->recv, buf, len, err);
}

/* One line per refused or failed object: the status, the comment the peer
 * got, and the cause.  Failures of the node (disk, memory) are errors;
 * refusals of what the peer sent are warnings. */
static void log_refusal(const conn *c, const char *sop_uid, uint16_t status,
                        const char *comment, const iso_err *err)
{
    bool ours = status == ISO_STATUS_OUT_OF_RESOURCES || status == ISO_STATUS_PROCESSING_FAILURE;
    iso_log(ours ? ISO_LOG_ERROR : ISO_LOG_WARN, "C-STORE %s from %s: status 0x%04x (%s): %s",
            sop_uid, c->req.calling_ae, status, comment, err->msg);
}

static uint16_t on_store_begin(void *user, const iso_store_rq *rq, iso_store_sink *sink,
                               char *comment, size_t comment_size)
{
    conn *c = user;
    iso_err err = {0};
    uint16_t status = iso_recv_begin(c->recv, rq, comment, comment_size, &err);
    if (status != ISO_STATUS_SUCCESS) {
        log_refusal(c, iso_recv_name(c->recv), status, comment, &err);
        iso_metrics_cstore(c->scp->obs.metrics, status, 0, 0);
        return status;
    }
    sink->write = sink_write;
    sink->ctx = c;
    return ISO_STATUS_SUCCESS;
}

static uint16_t on_store_end(void *user, const iso_store_rq *rq, iso_store_sink *sink,
                             int data_ok, char *comment, size_t comment_size)
{
    conn *c = user;
    (void)sink;
    iso_received got;
    iso_err err = {0};
    uint16_t status = iso_recv_end(c->recv, data_ok != 0, &got, comment, comment_size, &err);
    /* objects are named as stored: de-identifying, no line pairs the
     * received UID with its replacement (that mapping is in the vault) */
    const char *name = status == ISO_STATUS_SUCCESS ? got.attrs.sop_instance_uid
                                                    : iso_recv_name(c->recv);
    if (!data_ok) { /* no response can be sent */
        ISO_WARN("C-STORE %s from %s: %s", name, c->req.calling_ae, err.msg);
        return status;
    }
    iso_metrics *m = c->scp->obs.metrics;
    if (status != ISO_STATUS_SUCCESS) {
        log_refusal(c, name, status, comment, &err);
        iso_metrics_cstore(m, status, 0, 0);
        if (m != NULL && status == ISO_STATUS_NOT_AUTHORIZED && err.code == ISO_EREFUSED)
            atomic_fetch_add(&m->deidentification_refusals, 1);
        return status;
    }
    /* received bytes are counted per association; latency from the last byte */
    iso_metrics_cstore(m, status, (got.ms_total - got.ms_receive) / 1000.0, 0);
    ISO_DEBUG("C-STORE %s timing: receive %.2f ms, parse %.2f ms, de-identify %.2f ms, "
              "sync+commit %.2f ms",
              name, got.ms_receive, got.ms_parse, got.ms_deidentify,
              got.ms_total - got.ms_receive - got.ms_parse - got.ms_deidentify);
    if (got.note[0] != '\0')
        ISO_WARN("C-STORE %s from %s: %s", name, c->req.calling_ae, got.note);
    if (c->scp->obs.stored != NULL)
        c->scp->obs.stored(c->scp->obs.user, c->assoc, &got.attrs, c->req.calling_ae,
                           got.outcome == ISO_STORED_KEPT_EXISTING);
    static const char *const what[] = {"stored", "replaced", "duplicate, kept stored copy"};
    ISO_INFO("C-STORE %s from %s: %s%s, status 0x0000 (%.1f ms)", name, c->req.calling_ae,
             got.deidentified ? "de-identified, " : "", what[got.outcome], got.ms_total);
    return ISO_STATUS_SUCCESS;
}

static int on_should_abort(void *user, int idle_seconds)
{
    conn *c = user;
    iso_scp *scp = c->scp;
    pthread_mutex_lock(&scp->mu);
    bool stopping = scp->stopping;
    struct timespec deadline = scp->stop_deadline;
    pthread_mutex_unlock(&scp->mu);
    if (!stopping)
        return 0;
    if (idle_seconds >= 1)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline.tv_sec ||
           (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

/* ---- C-FIND (net/find.c decides and matches) ---- */

static uint16_t on_find_begin(void *user, const iso_find_rq *rq, void **cursor, char *comment,
                              size_t comment_size)
{
    conn *c = user;
    char why[256] = "";
    iso_find *f = NULL;
    uint16_t status = iso_find_begin(c->scp->cfg, c->scp->anon, c->req.calling_ae, rq, &f,
                                     comment, comment_size, why, sizeof why);
    if (status != 0)
        ISO_WARN("C-FIND %s from %s refused (status 0x%04x): %s", rq->level, c->req.calling_ae,
                 status, why);
    *cursor = f;
    return status;
}

static int on_find_next(void *user, void *cursor, const char **values)
{
    (void)user;
    return iso_find_next(cursor, values);
}

static void on_find_end(void *user, void *cursor)
{
    conn *c = user;
    ISO_INFO("C-FIND %s from %s: %ld match(es)", iso_find_describe(cursor), c->req.calling_ae,
             iso_find_matches(cursor));
    iso_find_end(cursor);
}

/* ---- C-MOVE (net/move.c decides and sends) ---- */

static uint16_t on_move(void *user, const iso_move_rq *rq,
                        int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                        iso_move_counts *done, char *comment, size_t comment_size)
{
    conn *c = user;
    char why[512] = "";
    uint16_t status = iso_move_run(c->scp->cfg, c->scp->anon, c->scp->tls, c->req.calling_ae, rq, report, rctx,
                                   done, comment, comment_size, why, sizeof why);
    iso_log(status == 0 ? ISO_LOG_INFO : ISO_LOG_WARN,
            "C-MOVE %s from %s to %s: status 0x%04x, %u completed, %u failed, %u warning%s%s",
            rq->find.level, c->req.calling_ae, rq->destination, status, done->completed,
            done->failed, done->warning, why[0] ? ": " : "", why);
    return status;
}

static uint16_t on_get(void *user, const iso_move_rq *rq,
                       uint16_t (*store)(void *sctx, const char *path),
                       int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                       iso_move_counts *done, char *comment, size_t comment_size)
{
    conn *c = user;
    char why[512] = "";
    uint16_t status = iso_get_run(c->scp->cfg, c->scp->anon, c->req.calling_ae, rq, store, report, rctx, done,
                                  comment, comment_size, why, sizeof why);
    iso_log(status == 0 ? ISO_LOG_INFO : ISO_LOG_WARN,
            "C-GET %s from %s: status 0x%04x, %u completed, %u failed, %u warning%s%s",
            rq->find.level, c->req.calling_ae, status, done->completed, done->failed,
            done->warning, why[0] ? ": " : "", why);
    return status;
}

/* ---- storage commitment: who may ask, and which stored UIDs it means ---- */

static uint16_t on_commit(void *user, const char *txn, const iso_commit_item *items, size_t n,
                          char *comment, size_t comment_size)
{
    conn *c = user;
    iso_scp *scp = c->scp;
    /* the report goes to the [peer] whose AE title asked, never to an
     * address a requester chose */
    const iso_peer *p = iso_config_peer_by_ae(scp->cfg, c->req.calling_ae);
    if (p == NULL || scp->obs.commit == NULL) {
        snprintf(comment, comment_size, "not a configured peer: no report could be sent");
        ISO_WARN("storage commitment %s from %s refused (0x0124): %s", txn, c->req.calling_ae,
                 p == NULL ? "not a configured [peer]" : "not served here");
        return ISO_FIND_REFUSED_NOT_AUTHORIZED;
    }
    char(*mapped)[65] = malloc((n ? n : 1) * sizeof *mapped);
    const char **stored = malloc((n ? n : 1) * sizeof *stored);
    iso_err err = {0};
    iso_code rc = mapped == NULL || stored == NULL ? iso_fail(&err, ISO_ENOMEM, "out of memory")
                                                   : ISO_OK;
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        /* a de-identifying store holds each instance under the UID its own
         * deterministic mapping gives the one the requester sent */
        if (scp->anon != NULL)
            iso_anon_map_uid(scp->anon, items[i].sop_uid, mapped[i]);
        else
            snprintf(mapped[i], 65, "%.64s", items[i].sop_uid);
        stored[i] = mapped[i];
    }
    if (rc == ISO_OK)
        rc = scp->obs.commit(scp->obs.user, p->name, txn, items, stored, n, &err);
    free(mapped);
    free(stored);
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "the request could not be recorded");
        ISO_ERROR("storage commitment %s from %s not recorded (0x0110): %s", txn,
                  c->req.calling_ae, err.msg);
        return ISO_STATUS_PROCESSING_FAILURE;
    }
    ISO_INFO("storage commitment %s from %s: %zu instance(s), report to follow", txn,
             c->req.calling_ae, n);
    return 0;
}

static int on_commit_here(void *user, const char *txn,
                          int (*send)(void *sctx, const iso_commit_item *items, size_t n,
                                      const char *transaction_uid),
                          void *sctx)
{
    conn *c = user;
    iso_scp *scp = c->scp;
    const iso_peer *p = iso_config_peer_by_ae(scp->cfg, c->req.calling_ae);
    if (p == NULL || scp->obs.commit_here == NULL)
        return -1;
    return scp->obs.commit_here(scp->obs.user, p->name, txn, send, sctx);
}

/* A report on what the node asked a peer to commit: only from that peer
 * (the transaction must be one the node asked of the [peer] whose AE
 * title calls; its UID is 128 random bits, so it cannot be guessed). */
static uint16_t on_commit_report(void *user, const char *txn, const iso_commit_item *items,
                                 size_t n, char *comment, size_t comment_size)
{
    conn *c = user;
    iso_scp *scp = c->scp;
    const iso_peer *p = iso_config_peer_by_ae(scp->cfg, c->req.calling_ae);
    if (p == NULL || scp->obs.commit_report == NULL) {
        snprintf(comment, comment_size, "not a configured peer");
        ISO_WARN("storage commitment report %s from %s refused (0x0110): %s", txn,
                 c->req.calling_ae, p == NULL ? "not a configured [peer]" : "not served here");
        return ISO_STATUS_PROCESSING_FAILURE;
    }
    return scp->obs.commit_report(scp->obs.user, p->name, txn, items, n, comment, comment_size);
}

/* ---- policy ---- */

static bool host_matches(const char *host, const char *ip)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return false;
    bool match = false;
    for (struct addrinfo *r = res; r && !match; r = r->ai_next) {
        char buf[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)r->ai_addr;
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) && strcmp(buf, ip) == 0)
            match = true;
    }
    freeaddrinfo(res);
    return match;
}

/* A calling AE title alone is not an identity: a peer with tls = yes or a
 * bound client certificate must call over TLS, with that certificate. */
static bool certificate_matches(const conn *c, const iso_peer *p, char *why, size_t why_size)
{
    bool bound = p->client_certificate_sha256[0] || p->client_certificate_subject[0];
    if (!bound && !p->tls)
        return true;
    if (!c->tls) {
        snprintf(why, why_size, "calling AE '%s' must call over TLS ([peer %s] %s)",
                 c->req.calling_ae, p->name, bound ? "binds a client certificate" : "tls = yes");
        return false;
    }
    char got[65] = "", subject[256] = "";
    bool has = iso_tls_peer_sha256(c->ssl, got);
    iso_tls_peer_subject(c->ssl, subject, sizeof subject);
    if (bound && !has) {
        snprintf(why, why_size, "calling AE '%s' presented no client certificate",
                 c->req.calling_ae);
        return false;
    }
    if (p->client_certificate_sha256[0] && strcmp(got, p->client_certificate_sha256) != 0) {
        snprintf(why, why_size, "calling AE '%s' presented client certificate %.16s..., not the "
                 "one bound to [peer %s]", c->req.calling_ae, got, p->name);
        return false;
    }
    if (p->client_certificate_subject[0] && strcmp(subject, p->client_certificate_subject) != 0) {
        snprintf(why, why_size, "calling AE '%s' presented a client certificate of '%s', not "
                 "'%s'", c->req.calling_ae, subject, p->client_certificate_subject);
        return false;
    }
    return true;
}

/* Returns 0 to accept, or the reject reason; why says it for the log. */
static int decide(conn *c, char *why, size_t why_size)
{
    const iso_config *cfg = c->scp->cfg;
    if (scp_stopping(c->scp)) {
        snprintf(why, why_size, "shutting down");
        return ISO_REJECT_BUSY;
    }
    if (c->over_limit) {
        snprintf(why, why_size, "max_associations (%ld) reached", cfg->max_associations);
        return ISO_REJECT_LIMIT;
    }
    /* PS3.5: 1..16 characters, no control characters, no backslash.  A
     * title that breaks that is refused before it is compared or logged
     * anywhere else (the log escapes it). */
    if (!iso_ae_valid(c->req.calling_ae)) {
        snprintf(why, why_size, "calling AE title '%s' is not a valid AE title", c->req.calling_ae);
        return ISO_REJECT_CALLING_AE;
    }
    if (!iso_ae_valid(c->req.called_ae)) {
        snprintf(why, why_size, "called AE title '%s' is not a valid AE title", c->req.called_ae);
        return ISO_REJECT_CALLED_AE;
    }
    if (strcmp(c->req.app_context, DICOM_APP_CONTEXT) != 0) {
        snprintf(why, why_size, "application context '%s' not supported", c->req.app_context);
        return ISO_REJECT_APP_CONTEXT;
    }
    if (!iso_ae_equal(c->req.called_ae, cfg->ae_title)) {
        snprintf(why, why_size, "called AE '%s' is not '%s'", c->req.called_ae, cfg->ae_title);
        return ISO_REJECT_CALLED_AE;
    }
    if (cfg->check_calling_ae) {
        const iso_peer *p = iso_config_peer_by_ae(cfg, c->req.calling_ae);
        if (p == NULL) {
            snprintf(why, why_size, "calling AE '%s' is not a configured peer", c->req.calling_ae);
            return ISO_REJECT_CALLING_AE;
        }
        if (cfg->check_host && !host_matches(p->host, c->peer_ip)) {
            snprintf(why, why_size, "calling AE '%s' connected from %s, not from its host %s",
                     c->req.calling_ae, c->peer_ip, p->host);
            return ISO_REJECT_CALLING_AE;
        }
        if (!certificate_matches(c, p, why, why_size))
            return ISO_REJECT_CALLING_AE;
    }
    return 0;
}

static const char *end_name(iso_assoc_end e)
{
    static const char *const names[] = {"released", "aborted by peer", "timed out",
                                        "aborted on error", "aborted for shutdown"};
    return (unsigned)e < 5 ? names[e] : "ended";
}

static void serve_connection(conn *c)
{
    iso_scp *scp = c->scp;
    char why[512] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    iso_err err = {0};
    unsigned char *rq = NULL;
    size_t rq_len = 0;
    if (c->tls) {
        /* the handshake, then the request, both within acse_timeout, in
         * this connection's own thread */
        if (iso_tls_accept(scp->tls, c->fd, scp->cfg->acse_timeout * 1000, &c->ssl, &err) !=
            ISO_OK) {
            ISO_WARN("TLS connection from %s closed: %s", c->peer_ip, err.msg);
            if (scp->obs.metrics != NULL)
                atomic_fetch_add(&scp->obs.metrics->tls_handshake_failures, 1);
            close(c->fd);
            return;
        }
        iso_tls_describe(c->ssl, c->tls_desc, sizeof c->tls_desc);
        if (read_associate_rq_tls(c, scp->cfg->acse_timeout, &rq, &rq_len, why, sizeof why) !=
            0) {
            ISO_WARN("TLS connection from %s closed: %s", c->peer_ip, why);
            iso_tls_end(c->ssl);
            close(c->fd);
            return;
        }
    } else if (await_associate_rq(scp, c->fd, scp->cfg->acse_timeout, why, sizeof why) != 0) {
        ISO_WARN("connection from %s closed: %s", c->peer_ip, why);
        close(c->fd);
        return;
    }
    iso_dcm_assoc *a = NULL;
    iso_code rc = iso_dcm_assoc_receive(scp->dcm, c->fd, c->ssl, rq, rq_len, &a, &c->req, &err);
    free(rq);
    if (rc != ISO_OK) {
        ISO_WARN("connection from %s closed: %s", c->peer_ip, err.msg);
        return;
    }
    /* c->ssl now belongs to the association's connection: valid until
     * iso_dcm_assoc_free */
    if (c->tls)
        snprintf(c->who, sizeof c->who, "%s over %s", c->peer_ip, c->tls_desc);
    else
        snprintf(c->who, sizeof c->who, "%s", c->peer_ip);
    int reason = decide(c, why, sizeof why);
    if (reason == 0 && iso_recv_new(scp->receiver, c->req.calling_ae, &c->recv, &err) != ISO_OK) {
        snprintf(why, sizeof why, "%s", err.msg);
        reason = ISO_REJECT_LIMIT;
    }
    if (reason != 0) {
        iso_err rj = {0};
        if (iso_dcm_assoc_reject(a, (iso_reject_reason)reason, &rj) != ISO_OK)
            ISO_WARN("association %s -> %s from %s: %s", c->req.calling_ae, c->req.called_ae,
                     c->who, rj.msg);
        ISO_WARN("association %s -> %s from %s rejected: %s", c->req.calling_ae,
                 c->req.called_ae, c->who, why);
        if (scp->obs.metrics != NULL)
            atomic_fetch_add(&scp->obs.metrics->associations[ISO_ASSOC_REJECTED], 1);
        iso_dcm_assoc_free(a);
        return;
    }
    int n_accepted = 0;
    char contexts[1024];
    if (iso_dcm_assoc_accept(a, &n_accepted, contexts, sizeof contexts, &err) != ISO_OK) {
        ISO_WARN("association %s -> %s from %s rejected: %s", c->req.calling_ae,
                 c->req.called_ae, c->who, err.msg);
        if (scp->obs.metrics != NULL)
            atomic_fetch_add(&scp->obs.metrics->associations[ISO_ASSOC_REJECTED], 1);
        iso_recv_free(c->recv);
        iso_dcm_assoc_free(a);
        return;
    }
    if (scp->obs.metrics != NULL)
        atomic_fetch_add(&scp->obs.metrics->associations_open, 1);
    ISO_DEBUG("association %s -> %s from %s accepted, %d of %d contexts: %s", c->req.calling_ae,
              c->req.called_ae, c->who, n_accepted, c->req.n_proposed, contexts);
    pthread_mutex_lock(&scp->mu);
    c->assoc = ++scp->next_assoc;
    pthread_mutex_unlock(&scp->mu);
    iso_scp_handlers h = {.user = c,
                          .find_begin = on_find_begin,
                          .find_next = on_find_next,
                          .find_end = on_find_end,
                          .move = on_move,
                          .get = on_get,
                          .commit = on_commit,
                          .commit_here = on_commit_here,
                          .commit_report = on_commit_report,
                          .store_begin = on_store_begin,
                          .store_end = on_store_end,
                          .should_abort = on_should_abort};
    iso_assoc_counts counts = {0};
    iso_assoc_end end = iso_dcm_assoc_serve(a, &h, &counts, why, sizeof why);
    if (scp->obs.metrics != NULL) {
        static const iso_assoc_result results[] = {
            [ISO_END_RELEASED] = ISO_ASSOC_RELEASED, [ISO_END_PEER_ABORTED] = ISO_ASSOC_ABORTED,
            [ISO_END_TIMEOUT] = ISO_ASSOC_TIMEOUT,   [ISO_END_ERROR] = ISO_ASSOC_ERROR,
            [ISO_END_SHUTDOWN] = ISO_ASSOC_SHUTDOWN};
        atomic_fetch_add(&scp->obs.metrics->associations[results[end]], 1);
        atomic_fetch_sub(&scp->obs.metrics->associations_open, 1);
        atomic_fetch_add(&scp->obs.metrics->received_bytes, counts.bytes);
    }
    if (scp->obs.assoc_end != NULL)
        scp->obs.assoc_end(scp->obs.user, c->assoc);
    iso_recv_free(c->recv); /* abandons an object the network lost */
    c->recv = NULL;
    iso_dcm_assoc_free(a);
    double secs = seconds_since(&t0);
    char finds[128] = "";
    if (counts.finds > 0 || counts.moves > 0)
        snprintf(finds, sizeof finds, ", find %u (%u matches), move %u (%u objects)",
                 counts.finds, counts.find_matches, counts.moves, counts.moved);
    iso_log(end == ISO_END_RELEASED ? ISO_LOG_INFO : ISO_LOG_WARN,
            "association %s -> %s from %s %s%s%s after %.2f s: contexts %d/%d [%s], echo %u, "
            "stored %u, failed %u, %.1f MB%s",
            c->req.calling_ae, c->req.called_ae, c->who, end_name(end), why[0] ? ": " : "",
            why, secs, n_accepted, c->req.n_proposed, contexts, counts.echoes, counts.stores_ok,
            counts.stores_failed, (double)counts.bytes / 1e6, finds);
}

/* The entry of ip, or NULL; under mu. */
static host_slots *host_find(iso_scp *scp, const char *ip)
{
    for (int i = 0; i < scp->n_hosts; i++)
        if (strcmp(scp->hosts[i].ip, ip) == 0)
            return &scp->hosts[i];
    return NULL;
}

/* A connection is over: its slot counts against the limits no more. */
static void release_slot(iso_scp *scp, const char *ip)
{
    pthread_mutex_lock(&scp->mu);
    host_slots *h = host_find(scp, ip);
    if (h != NULL && --h->open == 0)
        *h = scp->hosts[--scp->n_hosts];
    scp->active--;
    pthread_cond_broadcast(&scp->idle_cv);
    pthread_mutex_unlock(&scp->mu);
}

static void *connection_main(void *arg)
{
    conn *c = arg;
    iso_scp *scp = c->scp;
    serve_connection(c);
    release_slot(scp, c->peer_ip);
    free(c);
    return NULL;
}

/* ---- listener ---- */

static void *listener_main(void *arg)
{
    iso_scp *scp = arg;
    const long max = scp->cfg->max_associations;
    bool tls_turn = false; /* both ports ready: take them in turn */
    for (;;) {
        /* a negative fd is ignored by poll: a port that is off */
        struct pollfd pfd[3] = {{scp->wake_pipe[0], POLLIN, 0},
                                {scp->listen_fd, POLLIN, 0},
                                {scp->tls_fd, POLLIN, 0}};
        int r = poll(pfd, 3, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ISO_ERROR("listener: poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents)
            break; /* stop requested */
        bool plain_ready = pfd[1].revents != 0, tls_ready = pfd[2].revents != 0;
        bool tls = tls_ready && (!plain_ready || tls_turn);
        tls_turn = !tls;
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        int fd = accept4(tls ? scp->tls_fd : scp->listen_fd, (struct sockaddr *)&from, &fromlen,
                         SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
                ISO_ERROR("listener: accept: %s", strerror(errno));
                /* EMFILE and friends: back off instead of spinning. */
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
        /* One host may hold at most max_associations_per_host slots, so a
         * host that opens and stalls many connections leaves the others
         * room; its excess is closed at once (logged once per 100). */
        pthread_mutex_lock(&scp->mu);
        int active = scp->active;
        bool over_cap = active >= max + REJECT_SLOTS;
        host_slots *h = host_find(scp, ip);
        bool over_host = !over_cap && h != NULL && h->open >= scp->cfg->max_associations_per_host;
        unsigned long refused = over_host ? ++h->refused : 0;
        if (!over_cap && !over_host) {
            if (h == NULL && scp->n_hosts < scp->cap_hosts) {
                h = &scp->hosts[scp->n_hosts++];
                *h = (host_slots){0};
                snprintf(h->ip, sizeof h->ip, "%s", ip);
            }
            if (h != NULL)
                h->open++;
            scp->active++;
        }
        pthread_mutex_unlock(&scp->mu);
        if (over_cap) {
            ISO_WARN("connection from %s closed unanswered: %d connections open", ip, active);
            close(fd);
            continue;
        }
        if (over_host) {
            if (refused % 100 == 1)
                ISO_WARN("connection from %s closed unanswered: max_associations_per_host (%ld) "
                         "reached (%lu refused so far)",
                         ip, scp->cfg->max_associations_per_host, refused);
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        pthread_t t;
        pthread_attr_t attr;
        bool started = false;
        if (c != NULL) {
            c->scp = scp;
            c->fd = fd;
            c->tls = tls;
            c->over_limit = active >= max;
            snprintf(c->peer_ip, sizeof c->peer_ip, "%s", ip);
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attr, CONN_STACK);
            started = pthread_create(&t, &attr, connection_main, c) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!started) {
            ISO_ERROR("connection from %s closed: cannot start a thread", ip);
            free(c);
            close(fd);
            release_slot(scp, ip);
        }
    }
    return NULL;
}

/* Releases what start acquired; no thread may be running. */
static void scp_free(iso_scp *scp)
{
    if (scp->listen_fd >= 0)
        close(scp->listen_fd);
    if (scp->tls_fd >= 0)
        close(scp->tls_fd);
    if (scp->wake_pipe[0] >= 0) {
        close(scp->wake_pipe[0]);
        close(scp->wake_pipe[1]);
    }
    iso_dcm_server_free(scp->dcm);
    iso_receiver_free(scp->receiver);
    free(scp->hosts);
    pthread_mutex_destroy(&scp->mu);
    pthread_cond_destroy(&scp->idle_cv);
    free(scp);
}

/* A listening socket on bind:port. */
static iso_code listen_on(const iso_config *cfg, long port, int *out, iso_err *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1)
        return iso_fail(err, ISO_ECONFIG, "bind = %s is not an IPv4 address", cfg->bind);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return iso_fail(err, ISO_ENET, "cannot listen on %s:%ld: %s", cfg->bind, port,
                        strerror(e));
    }
    *out = fd;
    return ISO_OK;
}

iso_code iso_scp_start(const iso_config *cfg, iso_store *store, iso_anon *anon, iso_tls *tls,
                       const iso_scp_observer *obs, iso_scp **out, iso_err *err)
{
    *out = NULL;
    iso_scp *scp = calloc(1, sizeof *scp);
    if (scp == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    scp->cfg = cfg;
    if (obs != NULL)
        scp->obs = *obs;
    scp->listen_fd = -1;
    scp->tls_fd = -1;
    scp->tls = tls;
    scp->anon = anon;
    scp->wake_pipe[0] = scp->wake_pipe[1] = -1;
    pthread_mutex_init(&scp->mu, NULL);
    pthread_cond_init(&scp->idle_cv, NULL);
    /* every live connection has a slot, so this many hosts at most */
    scp->cap_hosts = (int)cfg->max_associations + REJECT_SLOTS;
    if (iso_receiver_new(cfg, store, anon, &scp->receiver, err) != ISO_OK)
        goto fail;
    scp->hosts = calloc((size_t)scp->cap_hosts, sizeof *scp->hosts);
    if (scp->hosts == NULL) {
        iso_fail(err, ISO_ENOMEM, "out of memory");
        goto fail;
    }
    iso_scp_params params = {cfg->max_pdu, cfg->acse_timeout, cfg->dimse_timeout,
                             cfg->network_timeout};
    if (iso_dcm_server_new(&params, &scp->dcm, err) != ISO_OK)
        goto fail;
    if (pipe2(scp->wake_pipe, O_CLOEXEC) != 0) {
        iso_fail(err, ISO_EIO, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (cfg->tls_port != 0 && tls == NULL) {
        iso_fail(err, ISO_ECONFIG, "[node] tls_port is set but TLS is not set up");
        goto fail;
    }
    if ((cfg->port != 0 && listen_on(cfg, cfg->port, &scp->listen_fd, err) != ISO_OK) ||
        (cfg->tls_port != 0 && listen_on(cfg, cfg->tls_port, &scp->tls_fd, err) != ISO_OK))
        goto fail;
    if (pthread_create(&scp->listener, NULL, listener_main, scp) != 0) {
        iso_fail(err, ISO_ENOMEM, "cannot start listener thread");
        goto fail;
    }
    scp->listener_started = true;
    *out = scp;
    return ISO_OK;
fail:
    scp_free(scp);
    return err->code;
}

void iso_scp_stop(iso_scp *scp)
{
    if (scp == NULL)
        return;
    pthread_mutex_lock(&scp->mu);
    scp->stopping = true;
    clock_gettime(CLOCK_MONOTONIC, &scp->stop_deadline);
    scp->stop_deadline.tv_sec += scp->cfg->shutdown_timeout;
    pthread_mutex_unlock(&scp->mu);
    if (scp->listener_started) {
        ssize_t w = write(scp->wake_pipe[1], "x", 1);
        (void)w;
        pthread_join(scp->listener, NULL);
    }
    if (scp->listen_fd >= 0)
        close(scp->listen_fd);
    if (scp->tls_fd >= 0)
        close(scp->tls_fd);
    scp->listen_fd = scp->tls_fd = -1;
    /* Connection threads notice `stopping` within a second; those blocked in
     * a network read are bounded by network_timeout. */
    pthread_mutex_lock(&scp->mu);
    while (scp->active > 0)
        pthread_cond_wait(&scp->idle_cv, &scp->mu);
    pthread_mutex_unlock(&scp->mu);
    scp_free(scp);
}
