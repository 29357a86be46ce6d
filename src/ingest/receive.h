/* receive.h — one received object, from its C-STORE request to its
 * committed index row: receiving (in memory or streamed through a file),
 * the node-wide memory budget, size and free-space limits, parsing and
 * checking against the request, de-identification, keeping the original,
 * and the commit.  net/ feeds it; store/ and anon/ do the work it orders.
 *
 * Lifecycle: one iso_receiver per node (iso_receiver_new/free: the
 * configuration, the store, the de-identifier, the memory budget); one
 * iso_recv per association (iso_recv_new/free), which receives one object
 * at a time:
 *
 *   iso_recv_begin(rq)      -> DIMSE status; 0 = send the data set
 *   iso_recv_write(bytes)*  -> the Part 10 header, then the data set
 *   iso_recv_end(complete)  -> DIMSE status to answer; 0 = committed
 *
 * A status other than 0 comes with an Error Comment (<= 64 chars, for the
 * peer) and err (the cause, for the log).  After iso_recv_end, whatever it
 * returned, nothing of the object is held any more: its temporary files are
 * committed or removed, its memory is returned to the budget.  That one
 * cleanup is also what iso_recv_free does with an object the network lost
 * between begin and end.
 */
#ifndef ISO_RECEIVE_H
#define ISO_RECEIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "anon/anon.h"
#include "config/config.h"
#include "dicom/dicom.h"
#include "store/store.h"
#include "util/err.h"

typedef struct iso_receiver iso_receiver;
typedef struct iso_recv iso_recv;

/* What a committed object became. */
typedef struct iso_received {
    iso_attrs attrs;           /* as stored (de-identified, when de-identifying) */
    iso_store_outcome outcome;
    bool deidentified;
    char note[256];            /* a warning de-identification raised, or "" */
    double ms_receive, ms_parse, ms_deidentify, ms_total;
} iso_received;

/* anon: NULL stores objects exactly as received. */
iso_code iso_receiver_new(const iso_config *cfg, iso_store *store, iso_anon *anon,
                          iso_receiver **out, iso_err *err);
/* No iso_recv of it may remain.  NULL-safe. */
void iso_receiver_free(iso_receiver *r);
/* Bytes of objects held in memory now, across all associations. */
uint64_t iso_receiver_memory_used(iso_receiver *r);

/* calling_ae: the sender, recorded with every object it stores. */
iso_code iso_recv_new(iso_receiver *r, const char *calling_ae, iso_recv **out, iso_err *err);
/* Abandons an object between begin and end (network lost).  NULL-safe. */
void iso_recv_free(iso_recv *x);

uint16_t iso_recv_begin(iso_recv *x, const iso_store_rq *rq, char *comment, size_t comment_size,
                        iso_err *err);
/* How log lines name the object of the last iso_recv_begin: its SOP
 * Instance UID as it is (or will be) stored -- de-identifying, the node's
 * keyed replacement, so no log pairs an original UID with its new one. */
const char *iso_recv_name(iso_recv *x);
/* The first failure is kept: later writes return it at once, and
 * iso_recv_end answers it. */
iso_code iso_recv_write(iso_recv *x, const void *buf, size_t len, iso_err *err);
/* complete: false if the data set did not arrive whole (nothing is stored
 * then, and no response can be sent).  out is filled when 0 is returned. */
uint16_t iso_recv_end(iso_recv *x, bool complete, iso_received *out, char *comment,
                      size_t comment_size, iso_err *err);

#endif
