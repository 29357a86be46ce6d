/* move.h — the C-MOVE SCP's policy and sub-operations (Query/Retrieve,
 * Patient Root and Study Root, PS3.4 C.4.2): who may retrieve ([peer]
 * retrieve = yes, or anyone under open_query_retrieve), where to (the Move
 * Destination must be a configured [peer]: otherwise A801, the node never
 * sends to an address a requester chooses), which objects (the level's
 * unique key, a single value or a list), and the sub-operations: one
 * association to the destination (DICOM TLS when it has tls = yes), a
 * C-STORE per object as stored, the counts reported after each.
 * Identity on a de-identifying node: a requester with identity = original
 * names objects by their original UIDs or Patient ID (mapped through the
 * node's own mapping); a destination with identity = original gets each
 * object as received when the store kept it, else a copy re-identified
 * through the vault (anon/reid_file.c), removed once sent; one that cannot
 * be re-identified is a failed sub-operation, never sent with pseudonyms.
 * Destinations with identity = anonymized get the store's objects.
 */
#ifndef ISO_MOVE_H
#define ISO_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "anon/anon.h"
#include "config/config.h"
#include "dicom/dicom.h"
#include "tls/tls.h"

/* The whole move; returns the final status (0, B000, FE00, or a refusal),
 * the counts in *done, an Error Comment and the log line's reason. */
uint16_t iso_move_run(const iso_config *cfg, iso_anon *anon, iso_tls *tls, const char *calling_ae,
                      const iso_move_rq *rq,
                      int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                      iso_move_counts *done, char *comment, size_t comment_size, char *why,
                      size_t why_size);

/* C-GET: the same choice of objects, each sent back on the requester's
 * own association through store (its status; 0xFFFE: the association
 * failed); the requester must have retrieve = yes. */
uint16_t iso_get_run(const iso_config *cfg, iso_anon *anon, const char *calling_ae,
                     const iso_move_rq *rq,
                     uint16_t (*store)(void *sctx, const char *path),
                     int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                     iso_move_counts *done, char *comment, size_t comment_size, char *why,
                     size_t why_size);

#endif
