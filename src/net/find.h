/* find.h — the C-FIND SCP's policy and matching (Query/Retrieve, Patient
 * Root and Study Root, PS3.4 C.4.1): who may ask, what a key's value means
 * (universal, single value, wildcard, range, list of UIDs), and the matches
 * streamed from the index one at a time.
 *
 * Who may ask: a [peer] with query = yes, found by the calling AE title;
 * with check_calling_ae = no and [node] open_query_retrieve = yes, anyone.
 * What they see: on a de-identifying node, peers with identity =
 * anonymized (and anyone asking under open_query_retrieve) see the store's
 * pseudonyms and match against them only, so no such query can test
 * whether a real name is in the store.  A peer with identity = original
 * finds and sees the original identity: its UIDs are mapped, its identity
 * keys matched on each row re-identified through the vault
 * (net/reidentify.h).
 */
#ifndef ISO_FIND_H
#define ISO_FIND_H

#include <stddef.h>
#include <stdint.h>

#include "anon/anon.h"
#include "config/config.h"
#include "dicom/dicom.h"

typedef struct iso_find iso_find;

/* Decides and opens a C-FIND; 0 and *out, or the status to answer with
 * (comment: the Error Comment, why: the log line's reason). */
uint16_t iso_find_begin(const iso_config *cfg, iso_anon *anon, const char *calling_ae,
                        const iso_find_rq *rq, iso_find **out, char *comment, size_t comment_size,
                        char *why, size_t why_size);
/* iso_scp_handlers' find_next: 1 (values filled), 0 (done), -1 (failed). */
int iso_find_next(iso_find *f, const char **values);
/* Matches sent so far, and what the query was, for the log line. */
long iso_find_matches(const iso_find *f);
const char *iso_find_describe(const iso_find *f);
void iso_find_end(iso_find *f);

#endif
