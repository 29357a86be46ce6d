// fuzz_association.cc — libFuzzer target: the bytes a peer sends on a
// connection (A-ASSOCIATE-RQ, P-DATA-TF with commands and data sets,
// release...), fed through a socketpair into the same adapter calls the
// daemon makes: receive, accept, serve with store callbacks.  Built and run
// by tests/integration/fuzz.sh.
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "fuzz_socket.h"

static iso_code sink_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    (void)buf;
    (void)err;
    *(size_t *)ctx += len;
    return ISO_OK;
}

static uint16_t on_begin(void *user, const iso_store_rq *rq, iso_store_sink *sink, char *c,
                         size_t n)
{
    (void)rq;
    (void)c;
    (void)n;
    sink->write = sink_write;
    sink->ctx = user;
    return ISO_STATUS_SUCCESS;
}

static uint16_t on_end(void *user, const iso_store_rq *rq, iso_store_sink *sink, int ok, char *c,
                       size_t n)
{
    (void)user;
    (void)rq;
    (void)sink;
    (void)c;
    (void)n;
    return ok ? ISO_STATUS_SUCCESS : ISO_STATUS_PROCESSING_FAILURE;
}

/* C-FIND: every query matches three times, answered with its own values,
 * so the adapter's identifier parse and response building run. */
static uint16_t on_find_begin(void *user, const iso_find_rq *rq, void **cursor, char *c, size_t n)
{
    (void)user;
    (void)c;
    (void)n;
    static thread_local int left;
    left = 3;
    *cursor = &left;
    return strcmp(rq->level, "PATIENT") == 0 ? ISO_FIND_IDENTIFIER_DOES_NOT_MATCH : 0;
}

static int on_find_next(void *user, void *cursor, const char **values)
{
    (void)user;
    (void)values; /* NULL: every key returned empty */
    int *left = (int *)cursor;
    return (*left)-- > 0 ? 1 : 0;
}

static void on_find_end(void *user, void *cursor)
{
    (void)user;
    (void)cursor;
}

/* C-MOVE: three sub-operations reported, no destination opened. */
static uint16_t on_move(void *user, const iso_move_rq *rq,
                        int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                        iso_move_counts *done, char *c, size_t n)
{
    (void)user;
    (void)rq;
    (void)c;
    (void)n;
    *done = {3, 0, 0, 0};
    for (int i = 0; i < 3; i++) {
        done->remaining--;
        done->completed++;
        if (report(rctx, done) != 0)
            return ISO_MOVE_CANCELLED;
    }
    return 0;
}

/* C-GET: one object "sent back" (a path that does not exist: the store
 * callback answers 0xFFFF), then done. */
static uint16_t on_get(void *user, const iso_move_rq *rq, uint16_t (*store)(void *, const char *),
                       int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                       iso_move_counts *done, char *c, size_t n)
{
    (void)user;
    (void)rq;
    (void)c;
    (void)n;
    *done = {1, 0, 0, 0};
    uint16_t s = store(rctx, "/nonexistent/isonode-fuzz.dcm");
    done->remaining = 0;
    if (s == 0xFFFE)
        return ISO_MOVE_SOME_FAILED;
    done->failed = 1;
    (void)report(rctx, done);
    return ISO_MOVE_SOME_FAILED;
}

/* Storage commitment: accepted (the transaction is not kept). */
static uint16_t on_commit(void *user, const char *txn, const iso_commit_item *items, size_t n,
                          char *c, size_t cn)
{
    (void)user;
    (void)txn;
    (void)c;
    (void)cn;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i].sop_class) + strlen(items[i].sop_uid);
    return len > 0 ? 0 : 0x0120;
}

static int on_abort(void *user, int idle)
{
    (void)user;
    return idle >= 1;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 200000)
        return 0;
    iso_assoc_request req;
    int peer = -1;
    iso_dcm_assoc *a = fuzz_associate(data, size, &req, &peer);
    if (a != NULL) {
        iso_err e = {};
        int n = 0;
        char summary[256], why[256];
        if (iso_dcm_assoc_accept(a, &n, summary, sizeof summary, &e) == ISO_OK) {
            size_t bytes = 0;
            iso_scp_handlers h = {};
            h.user = &bytes;
            h.find_begin = on_find_begin;
            h.find_next = on_find_next;
            h.find_end = on_find_end;
            h.move = on_move;
            h.get = on_get;
            h.commit = on_commit;
            h.store_begin = on_begin;
            h.store_end = on_end;
            h.should_abort = on_abort;
            iso_assoc_counts counts = {};
            (void)iso_dcm_assoc_serve(a, &h, &counts, why, sizeof why);
        }
        iso_dcm_assoc_free(a);
    }
    if (peer >= 0)
        close(peer);
    return 0;
}
