/* scp.c — listener, connection threads and association policy (see scp.h).
 *
 * A connection's life:
 *   accept (listener thread; TCP_NODELAY set; over the thread cap it is
 *   closed at once) -> connection thread: wait, with the ACSE timeout, until
 *   the whole A-ASSOCIATE-RQ PDU is buffered (a silent or garbage-sending
 *   client costs only its own thread) -> DCMTK reads it -> policy decides
 *   reject or accept -> DIMSE loop with the store callbacks below -> one log
 *   line for the association.
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
    iso_store *store;
    iso_anon *anon; /* NULL: store as received */
    iso_scp_observer obs; /* callbacks NULL: nobody listens */
    uint64_t next_assoc;  /* under mu */
    iso_dcm_server *dcm;
    int listen_fd;
    int wake_pipe[2];
    pthread_t listener;
    bool listener_started;
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    int active;          /* connection threads alive */
    uint64_t mem_used;   /* bytes of objects held in memory, all connections */
    uint64_t mem_budget; /* max_memory_mb */
    host_slots *hosts;   /* connections per remote address (max_associations_per_host) */
    int n_hosts, cap_hosts;
    bool stopping;
    struct timespec stop_deadline;
};

/* A growing buffer, ISO_INGEST_ALIGN-aligned so the store can write it
 * straight to disk; kept between objects (up to 8 MiB) so its pages are not
 * faulted in again for every image. */
typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
} membuf;

typedef struct conn {
    iso_scp *scp;
    int fd;
    bool over_limit;
    char peer_ip[64];
    iso_assoc_request req;
    uint64_t assoc; /* number of the accepted association, for the observer */
    /* the C-STORE in progress: in a file (ing) or, de-identifying, in memory */
    iso_ingest *ing;
    iso_ingest *clean; /* de-identifying: the output, opened while the object arrives */
    membuf in;   /* the object as received, while in_mem */
    membuf out;  /* de-identifying: the object as it will be stored */
    size_t handed; /* stored as received: bytes of `in` handed to the store */
    iso_err sink_err; /* the first failure taking the object's bytes (code 0: none) */
    uint64_t received; /* bytes of the object so far */
    uint64_t reserved; /* this object's share of scp->mem_budget */
    bool in_mem;
    struct timespec store_start;
} conn;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- waiting for the A-ASSOCIATE-RQ ---- */

/* Waits until at least want bytes can be read without blocking (peeking
 * into buf, which holds want bytes).  SO_RCVLOWAT makes poll sleep until
 * that many bytes are there instead of waking on every segment. */
static bool scp_stopping(iso_scp *scp)
{
    pthread_mutex_lock(&scp->mu);
    bool stopping = scp->stopping;
    pthread_mutex_unlock(&scp->mu);
    return stopping;
}

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
    unsigned char h[6];
    memcpy(h, buf, 6);
    uint32_t len = (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
    if (h[0] != 0x01) {
        free(buf);
        snprintf(why, why_size, "first PDU has type 0x%02x, not A-ASSOCIATE-RQ", h[0]);
        return -1;
    }
    if (len < 68 || len > ASSOC_RQ_MAX) {
        free(buf);
        snprintf(why, why_size, "A-ASSOCIATE-RQ length %u out of range (68..%d)", len,
                 ASSOC_RQ_MAX);
        return -1;
    }
    int rc = wait_bytes(scp, fd, buf, (int)len + 6, &deadline);
    free(buf);
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    if (rc != 0) {
        snprintf(why, why_size, "incomplete A-ASSOCIATE-RQ (%u bytes announced) within %ld s",
                 len, timeout_s);
        return -1;
    }
    return 0;
}

/* ---- store callbacks ----
 *
 * An object arrives in memory (deflated objects, whose inflated size is
 * unknown, and ones beyond the limit stream into a temporary file instead)
 * and is parsed from there.  Stored as received: its temporary file is
 * created when the request comes, what has arrived is handed to the store's
 * writers in 256 KiB parts while the rest arrives (iso_ingest_write_ahead),
 * and the last part is written and synced while the object is parsed and
 * hashed (iso_ingest_write_last).  De-identifying: only the de-identified object is
 * written to disk -- one write, one parse per object. */

enum {
    MEM_LIMIT = 32 << 20,    /* larger objects stream through a file, in both modes */
    WRITE_AHEAD = 256 << 10, /* parts handed to the store while receiving */
};

/* The node-wide memory budget ([node] max_memory_mb).  An object held in
 * memory reserves what it will cost -- its bytes, and de-identifying also
 * DCMTK's parsed copy and the output: three times -- in growing steps; an
 * object that cannot reserve streams through a file instead (spill), where
 * receiving, parsing (values load lazily) and rewriting (values copy in
 * blocks) all take a few MB.  So memory stays bounded whatever peers send,
 * and nothing is refused for memory.  (Receive buffers up to 8 MiB are kept
 * between objects outside the budget: at most 8 MiB per connection.) */
static bool budget_reserve(conn *c, size_t object_bytes)
{
    iso_scp *scp = c->scp;
    uint64_t need = (uint64_t)object_bytes * (scp->anon != NULL ? 3 : 1);
    if (need <= c->reserved)
        return true;
    uint64_t step = 2 * c->reserved > need ? 2 * c->reserved : need;
    if (step < (1u << 20))
        step = 1u << 20;
    bool ok = false;
    pthread_mutex_lock(&scp->mu);
    if (scp->mem_used + (step - c->reserved) <= scp->mem_budget) {
        scp->mem_used += step - c->reserved;
        c->reserved = step;
        ok = true;
    } else if (scp->mem_used + (need - c->reserved) <= scp->mem_budget) {
        scp->mem_used += need - c->reserved;
        c->reserved = need;
        ok = true;
    }
    pthread_mutex_unlock(&scp->mu);
    return ok;
}

static void budget_release(conn *c)
{
    if (c->reserved == 0)
        return;
    pthread_mutex_lock(&c->scp->mu);
    c->scp->mem_used -= c->reserved;
    pthread_mutex_unlock(&c->scp->mu);
    c->reserved = 0;
}

static uint16_t status_for(iso_code rc)
{
    return rc == ISO_ENOSPC || rc == ISO_ELIMIT ? ISO_STATUS_OUT_OF_RESOURCES
                                                : ISO_STATUS_PROCESSING_FAILURE;
}

/* The Error Comment for a failure to take or keep an object. */
static const char *comment_for(iso_code rc)
{
    return rc == ISO_ENOSPC  ? "Out of disk space"
           : rc == ISO_ELIMIT ? "Object exceeds the node's size limit"
                              : "Cannot store object";
}

static iso_code membuf_append(membuf *b, const void *buf, size_t len, iso_err *err)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->len + len)
            cap *= 2;
        void *m = NULL;
        if (posix_memalign(&m, ISO_INGEST_ALIGN, cap) != 0)
            return iso_fail(err, ISO_ENOMEM, "out of memory receiving an object");
        if (b->len > 0)
            memcpy(m, b->p, b->len);
        free(b->p);
        b->p = m;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return ISO_OK;
}

static void membuf_reset(membuf *b)
{
    if (b->cap > (8u << 20)) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    b->len = 0;
}

static void membuf_release(membuf *b)
{
    free(b->p);
    *b = (membuf){0};
}

/* Empties both buffers (the object is committed or abandoned). */
static void mem_free(conn *c)
{
    budget_release(c);
    membuf_reset(&c->in);
    membuf_reset(&c->out);
    c->handed = 0;
    c->in_mem = false;
}

static void mem_release(conn *c)
{
    budget_release(c);
    membuf_release(&c->in);
    membuf_release(&c->out);
    c->handed = 0;
    c->in_mem = false;
}

/* Appends to b, the object that ing will store; each WRITE_AHEAD that is
 * complete goes to the store's writers in aligned parts (*handed counts). */
static iso_code append_handing(membuf *b, iso_ingest *ing, size_t *handed, const void *buf,
                               size_t len, iso_err *err)
{
    if (b->len + len > b->cap)
        iso_ingest_wait_writes(ing); /* the buffer is about to move */
    if (membuf_append(b, buf, len, err) != ISO_OK)
        return err->code;
    if (b->len - *handed >= WRITE_AHEAD) {
        size_t upto = b->len - b->len % ISO_INGEST_ALIGN;
        if (iso_ingest_write_ahead(ing, b->p, upto, err) != ISO_OK)
            return err->code;
        *handed = upto;
    }
    return ISO_OK;
}

/* Moves what arrived in memory into a temporary file and goes on there. */
static iso_code spill(conn *c, iso_err *err)
{
    iso_code rc = c->ing ? iso_ingest_take_back(c->ing, c->in.p, err)
                         : iso_store_ingest_begin(c->scp->store, &c->ing, err);
    if (rc == ISO_OK)
        rc = iso_ingest_write(c->ing, c->in.p + c->handed, c->in.len - c->handed, err);
    mem_free(c);
    return rc;
}

/* What any object may cost while it streams: max_object_mb, and the free
 * space of data_dir, checked again every FREE_CHECK_EVERY bytes (one peer's
 * huge object must not take the disk below min_free_mb). */
enum { FREE_CHECK_EVERY = 64 << 20 };

static iso_code check_streaming(conn *c, size_t len, iso_err *err)
{
    const iso_config *cfg = c->scp->cfg;
    uint64_t before = c->received;
    c->received += len;
    if (c->received > (uint64_t)cfg->max_object_mb << 20)
        return iso_fail(err, ISO_ELIMIT, "object larger than max_object_mb (%ld MiB)",
                        cfg->max_object_mb);
    if (before / FREE_CHECK_EVERY != c->received / FREE_CHECK_EVERY) {
        uint64_t free_mb = 0;
        if (fsx_free_mb(cfg->data_dir, &free_mb, err) != ISO_OK)
            return err->code;
        if ((long)free_mb < cfg->min_free_mb)
            return iso_fail(err, ISO_ENOSPC, "only %llu MiB free while receiving "
                            "(min_free_mb = %ld)", (unsigned long long)free_mb,
                            cfg->min_free_mb);
    }
    return ISO_OK;
}

static iso_code conn_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    conn *c = ctx;
    if (check_streaming(c, len, err) != ISO_OK)
        return err->code;
    if (!c->in_mem)
        return iso_ingest_write(c->ing, buf, len, err);
    if (c->in.len + len > MEM_LIMIT || !budget_reserve(c, c->in.len + len)) {
        if (c->in.len + len <= MEM_LIMIT)
            ISO_DEBUG("max_memory_mb reached: an object streams through a file");
        if (spill(c, err) != ISO_OK)
            return err->code;
        return iso_ingest_write(c->ing, buf, len, err);
    }
    if (c->scp->anon != NULL)
        return membuf_append(&c->in, buf, len, err);
    /* Stored as received: what has arrived goes to disk while the rest
     * comes in. */
    return append_handing(&c->in, c->ing, &c->handed, buf, len, err);
}

/* The sink DCMTK feeds: remembers the first failure, so the end of the
 * object answers its real cause (DCMTK reads the rest and drops it). */
static iso_code sink_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    conn *c = ctx;
    iso_code rc = conn_write(c, buf, len, err);
    if (rc != ISO_OK && c->sink_err.code == ISO_OK)
        c->sink_err = *err;
    return rc;
}

static uint16_t on_store_begin(void *user, const iso_store_rq *rq, iso_store_sink *sink,
                               char *comment, size_t comment_size)
{
    conn *c = user;
    clock_gettime(CLOCK_MONOTONIC, &c->store_start);
    if (!iso_uid_valid(rq->sop_instance_uid) || !iso_uid_valid(rq->sop_class_uid)) {
        snprintf(comment, comment_size, "Invalid SOP Class or SOP Instance UID in request");
        ISO_WARN("C-STORE from %s: refused, invalid UID in command (instance '%.64s')",
                 c->req.calling_ae, rq->sop_instance_uid);
        return ISO_STATUS_CANNOT_UNDERSTAND;
    }
    iso_err err = {0};
    iso_code rc = ISO_OK;
    c->received = 0;
    c->in_mem = strcmp(rq->transfer_syntax, "1.2.840.10008.1.2.1.99") != 0;
    if (!c->in_mem || c->scp->anon == NULL)
        rc = iso_store_ingest_begin(c->scp->store, &c->ing, &err);
    /* the output file is created now, while the peer is still sending,
     * not after the whole object has arrived */
    if (rc == ISO_OK && c->scp->anon != NULL)
        rc = iso_store_ingest_begin(c->scp->store, &c->clean, &err);
    unsigned char meta[1024];
    size_t n = 0;
    if (rc == ISO_OK) {
        n = iso_dcm_meta_header(meta, sizeof meta, rq->sop_class_uid, rq->sop_instance_uid,
                                rq->transfer_syntax, c->req.calling_ae);
        if (n == 0)
            rc = iso_fail(&err, ISO_EINVAL, "meta header does not fit");
    }
    if (rc == ISO_OK)
        rc = conn_write(c, meta, n, &err);
    if (rc != ISO_OK) {
        iso_ingest_abort(c->ing);
        c->ing = NULL;
        iso_ingest_abort(c->clean);
        c->clean = NULL;
        mem_free(c);
        snprintf(comment, comment_size, "%s", comment_for(rc));
        ISO_ERROR("C-STORE %s from %s: refused: %s", rq->sop_instance_uid, c->req.calling_ae,
                  err.msg);
        return status_for(rc);
    }
    c->sink_err = (iso_err){0};
    sink->write = sink_write;
    sink->ctx = c;
    return ISO_STATUS_SUCCESS;
}

/* The de-identified object, built in c->out and handed to its ingest as it
 * grows. */
typedef struct out_sink {
    membuf *buf;
    iso_ingest *ing;
    size_t handed;
} out_sink;

static iso_code out_sink_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    out_sink *o = ctx;
    return append_handing(o->buf, o->ing, &o->handed, buf, len, err);
}

/* An object that arrived in a file (too large for memory, or deflated) is
 * de-identified from the file into the new ingest's file: DCMTK reads its
 * large values lazily and writes them through in blocks, so neither copy
 * is ever whole in memory. */
static iso_code out_stream_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    return iso_ingest_write(ctx, buf, len, err);
}

/* De-identifies the received object (in c->in, or in the file of *ing)
 * into c->out, hands that to a new ingest, keeps the original if
 * configured, and replaces *ing and *attrs by the de-identified ones.
 * Returns a DIMSE status. */
static uint16_t deidentify(conn *c, const iso_store_rq *rq, iso_ingest **ing,
                           iso_dcm_parsed *parsed, iso_attrs *attrs, char *comment,
                           size_t comment_size)
{
    iso_err err = {0};
    iso_ingest *clean = c->clean;
    c->clean = NULL;
    iso_attrs after;
    iso_anon_outcome how = ISO_ANON_DONE;
    char why[256] = "";
    iso_code rc = ISO_OK;
    if (clean == NULL)
        rc = iso_store_ingest_begin(c->scp->store, &clean, &err);
    bool streamed = *ing != NULL; /* the input is in a file */
    if (rc == ISO_OK) {
        out_sink os = {&c->out, clean, 0};
        iso_store_sink out = {out_sink_write, &os};
        if (streamed)
            out = (iso_store_sink){out_stream_write, clean};
        iso_anon_input in = {parsed, attrs, c->in.p, c->in.len,
                             *ing ? iso_ingest_tmp_path(*ing) : NULL};
        c->out.len = 0;
        rc = iso_anon_object(c->scp->anon, &in, &out, &after, &how, why, sizeof why, &err);
    }
    if (rc == ISO_OK && how != ISO_ANON_REJECTED && !streamed)
        rc = iso_ingest_write_last(clean, c->out.p, c->out.len, &err);
    if (rc == ISO_OK && how == ISO_ANON_REJECTED) {
        iso_ingest_abort(clean);
        snprintf(comment, comment_size, "Refused: %.50s", why);
        ISO_WARN("C-STORE %s from %s: status 0x%04x: %s (anonymize burned_in = reject)",
                 rq->sop_instance_uid, c->req.calling_ae, ISO_STATUS_NOT_AUTHORIZED, why);
        return ISO_STATUS_NOT_AUTHORIZED;
    }
    if (rc != ISO_OK) {
        iso_ingest_abort(clean);
        uint16_t st = status_for(rc);
        snprintf(comment, comment_size, "%s",
                 rc == ISO_ENOSPC ? "Out of disk space" : "De-identification failed");
        ISO_ERROR("C-STORE %s from %s: status 0x%04x: de-identification failed: %s",
                  rq->sop_instance_uid, c->req.calling_ae, st, err.msg);
        return st;
    }
    if (how == ISO_ANON_FLAGGED)
        ISO_WARN("C-STORE %s from %s: %s", rq->sop_instance_uid, c->req.calling_ae, why);
    if (c->scp->cfg->an_keep_originals) {
        iso_ingest *orig = *ing;
        rc = ISO_OK;
        if (orig == NULL) {
            rc = iso_store_ingest_begin(c->scp->store, &orig, &err);
            if (rc == ISO_OK)
                rc = iso_ingest_write_last(orig, c->in.p, c->in.len, &err);
        }
        *ing = NULL;
        if (rc == ISO_OK)
            rc = iso_ingest_keep_original(orig, after.series_uid, after.sop_instance_uid, &err);
        else
            iso_ingest_abort(orig);
        if (rc != ISO_OK) {
            iso_ingest_abort(clean);
            snprintf(comment, comment_size, "Cannot keep the original");
            ISO_ERROR("C-STORE %s from %s: status 0x%04x: keeping the original: %s",
                      rq->sop_instance_uid, c->req.calling_ae, status_for(rc), err.msg);
            return status_for(rc);
        }
    } else {
        iso_ingest_abort(*ing);
    }
    *ing = clean;
    *attrs = after;
    return ISO_STATUS_SUCCESS;
}

static uint16_t on_store_end(void *user, const iso_store_rq *rq, iso_store_sink *sink,
                             int data_ok, char *comment, size_t comment_size)
{
    conn *c = user;
    (void)sink;
    iso_ingest *ing = c->ing;
    c->ing = NULL;
    bool in_mem = c->in_mem;
    uint16_t status = ISO_STATUS_SUCCESS;
    iso_dcm_parsed *parsed = NULL;
    if (!data_ok) {
        iso_ingest_abort(ing);
        iso_ingest_abort(c->clean);
        c->clean = NULL;
        mem_free(c);
        ISO_WARN("C-STORE %s from %s: data set not received completely; nothing stored",
                 rq->sop_instance_uid, c->req.calling_ae);
        return ISO_STATUS_PROCESSING_FAILURE;
    }
    iso_attrs attrs;
    iso_err err = {0};
    double t_received = seconds_since(&c->store_start);
    /* A failed write (disk full) or append (out of memory) left the object
     * incomplete: answer the real cause instead of parsing it.  Stored as
     * received, the last write and the fdatasync start now and the parse
     * runs meanwhile. */
    bool as_received = c->scp->anon == NULL;
    iso_code rc = c->sink_err.code;
    if (rc != ISO_OK)
        err = c->sink_err;
    else if (in_mem && as_received)
        rc = iso_ingest_write_last(ing, c->in.p, c->in.len, &err);
    if (rc != ISO_OK) {
        iso_ingest_abort(ing);
        iso_ingest_abort(c->clean);
        c->clean = NULL;
        mem_free(c);
        snprintf(comment, comment_size, "%s", comment_for(rc));
        ISO_ERROR("C-STORE %s from %s: status 0x%04x: writing the object failed: %s",
                  rq->sop_instance_uid, c->req.calling_ae, status_for(rc), err.msg);
        return status_for(rc);
    }
    if (in_mem) {
        rc = iso_dcm_parse_buffer(c->in.p, c->in.len, &parsed, &err);
        if (rc == ISO_OK)
            iso_dcm_parsed_attrs(parsed, &attrs);
        if (as_received) {
            iso_dcm_parsed_free(parsed);
            parsed = NULL;
        }
    } else {
        rc = iso_dcm_read_attrs(iso_ingest_tmp_path(ing), &attrs, &err);
        if (rc == ISO_OK && c->scp->anon != NULL)
            rc = iso_dcm_parse_file(iso_ingest_tmp_path(ing), &parsed, &err);
    }
    if (rc == ISO_ELIMIT) {
        status = ISO_STATUS_OUT_OF_RESOURCES;
        snprintf(comment, comment_size, "%s", comment_for(rc));
    } else if (rc == ISO_ENESTING) {
        status = ISO_STATUS_CANNOT_UNDERSTAND;
        snprintf(comment, comment_size, "Sequences nested deeper than %ld",
                 c->scp->cfg->max_nesting);
    } else if (rc != ISO_OK) {
        status = ISO_STATUS_CANNOT_UNDERSTAND;
        snprintf(comment, comment_size, "Data set cannot be parsed");
    } else if (strcmp(attrs.sop_instance_uid, rq->sop_instance_uid) != 0) {
        status = ISO_STATUS_DATASET_MISMATCH;
        snprintf(comment, comment_size, "SOP Instance UID differs from request");
        iso_fail(&err, ISO_EMISMATCH, "data set has SOP Instance UID '%.64s'",
                 attrs.sop_instance_uid);
    } else if (strcmp(attrs.sop_class_uid, rq->sop_class_uid) != 0) {
        status = ISO_STATUS_DATASET_MISMATCH;
        snprintf(comment, comment_size, "SOP Class UID differs from request");
        iso_fail(&err, ISO_EMISMATCH, "data set has SOP Class UID '%.64s'", attrs.sop_class_uid);
    } else if (!iso_uid_valid(attrs.study_uid) || !iso_uid_valid(attrs.series_uid)) {
        status = ISO_STATUS_CANNOT_UNDERSTAND;
        snprintf(comment, comment_size, "Missing or invalid Study/Series Instance UID");
        iso_fail(&err, ISO_EDICOM, "study '%.64s' series '%.64s'", attrs.study_uid,
                 attrs.series_uid);
    }
    if (status != ISO_STATUS_SUCCESS) {
        iso_ingest_abort(ing);
        iso_ingest_abort(c->clean);
        c->clean = NULL;
        iso_dcm_parsed_free(parsed);
        mem_free(c);
        ISO_WARN("C-STORE %s from %s: status 0x%04x (%s): %s", rq->sop_instance_uid,
                 c->req.calling_ae, status, comment, err.msg);
        return status;
    }
    double t_parsed = seconds_since(&c->store_start);
    double t_anon = t_parsed;
    if (c->scp->anon != NULL) {
        status = deidentify(c, rq, &ing, parsed, &attrs, comment, comment_size);
        t_anon = seconds_since(&c->store_start);
        iso_dcm_parsed_free(parsed);
        if (status != ISO_STATUS_SUCCESS) {
            iso_ingest_abort(ing);
            mem_free(c);
            return status;
        }
    }
    iso_store_outcome outcome;
    rc = iso_ingest_commit(ing, &attrs, c->req.calling_ae, &outcome, &err);
    mem_free(c); /* the object's bytes were needed until committed */
    double ms = seconds_since(&c->store_start) * 1000.0;
    ISO_DEBUG("C-STORE %s timing: receive %.2f ms, parse %.2f ms, de-identify %.2f ms, "
              "sync+commit %.2f ms",
              rq->sop_instance_uid, t_received * 1000.0, (t_parsed - t_received) * 1000.0,
              (t_anon - t_parsed) * 1000.0, ms - t_anon * 1000.0);
    if (rc != ISO_OK) {
        status = status_for(rc);
        snprintf(comment, comment_size, "%s", comment_for(rc));
        ISO_ERROR("C-STORE %s from %s: status 0x%04x: %s (%.1f ms)", rq->sop_instance_uid,
                  c->req.calling_ae, status, err.msg, ms);
        return status;
    }
    if (outcome != ISO_STORED_KEPT_EXISTING && c->scp->obs.stored != NULL)
        c->scp->obs.stored(c->scp->obs.user, c->assoc, &attrs, c->req.calling_ae);
    static const char *const what[] = {"stored", "replaced", "duplicate, kept stored copy"};
    if (c->scp->anon != NULL)
        ISO_INFO("C-STORE %s from %s: de-identified as %s, %s, status 0x0000 (%.1f ms)",
                 rq->sop_instance_uid, c->req.calling_ae, attrs.sop_instance_uid, what[outcome],
                 ms);
    else
        ISO_INFO("C-STORE %s from %s: %s, status 0x0000 (%.1f ms)", rq->sop_instance_uid,
                 c->req.calling_ae, what[outcome], ms);
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
    if (await_associate_rq(scp, c->fd, scp->cfg->acse_timeout, why, sizeof why) != 0) {
        ISO_WARN("connection from %s closed: %s", c->peer_ip, why);
        close(c->fd);
        return;
    }
    iso_dcm_assoc *a = NULL;
    iso_err err = {0};
    if (iso_dcm_assoc_receive(scp->dcm, c->fd, &a, &c->req, &err) != ISO_OK) {
        ISO_WARN("connection from %s closed: %s", c->peer_ip, err.msg);
        return;
    }
    int reason = decide(c, why, sizeof why);
    if (reason != 0) {
        iso_err rj = {0};
        if (iso_dcm_assoc_reject(a, (iso_reject_reason)reason, &rj) != ISO_OK)
            ISO_WARN("association %s -> %s from %s: %s", c->req.calling_ae, c->req.called_ae,
                     c->peer_ip, rj.msg);
        ISO_WARN("association %s -> %s from %s rejected: %s", c->req.calling_ae,
                 c->req.called_ae, c->peer_ip, why);
        iso_dcm_assoc_free(a);
        return;
    }
    int n_accepted = 0;
    char contexts[1024];
    if (iso_dcm_assoc_accept(a, &n_accepted, contexts, sizeof contexts, &err) != ISO_OK) {
        ISO_WARN("association %s -> %s from %s rejected: %s", c->req.calling_ae,
                 c->req.called_ae, c->peer_ip, err.msg);
        iso_dcm_assoc_free(a);
        return;
    }
    ISO_DEBUG("association %s -> %s from %s accepted, %d of %d contexts: %s", c->req.calling_ae,
              c->req.called_ae, c->peer_ip, n_accepted, c->req.n_proposed, contexts);
    pthread_mutex_lock(&scp->mu);
    c->assoc = ++scp->next_assoc;
    pthread_mutex_unlock(&scp->mu);
    iso_scp_handlers h = {c, on_store_begin, on_store_end, on_should_abort};
    iso_assoc_counts counts = {0};
    iso_assoc_end end = iso_dcm_assoc_serve(a, &h, &counts, why, sizeof why);
    if (scp->obs.assoc_end != NULL)
        scp->obs.assoc_end(scp->obs.user, c->assoc);
    if (c->ing) { /* network failed between begin and end */
        iso_ingest_abort(c->ing);
        c->ing = NULL;
    }
    iso_ingest_abort(c->clean);
    c->clean = NULL;
    mem_release(c);
    iso_dcm_assoc_free(a);
    double secs = seconds_since(&t0);
    iso_log(end == ISO_END_RELEASED ? ISO_LOG_INFO : ISO_LOG_WARN,
            "association %s -> %s from %s %s%s%s after %.2f s: contexts %d/%d [%s], echo %u, "
            "stored %u, failed %u, %.1f MB",
            c->req.calling_ae, c->req.called_ae, c->peer_ip, end_name(end), why[0] ? ": " : "",
            why, secs, n_accepted, c->req.n_proposed, contexts, counts.echoes, counts.stores_ok,
            counts.stores_failed, (double)counts.bytes / 1e6);
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
    for (;;) {
        struct pollfd pfd[2] = {{scp->listen_fd, POLLIN, 0}, {scp->wake_pipe[0], POLLIN, 0}};
        int r = poll(pfd, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ISO_ERROR("listener: poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break; /* stop requested */
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        int fd = accept4(scp->listen_fd, (struct sockaddr *)&from, &fromlen, SOCK_CLOEXEC);
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
    if (scp->wake_pipe[0] >= 0) {
        close(scp->wake_pipe[0]);
        close(scp->wake_pipe[1]);
    }
    iso_dcm_server_free(scp->dcm);
    free(scp->hosts);
    pthread_mutex_destroy(&scp->mu);
    pthread_cond_destroy(&scp->idle_cv);
    free(scp);
}

iso_code iso_scp_start(const iso_config *cfg, iso_store *store, iso_anon *anon,
                       const iso_scp_observer *obs, iso_scp **out, iso_err *err)
{
    *out = NULL;
    iso_scp *scp = calloc(1, sizeof *scp);
    if (scp == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    scp->cfg = cfg;
    scp->store = store;
    scp->anon = anon;
    if (obs != NULL)
        scp->obs = *obs;
    scp->listen_fd = -1;
    scp->wake_pipe[0] = scp->wake_pipe[1] = -1;
    pthread_mutex_init(&scp->mu, NULL);
    pthread_cond_init(&scp->idle_cv, NULL);
    /* every live connection has a slot, so this many hosts at most */
    scp->cap_hosts = (int)cfg->max_associations + REJECT_SLOTS;
    scp->mem_budget = (uint64_t)cfg->max_memory_mb << 20;
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
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1) {
        iso_fail(err, ISO_ECONFIG, "bind = %s is not an IPv4 address", cfg->bind);
        goto fail;
    }
    scp->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (scp->listen_fd < 0 ||
        setsockopt(scp->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(scp->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(scp->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(scp->listen_fd, 128) != 0) {
        iso_fail(err, ISO_ENET, "cannot listen on %s:%ld: %s", cfg->bind, cfg->port,
                 strerror(errno));
        goto fail;
    }
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
    close(scp->listen_fd);
    scp->listen_fd = -1;
    /* Connection threads notice `stopping` within a second; those blocked in
     * a network read are bounded by network_timeout. */
    pthread_mutex_lock(&scp->mu);
    while (scp->active > 0)
        pthread_cond_wait(&scp->idle_cv, &scp->mu);
    pthread_mutex_unlock(&scp->mu);
    scp_free(scp);
}
