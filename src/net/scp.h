/* scp.h — the node's listening side: accepts TCP connections on the plain
 * port and DICOM TLS connections on tls_port, applies the association
 * policy (called AE, calling AE allow-list, host check, client certificate
 * binding, max_associations) and stores what C-STORE delivers.
 *
 * Lifecycle: iso_scp_start binds and starts the listener thread; each
 * connection gets its own thread.  iso_scp_stop stops accepting, gives
 * in-flight associations shutdown_timeout seconds, aborts the rest, and
 * returns once every connection thread has finished.
 */
#ifndef ISO_SCP_H
#define ISO_SCP_H

#include <stdint.h>

#include "anon/anon.h"
#include "config/config.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct iso_scp iso_scp;

/* Who wants to know what arrived (series completion): called on the
 * connection's thread after an instance is committed -- new, replaced, or a
 * duplicate whose stored copy was kept (duplicate = 1: a series sent again
 * is news too, its sender may be owed the results) -- with the attributes
 * as stored, and when an accepted association ends however it ends.  assoc
 * numbers associations from 1. */
typedef struct iso_scp_observer {
    void *user;
    void (*stored)(void *user, uint64_t assoc, const iso_attrs *stored, const char *calling_ae,
                   int duplicate);
    void (*assoc_end)(void *user, uint64_t assoc);
    /* A storage commitment request from the [peer] named requester, its
     * instances with the UIDs it gave and the store's UIDs for them
     * (stored_uids, mapped when de-identifying): record it durably and
     * return ISO_OK before the N-ACTION is answered (NULL: refused). */
    iso_code (*commit)(void *user, const char *requester, const char *transaction_uid,
                       const iso_commit_item *items, const char *const *stored_uids, size_t n,
                       iso_err *err);
    /* After commit's request was answered: the report may go on the
     * requester's association through send (NULL: it left; report later).
     * Returns 0 when it went there (see iso_scp_handlers.commit_here). */
    int (*commit_here)(void *user, const char *requester, const char *transaction_uid,
                       int (*send)(void *sctx, const iso_commit_item *items, size_t n,
                                   const char *transaction_uid),
                       void *sctx);
    /* The [peer] named dest reports on a transaction the node asked it to
     * commit: 0 once recorded, or the status to answer (NULL: refused). */
    uint16_t (*commit_report)(void *user, const char *dest, const char *transaction_uid,
                              const iso_commit_item *items, size_t n, char *comment,
                              size_t comment_size);
    /* Counters for /metrics (NULL: none). */
    iso_metrics *metrics;
} iso_scp_observer;

/* anon: de-identification applied to every object before it is stored, or
 * NULL to store objects exactly as received.  tls: the contexts of the TLS
 * listener (needed when [node] tls_port is set; it may be reloaded while
 * the SCP runs).  obs may be NULL. */
iso_code iso_scp_start(const iso_config *cfg, iso_store *store, iso_anon *anon, iso_tls *tls,
                       const iso_scp_observer *obs, iso_scp **out, iso_err *err);
void iso_scp_stop(iso_scp *scp);

#endif
