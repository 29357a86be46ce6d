/* commit_requests.h — storage commitment the node asks of the peers it
 * delivers to (Storage Commitment Push Model, PS3.4 J, the node as SCU).
 *
 * A delivery to a [peer] with storage_commitment = yes ends in one request:
 * in the transaction that records the C-STORE outcomes (outbox.c), the
 * objects sent become 'awaiting' and point to a new commit_requests row
 * (db/outbox/003) with a fresh 2.25 Transaction UID; only then does the
 * N-ACTION go, on an association of its own.  The peer's N-EVENT-REPORT,
 * on any association calling with the peer's AE title, moves each object
 * it names to 'committed', or back to 'queued' with the outbox's backoff
 * (dead after [outbox] max_attempts) with its Failure Reason.  A request
 * not reported within [outbox] commitment_timeout_seconds -- the N-ACTION
 * failed, the node crashed before it went, or the peer never answered --
 * expires: its objects still awaiting are queued again the same way.
 *
 * States of a request: asking (written, N-ACTION not yet answered) -> open
 * (answered) -> reported | expired.  An object is never removed while it
 * is queued, awaiting or dead (outbox.c's clean-up, `outbox purge`).
 */
#ifndef ISO_COMMIT_REQUESTS_H
#define ISO_COMMIT_REQUESTS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "deliver/outbox.h"
#include "dicom/dicom.h"
#include "tls/tls.h"

/* Writes a new request for dest (the caller holds the outbox lock, inside
 * its transaction): its row id and Transaction UID. */
iso_code iso_commit_request_new(sqlite3 *db, const char *dest, long now, sqlite3_int64 *id,
                                char transaction_uid[65], iso_err *err);

/* Sends the N-ACTION of request id to dest for the files delivered (paths,
 * read for their SOP Class and Instance UIDs) and records the answer.  A
 * request that cannot be made is left to expire, which sends again. */
void iso_commit_request_send(iso_outbox *o, const iso_config *cfg, iso_tls *tls,
                             sqlite3_int64 id, const char *dest, const char *transaction_uid,
                             const char *const *paths, size_t n);

/* A report from the [peer] dest on transaction_uid: records what it says
 * and returns 0, or the status to answer (0x0110 with a comment when the
 * transaction is not one the node asked of that peer). */
uint16_t iso_commit_report_received(iso_outbox *o, const iso_config *cfg, const char *dest,
                                    const char *transaction_uid, const iso_commit_item *items,
                                    size_t n, long now, char *comment, size_t comment_size);

/* Expires the requests older than [outbox] commitment_timeout_seconds;
 * *expired (may be NULL) counts them. */
iso_code iso_commit_requests_expire(iso_outbox *o, const iso_config *cfg, long now, int *expired,
                                    iso_err *err);

/* How many requests are asking, open, reported and expired, for isonode
 * status. */
iso_code iso_commit_requests_summary(iso_outbox *o, char *out, size_t size, iso_err *err);

#endif
