/* commitments.h — storage commitment reports the node owes (Storage
 * Commitment Push Model, PS3.4 J, the node as SCP).
 *
 * A transaction is recorded in DATA_DIR/outbox.sqlite (db/outbox/002)
 * before its N-ACTION is answered, so the report survives a restart or a
 * kill -9.  Each delivery round takes the due transactions, checks every
 * instance against the store (an index row, and a file whose SHA-256 is the
 * one the row recorded: 0x0112 no such object instance, 0x0110 processing
 * failure otherwise), and sends the N-EVENT-REPORT to the requester's
 * [peer] on an association of its own (net/peer.c: TLS when the peer has
 * it) -- unless the requester stayed on its association after the answer,
 * waiting: then the report goes there first (iso_commit_report_here).  A report that cannot go is retried with the outbox's backoff and
 * dead after [outbox] max_attempts; one that went is never sent again.
 */
#ifndef ISO_COMMITMENTS_H
#define ISO_COMMITMENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "deliver/outbox.h"
#include "dicom/dicom.h"
#include "tls/tls.h"

/* Records a transaction of requester (a [peer] name): items with the UIDs
 * the requester gave, stored_uids[i] the store's UID for item i (its
 * replacement when de-identifying).  The same transaction again is a no-op.
 * The delivery thread leaves it alone until hold_until (Unix seconds):
 * meanwhile the report may go on the requester's own association
 * (iso_commit_report_here), which then releases the hold. */
iso_code iso_commit_record(iso_outbox *o, const char *requester, const char *transaction_uid,
                           const iso_commit_item *items, const char *const *stored_uids, size_t n,
                           long hold_until, iso_err *err);

/* Sends the report of a recorded transaction on the requester's own
 * association through send (the adapter's; 0 when the requester answered
 * success) and marks it sent; send NULL, or a report not taken, releases
 * the hold so the delivery thread reports it on a new association.
 * *sent says whether it went here. */
typedef int (*iso_commit_send_fn)(void *sctx, const iso_commit_item *items, size_t n,
                                  const char *transaction_uid);
iso_code iso_commit_report_here(iso_outbox *o, const iso_config *cfg, const char *requester,
                                const char *transaction_uid, iso_commit_send_fn send, void *sctx,
                                long now, bool *sent, iso_err *err);

/* How many transactions are queued, sent and dead ("none" if none), for
 * isonode status. */
iso_code iso_commit_summary(iso_outbox *o, char *out, size_t size, iso_err *err);

/* One round: checks and reports every due transaction; *sent (may be NULL)
 * counts the reports that went. */
iso_code iso_commit_run(iso_outbox *o, const iso_config *cfg, iso_tls *tls, long now, int *sent,
                        iso_err *err);

#endif
