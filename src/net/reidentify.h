/* reidentify.h — the original identity behind the store's pseudonyms, for
 * peers with identity = original on a de-identifying node (C-FIND).
 *
 * The store holds de-identified objects; the vault (anon/vault.h) maps
 * their pseudonyms back: the pseudonymous Patient ID to the patient's
 * original attributes, the store's Study Instance UID to the study's, and
 * every replaced UID to the original.  A query by original identity is
 * answered in two steps: the index matches what it can (UIDs the peer gives
 * are mapped through the node's own deterministic UID mapping; other keys
 * as they are), and the identity keys -- names, IDs, dates, accession
 * numbers, which the index holds only as pseudonyms -- are matched here,
 * after each candidate row is re-identified.  Only a peer allowed to see
 * real names ever reaches this code, so no other peer can test whether a
 * real name is in the store.
 */
#ifndef ISO_REIDENTIFY_H
#define ISO_REIDENTIFY_H

#include <stdbool.h>

#include "anon/anon.h"
#include "store/index.h"
#include "util/err.h"

typedef struct iso_reid iso_reid;

/* anon: the node's de-identification, whose key and vault are used (it
 * must outlive the result).  ISO_ECONFIG if it has no readable vault. */
iso_code iso_reid_new(iso_anon *anon, iso_reid **out, iso_err *err);
void iso_reid_free(iso_reid *r);

/* Is the stored value of keyword a pseudonym or replaced (matched only
 * after re-identification)?  UIDs are not: they are mapped instead. */
bool iso_reid_identity_key(const char *keyword);
/* Is keyword a UID the store holds replaced? */
bool iso_reid_uid_key(const char *keyword);

/* The index filter value for UIDs the peer gave ('\'-separated): each as
 * given (the node's own objects keep their UIDs) and as the store holds
 * it; malloc'd, NULL when out of memory. */
char *iso_reid_uid_list(const iso_reid *r, const char *uids);

/* Re-identifies one index row: orig[c] is the original value of column c,
 * or NULL where the stored one stands.  Values stay valid until the next
 * call.  A row the vault does not know keeps its stored values. */
iso_code iso_reid_row(iso_reid *r, const iso_row *row, const char **orig, iso_err *err);

/* DICOM matching of one value (PS3.4 C.2.2.2) after re-identification:
 * pattern with '*' and '?' (wildcard), lo-hi (range: dated is set), or a
 * single value; an empty pattern matches everything. */
bool iso_reid_match(const char *value, const char *pattern, bool dated);

#endif
