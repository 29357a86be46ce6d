/* assoc_rq.h — a structural check of an A-ASSOCIATE-RQ PDU (PS3.8 9.3.2)
 * before DCMTK parses it.
 *
 * The connection thread buffers the whole request (at most 64 KiB) and
 * hands it here first: every item and sub-item must lie inside its parent,
 * the items a request must have must be there once, UIDs must fit 64 bytes,
 * presentation context IDs must be odd and at most 128 contexts proposed.
 * A request that fails is answered with an A-ABORT and never reaches
 * DCMTK's parser, so that parser only sees well-formed requests (defence
 * in depth: association parsers have had memory bugs before).  Unknown
 * item types are passed over, as PS3.8 asks, so new extensions keep
 * working.  Pure function over a buffer: no I/O, no allocation.
 */
#ifndef ISO_ASSOC_RQ_H
#define ISO_ASSOC_RQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct iso_assoc_rq_summary {
    char called_ae[17];  /* as sent, trailing spaces removed (may hold any byte) */
    char calling_ae[17];
    int n_contexts;
    unsigned long max_pdu; /* 0: none proposed (unlimited) */
} iso_assoc_rq_summary;

enum { ISO_ASSOC_RQ_MAX_CONTEXTS = 128 };

/* pdu: the whole PDU, its 6-byte header included.  Returns true if it is
 * well-formed (and fills sum); else false, with why. */
bool iso_assoc_rq_check(const unsigned char *pdu, size_t len, iso_assoc_rq_summary *sum,
                        char *why, size_t why_size);

#endif
