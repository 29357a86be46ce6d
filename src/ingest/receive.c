/* receive.c — the receive path of one object (see receive.h).
 *
 * Where an object's bytes live while it arrives:
 *   MEMORY  in x->in (objects up to MEM_LIMIT whose cost fits the node's
 *           memory budget).  Stored as received, what has arrived is handed
 *           to the store's writer threads in WRITE_AHEAD parts meanwhile
 *           (x->ing), and the rest is written and synced while the object
 *           is parsed.  De-identifying, only the de-identified output is
 *           written (x->clean, handed over as it grows in x->out).
 *   FILE    in the temporary file of x->ing (deflated objects, whose size
 *           is unknown; objects beyond MEM_LIMIT or the budget, which move
 *           there -- spill -- the moment they stop fitting).  DCMTK parses
 *           such a file lazily and de-identification rewrites it file to
 *           file, so no copy is ever whole in memory.
 *
 * Hand-over rules, enforced rather than remembered: a buffer whose bytes
 * are being written by the store's threads records that ingest
 * (membuf.writing) and waits for it before it moves; the store refuses
 * mixing writes with hand-overs and parts out of order (store.c
 * check_handover); the state's invariants are asserted at every step
 * (check_state).  Every way out of an object -- committed, refused, failed,
 * network lost -- ends in drop_object, the one cleanup.
 *
 * The budget: an object in memory reserves what it will cost (its bytes;
 * de-identifying three times: DCMTK's parsed copy and the output too) in
 * growing steps; one that cannot reserve streams through a file instead,
 * where receiving, parsing and rewriting each take a few MB.  So memory is
 * bounded whatever peers send and nothing is refused for memory.  (Receive
 * buffers up to KEEP_BUFFER are kept between objects outside the budget.)
 */
#include "ingest/receive.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fsx.h"
#include "util/log.h"
#include "util/uid.h"

enum {
    MEM_LIMIT = 32 << 20,        /* larger objects stream through a file, in both modes */
    WRITE_AHEAD = 256 << 10,     /* parts handed to the store while receiving */
    KEEP_BUFFER = 8 << 20,       /* receive buffers kept between objects */
    FREE_CHECK_EVERY = 64 << 20, /* free space is checked again after this many bytes */
};

#define DEFLATED_LE "1.2.840.10008.1.2.1.99"

struct iso_receiver {
    const iso_config *cfg;
    iso_store *store;
    iso_anon *anon;
    pthread_mutex_t mu;
    uint64_t mem_used;   /* under mu: bytes reserved by objects in memory */
    uint64_t mem_budget; /* max_memory_mb */
};

/* A growing buffer, ISO_INGEST_ALIGN-aligned so the store can write it
 * straight to disk.  writing: the ingest whose threads may be writing from
 * it, waited for before the buffer moves. */
typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
    iso_ingest *writing;
    size_t handed; /* bytes of it handed to `writing` */
} membuf;

typedef enum { RECV_IDLE, RECV_MEMORY, RECV_FILE } recv_state;

struct iso_recv {
    iso_receiver *r;
    char calling_ae[65];
    recv_state state;
    iso_ingest *ing;   /* the object as received: its file (FILE), or its parts (MEMORY, as received) */
    iso_ingest *clean; /* de-identifying: the output, opened when the request comes */
    membuf in;         /* MEMORY: the object as received */
    membuf out;        /* de-identifying from memory: the object as it will be stored */
    iso_dcm_parsed *parsed;
    iso_err first_err; /* the first failure taking the object's bytes (code 0: none) */
    bool kept_original; /* this object's original was kept, and no earlier one was there */
    uint64_t received; /* bytes of the object so far */
    uint64_t reserved; /* this object's share of the budget */
    char sop_instance_uid[65], sop_class_uid[65];
    char name[65]; /* for log lines (iso_recv_name), made when first asked for */
    struct timespec start;
};

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The invariants of each state (a failure is a bug here, not peer input). */
static void check_state(const iso_recv *x)
{
    bool deidentifying = x->r->anon != NULL;
    switch (x->state) {
    case RECV_IDLE:
        assert(x->ing == NULL && x->clean == NULL && x->parsed == NULL);
        assert(x->reserved == 0 && x->in.len == 0 && x->out.len == 0);
        assert(x->in.writing == NULL && x->out.writing == NULL);
        break;
    case RECV_MEMORY:
        /* as received, the parts go to ing; de-identifying, nothing of the
         * input is written */
        assert(deidentifying ? x->ing == NULL : x->ing != NULL);
        assert(x->in.writing == x->ing);
        assert(deidentifying == (x->clean != NULL));
        break;
    case RECV_FILE:
        assert(x->ing != NULL && x->in.len == 0 && x->in.writing == NULL && x->reserved == 0);
        break;
    }
    (void)deidentifying;
}

/* ---- the node-wide memory budget ---- */

static bool budget_reserve(iso_recv *x, size_t object_bytes)
{
    iso_receiver *r = x->r;
    uint64_t need = (uint64_t)object_bytes * (r->anon != NULL ? 3 : 1);
    if (need <= x->reserved)
        return true;
    uint64_t step = 2 * x->reserved > need ? 2 * x->reserved : need;
    if (step < (1u << 20))
        step = 1u << 20;
    bool ok = false;
    pthread_mutex_lock(&r->mu);
    if (r->mem_used + (step - x->reserved) <= r->mem_budget) {
        r->mem_used += step - x->reserved;
        x->reserved = step;
        ok = true;
    } else if (r->mem_used + (need - x->reserved) <= r->mem_budget) {
        r->mem_used += need - x->reserved;
        x->reserved = need;
        ok = true;
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void budget_release(iso_recv *x)
{
    if (x->reserved == 0)
        return;
    pthread_mutex_lock(&x->r->mu);
    assert(x->r->mem_used >= x->reserved);
    x->r->mem_used -= x->reserved;
    pthread_mutex_unlock(&x->r->mu);
    x->reserved = 0;
}

/* ---- buffers ---- */

static iso_code membuf_append(membuf *b, const void *buf, size_t len, iso_err *err)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->len + len)
            cap *= 2;
        void *m = NULL;
        if (posix_memalign(&m, ISO_INGEST_ALIGN, cap) != 0)
            return iso_fail(err, ISO_ENOMEM, "out of memory receiving an object");
        /* the store's threads may be writing from the old memory */
        if (b->writing != NULL)
            iso_ingest_wait_writes(b->writing);
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

/* Appends to b, whose object b->writing stores; each WRITE_AHEAD that is
 * complete goes to the store's writers in aligned parts. */
static iso_code membuf_append_handing(membuf *b, const void *buf, size_t len, iso_err *err)
{
    if (membuf_append(b, buf, len, err) != ISO_OK)
        return err->code;
    if (b->len - b->handed >= WRITE_AHEAD) {
        size_t upto = b->len - b->len % ISO_INGEST_ALIGN;
        if (iso_ingest_write_ahead(b->writing, b->p, upto, err) != ISO_OK)
            return err->code;
        b->handed = upto;
    }
    return ISO_OK;
}

/* Empties b; its ingest must be finished with it (committed, aborted or
 * waited for).  Large buffers are freed, small ones kept for the next
 * object. */
static void membuf_reset(membuf *b, bool keep)
{
    if (!keep || b->cap > KEEP_BUFFER) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    b->len = 0;
    b->handed = 0;
    b->writing = NULL;
}

/* ---- the one cleanup ---- */

/* Ends the object however far it got: what is not committed is removed
 * (iso_ingest_abort waits for the store's threads before the buffers they
 * read go), memory goes back to the budget. */
static void drop_object(iso_recv *x, bool keep_buffers)
{
    iso_ingest_abort(x->ing);
    x->ing = NULL;
    iso_ingest_abort(x->clean);
    x->clean = NULL;
    iso_dcm_parsed_free(x->parsed);
    x->parsed = NULL;
    membuf_reset(&x->in, keep_buffers);
    membuf_reset(&x->out, keep_buffers);
    budget_release(x);
    x->state = RECV_IDLE;
    check_state(x);
}

/* ---- receiving ---- */

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

/* Moves what arrived in memory into a temporary file and goes on there. */
static iso_code spill(iso_recv *x, iso_err *err)
{
    iso_code rc = ISO_OK;
    if (x->ing != NULL) /* as received: take back the parts handed over */
        rc = iso_ingest_take_back(x->ing, x->in.p, err);
    else
        rc = iso_store_ingest_begin(x->r->store, &x->ing, err);
    if (rc == ISO_OK)
        rc = iso_ingest_write(x->ing, x->in.p + x->in.handed, x->in.len - x->in.handed, err);
    membuf_reset(&x->in, true);
    budget_release(x);
    x->state = RECV_FILE;
    return rc;
}

/* What any object may cost while it streams: max_object_mb, and the free
 * space of data_dir, checked again every FREE_CHECK_EVERY bytes (one peer's
 * huge object must not take the disk below min_free_mb). */
static iso_code check_streaming(iso_recv *x, size_t len, iso_err *err)
{
    const iso_config *cfg = x->r->cfg;
    uint64_t before = x->received;
    x->received += len;
    if (x->received > (uint64_t)cfg->max_object_mb << 20)
        return iso_fail(err, ISO_ELIMIT, "object larger than max_object_mb (%ld MiB)",
                        cfg->max_object_mb);
    if (before / FREE_CHECK_EVERY != x->received / FREE_CHECK_EVERY) {
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

static iso_code take_bytes(iso_recv *x, const void *buf, size_t len, iso_err *err)
{
    if (check_streaming(x, len, err) != ISO_OK)
        return err->code;
    if (x->state == RECV_FILE)
        return iso_ingest_write(x->ing, buf, len, err);
    if (x->in.len + len > MEM_LIMIT || !budget_reserve(x, x->in.len + len)) {
        if (x->in.len + len <= MEM_LIMIT)
            ISO_DEBUG("max_memory_mb reached: an object streams through a file");
        if (spill(x, err) != ISO_OK)
            return err->code;
        return iso_ingest_write(x->ing, buf, len, err);
    }
    if (x->in.writing == NULL)
        return membuf_append(&x->in, buf, len, err);
    return membuf_append_handing(&x->in, buf, len, err);
}

iso_code iso_recv_write(iso_recv *x, const void *buf, size_t len, iso_err *err)
{
    assert(x->state != RECV_IDLE);
    if (x->first_err.code != ISO_OK) {
        *err = x->first_err;
        return err->code;
    }
    iso_code rc = take_bytes(x, buf, len, err);
    if (rc != ISO_OK)
        x->first_err = *err;
    check_state(x);
    return rc;
}

uint16_t iso_recv_begin(iso_recv *x, const iso_store_rq *rq, char *comment, size_t comment_size,
                        iso_err *err)
{
    check_state(x);
    assert(x->state == RECV_IDLE);
    clock_gettime(CLOCK_MONOTONIC, &x->start);
    x->first_err = (iso_err){0};
    x->kept_original = false;
    x->received = 0;
    bool deidentifying = x->r->anon != NULL;
    x->name[0] = '\0';
    x->sop_instance_uid[0] = '\0';
    if (!iso_uid_valid(rq->sop_instance_uid) || !iso_uid_valid(rq->sop_class_uid)) {
        snprintf(x->name, sizeof x->name, "(invalid UID)");
        snprintf(comment, comment_size, "Invalid SOP Class or SOP Instance UID in request");
        if (deidentifying) /* even an invalid UID may identify */
            iso_fail(err, ISO_EINVAL, "invalid UID in command");
        else
            iso_fail(err, ISO_EINVAL, "invalid UID in command (instance '%.64s')",
                     rq->sop_instance_uid);
        return ISO_STATUS_CANNOT_UNDERSTAND;
    }
    snprintf(x->sop_instance_uid, sizeof x->sop_instance_uid, "%s", rq->sop_instance_uid);
    snprintf(x->sop_class_uid, sizeof x->sop_class_uid, "%s", rq->sop_class_uid);
    iso_code rc = ISO_OK;
    x->state = strcmp(rq->transfer_syntax, DEFLATED_LE) == 0 ? RECV_FILE : RECV_MEMORY;
    if (x->state == RECV_FILE || !deidentifying)
        rc = iso_store_ingest_begin(x->r->store, &x->ing, err);
    if (rc == ISO_OK && x->state == RECV_MEMORY && !deidentifying)
        x->in.writing = x->ing;
    /* the output file is created now, while the peer is still sending,
     * not after the whole object has arrived */
    if (rc == ISO_OK && deidentifying)
        rc = iso_store_ingest_begin(x->r->store, &x->clean, err);
    unsigned char meta[1024];
    size_t n = 0;
    if (rc == ISO_OK) {
        n = iso_dcm_meta_header(meta, sizeof meta, rq->sop_class_uid, rq->sop_instance_uid,
                                rq->transfer_syntax, x->calling_ae);
        if (n == 0)
            rc = iso_fail(err, ISO_EINVAL, "meta header does not fit");
    }
    if (rc == ISO_OK)
        rc = iso_recv_write(x, meta, n, err);
    if (rc != ISO_OK) {
        drop_object(x, true);
        snprintf(comment, comment_size, "%s", comment_for(rc));
        return status_for(rc);
    }
    return ISO_STATUS_SUCCESS;
}

/* ---- ending ---- */

/* Parses what arrived and checks it against its request; fills attrs (and
 * x->parsed when de-identifying).  Returns a DIMSE status. */
static uint16_t parse_and_check(iso_recv *x, iso_attrs *attrs, char *comment,
                                size_t comment_size, iso_err *err)
{
    bool deidentifying = x->r->anon != NULL;
    iso_code rc;
    if (x->state == RECV_MEMORY) {
        rc = iso_dcm_parse_buffer(x->in.p, x->in.len, &x->parsed, err);
        if (rc == ISO_OK)
            iso_dcm_parsed_attrs(x->parsed, attrs);
        if (!deidentifying) {
            iso_dcm_parsed_free(x->parsed);
            x->parsed = NULL;
        }
    } else {
        rc = iso_dcm_read_attrs(iso_ingest_tmp_path(x->ing), attrs, err);
        if (rc == ISO_OK && deidentifying)
            rc = iso_dcm_parse_file(iso_ingest_tmp_path(x->ing), &x->parsed, err);
    }
    if (rc == ISO_ELIMIT) {
        snprintf(comment, comment_size, "%s", comment_for(rc));
        return ISO_STATUS_OUT_OF_RESOURCES;
    }
    if (rc == ISO_ENESTING) {
        snprintf(comment, comment_size, "Sequences nested deeper than %ld",
                 x->r->cfg->max_nesting);
        return ISO_STATUS_CANNOT_UNDERSTAND;
    }
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "Data set cannot be parsed");
        return ISO_STATUS_CANNOT_UNDERSTAND;
    }
    if (strcmp(attrs->sop_instance_uid, x->sop_instance_uid) != 0) {
        snprintf(comment, comment_size, "SOP Instance UID differs from request");
        char named[65];
        if (deidentifying)
            iso_anon_map_uid(x->r->anon, attrs->sop_instance_uid, named);
        else
            snprintf(named, sizeof named, "%s", attrs->sop_instance_uid);
        iso_fail(err, ISO_EMISMATCH, "data set has SOP Instance UID '%.64s'", named);
        return ISO_STATUS_DATASET_MISMATCH;
    }
    if (strcmp(attrs->sop_class_uid, x->sop_class_uid) != 0) {
        snprintf(comment, comment_size, "SOP Class UID differs from request");
        /* a class is no identity, but what a data set puts there is only a
         * class if it is a UID */
        iso_fail(err, ISO_EMISMATCH, "data set has SOP Class UID '%.64s'",
                 !deidentifying || iso_uid_valid(attrs->sop_class_uid) ? attrs->sop_class_uid
                                                                       : "(not a UID)");
        return ISO_STATUS_DATASET_MISMATCH;
    }
    if (!iso_uid_valid(attrs->study_uid) || !iso_uid_valid(attrs->series_uid)) {
        snprintf(comment, comment_size, "Missing or invalid Study/Series Instance UID");
        if (deidentifying) /* an invalid UID may identify too: not logged */
            iso_fail(err, ISO_EDICOM, "%s Instance UID missing or invalid",
                     iso_uid_valid(attrs->study_uid) ? "Series" : "Study");
        else
            iso_fail(err, ISO_EDICOM, "study '%.64s' series '%.64s'", attrs->study_uid,
                     attrs->series_uid);
        return ISO_STATUS_CANNOT_UNDERSTAND;
    }
    return ISO_STATUS_SUCCESS;
}

static iso_code out_stream_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    return iso_ingest_write(ctx, buf, len, err);
}

static iso_code out_buffer_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    return membuf_append_handing(ctx, buf, len, err);
}

/* Keeps the received object as the original of the de-identified one
 * (after: its new identity, which names the file). */
static iso_code keep_original(iso_recv *x, const iso_attrs *after, iso_err *err)
{
    if (x->ing == NULL) { /* it arrived in memory: written only now */
        if (iso_store_ingest_begin(x->r->store, &x->ing, err) != ISO_OK)
            return err->code;
        x->in.writing = x->ing;
        if (iso_ingest_write_last(x->ing, x->in.p, x->in.len, err) != ISO_OK)
            return err->code;
    }
    iso_ingest *orig = x->ing; /* consumed whatever happens */
    x->ing = NULL;
    x->in.writing = NULL;
    return iso_ingest_keep_original(orig, after->series_uid, after->sop_instance_uid,
                                    &x->kept_original, err);
}

/* De-identifies the received object (x->in, or the file of x->ing) into
 * x->clean, keeps the original if configured, and leaves the de-identified
 * object in x->ing and its attributes in *attrs.  Returns a DIMSE status. */
static uint16_t deidentify(iso_recv *x, iso_attrs *attrs, char *note, size_t note_size,
                           char *comment, size_t comment_size, iso_err *err)
{
    bool from_file = x->state == RECV_FILE;
    iso_store_sink out = {out_stream_write, x->clean};
    if (!from_file) {
        x->out.writing = x->clean;
        out = (iso_store_sink){out_buffer_write, &x->out};
    }
    iso_anon_input in = {x->parsed, attrs, x->in.p, x->in.len,
                         from_file ? iso_ingest_tmp_path(x->ing) : NULL};
    iso_attrs after;
    iso_anon_outcome how = ISO_ANON_DONE;
    char why[256] = "";
    iso_code rc = iso_anon_object(x->r->anon, &in, &out, &after, &how, why, sizeof why, err);
    iso_dcm_parsed_free(x->parsed); /* consumed by the rewrite */
    x->parsed = NULL;
    if (rc == ISO_OK && how == ISO_ANON_REJECTED) {
        snprintf(comment, comment_size, "Refused: %.50s", why);
        iso_fail(err, ISO_EREFUSED, "%s (anonymize burned_in = reject)", why);
        return ISO_STATUS_NOT_AUTHORIZED;
    }
    if (rc == ISO_OK && !from_file)
        rc = iso_ingest_write_last(x->clean, x->out.p, x->out.len, err);
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "%s",
                 rc == ISO_ENOSPC ? "Out of disk space" : "De-identification failed");
        iso_err_context(err, "de-identification failed");
        return status_for(rc);
    }
    if (how == ISO_ANON_FLAGGED)
        snprintf(note, note_size, "%s", why);
    if (x->r->cfg->an_keep_originals && keep_original(x, &after, err) != ISO_OK) {
        snprintf(comment, comment_size, "Cannot keep the original");
        iso_err_context(err, "keeping the original");
        return status_for(err->code);
    }
    /* from here on the de-identified object is the one to commit */
    iso_ingest_abort(x->ing);
    x->ing = x->clean;
    x->clean = NULL;
    x->in.writing = NULL;
    *attrs = after;
    return ISO_STATUS_SUCCESS;
}

static uint16_t finish(iso_recv *x, bool complete, iso_received *out, char *comment,
                       size_t comment_size, iso_err *err)
{
    if (!complete) {
        iso_fail(err, ISO_EIO, "data set not received completely; nothing stored");
        return ISO_STATUS_PROCESSING_FAILURE;
    }
    bool deidentifying = x->r->anon != NULL;
    /* A failed write (disk full, size limit) left the object incomplete:
     * answer the real cause instead of parsing it. */
    iso_code rc = x->first_err.code;
    if (rc != ISO_OK)
        *err = x->first_err;
    else if (x->state == RECV_MEMORY && !deidentifying)
        /* the last write and the fdatasync run while the object is parsed */
        rc = iso_ingest_write_last(x->ing, x->in.p, x->in.len, err);
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "%s", comment_for(rc));
        iso_err_context(err, "writing the object failed");
        return status_for(rc);
    }
    out->ms_receive = ms_since(&x->start);
    uint16_t status = parse_and_check(x, &out->attrs, comment, comment_size, err);
    if (status != ISO_STATUS_SUCCESS)
        return status;
    out->ms_parse = ms_since(&x->start) - out->ms_receive;
    if (deidentifying) {
        status = deidentify(x, &out->attrs, out->note, sizeof out->note, comment, comment_size,
                            err);
        if (status != ISO_STATUS_SUCCESS)
            return status;
        out->deidentified = true;
    }
    out->ms_deidentify = ms_since(&x->start) - out->ms_receive - out->ms_parse;
    iso_ingest *ing = x->ing; /* consumed by the commit, whatever it returns */
    x->ing = NULL;
    x->in.writing = NULL;
    x->out.writing = NULL;
    rc = iso_ingest_commit(ing, &out->attrs, x->calling_ae, &out->outcome, err);
    out->ms_total = ms_since(&x->start);
    if (rc != ISO_OK && x->kept_original) /* kept for an object that is not stored */
        iso_store_drop_original(x->r->store, out->attrs.series_uid, out->attrs.sop_instance_uid);
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "%s", comment_for(rc));
        return status_for(rc);
    }
    return ISO_STATUS_SUCCESS;
}

uint16_t iso_recv_end(iso_recv *x, bool complete, iso_received *out, char *comment,
                      size_t comment_size, iso_err *err)
{
    check_state(x);
    assert(x->state != RECV_IDLE);
    *out = (iso_received){0};
    uint16_t status = finish(x, complete, out, comment, comment_size, err);
    drop_object(x, true);
    return status;
}

const char *iso_recv_name(iso_recv *x)
{
    /* only refusals are logged by this name (a stored object by its stored
     * UID), so the keyed replacement is not computed per object */
    if (x->name[0] == '\0' && x->sop_instance_uid[0] != '\0') {
        if (x->r->anon != NULL)
            iso_anon_map_uid(x->r->anon, x->sop_instance_uid, x->name);
        else
            snprintf(x->name, sizeof x->name, "%s", x->sop_instance_uid);
    }
    return x->name;
}

/* ---- lifecycles ---- */

iso_code iso_receiver_new(const iso_config *cfg, iso_store *store, iso_anon *anon,
                          iso_receiver **out, iso_err *err)
{
    *out = NULL;
    iso_receiver *r = calloc(1, sizeof *r);
    if (r == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    r->cfg = cfg;
    r->store = store;
    r->anon = anon;
    r->mem_budget = (uint64_t)cfg->max_memory_mb << 20;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return iso_fail(err, ISO_ENOMEM, "cannot create a mutex");
    }
    *out = r;
    return ISO_OK;
}

void iso_receiver_free(iso_receiver *r)
{
    if (r == NULL)
        return;
    assert(r->mem_used == 0);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

uint64_t iso_receiver_memory_used(iso_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t used = r->mem_used;
    pthread_mutex_unlock(&r->mu);
    return used;
}

iso_code iso_recv_new(iso_receiver *r, const char *calling_ae, iso_recv **out, iso_err *err)
{
    *out = NULL;
    iso_recv *x = calloc(1, sizeof *x);
    if (x == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    x->r = r;
    snprintf(x->calling_ae, sizeof x->calling_ae, "%s", calling_ae ? calling_ae : "");
    *out = x;
    return ISO_OK;
}

void iso_recv_free(iso_recv *x)
{
    if (x == NULL)
        return;
    drop_object(x, false);
    free(x);
}
