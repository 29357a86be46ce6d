/* anon.h — de-identification at ingest (PS3.15 Annex E, Table E.1-1 and
 * its options) and the identifiers it makes.
 *
 * iso_anon_object rewrites one received object: every attribute is decided
 * by the table (edition in e11_table.c) and the enabled options, anything
 * the table does not list is removed unless it is known to be safe
 * (default deny), private attributes go unless Retain Safe Private keeps
 * them by creator, and the walk reaches every item of every sequence.
 * UIDs become 2.25.<decimal of HMAC-SHA256(key, uid)> wherever they appear,
 * Patient ID and Name stable pseudonyms of (issuer, ID), dates per option
 * (removed, kept, or shifted by one per-patient offset applied to DA, DT
 * and TM together).  The result is marked (0012,0062/0063/0064),
 * (0028,0303).  What re-identification needs goes to the vault.
 */
#ifndef ISO_ANON_H
#define ISO_ANON_H

#include <stdbool.h>

#include "anon/vault.h"
#include "config/config.h"
#include "dicom/dicom.h"
#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct iso_anon_options {
    int retain_safe_private, retain_uids, retain_device, retain_institution,
        retain_patient_characteristics;
    iso_dates_option dates;
    int clean_descriptors, clean_structured, clean_graphics;
    int reject_burned_in; /* else store flagged: PatientIdentityRemoved NO */
    const char *key_file; /* the installation key; NULL: DATA_DIR/secret.key */
} iso_anon_options;

typedef struct iso_anon iso_anon;

/* Reads the [anonymize] section into options. */
void iso_anon_options_from_config(const iso_config *cfg, iso_anon_options *o);

/* Loads (creating) the installation key and opens the vault.  A vault
 * that cannot be opened is logged and left out: the store does not need
 * it. */
iso_code iso_anon_open(const char *data_dir, const iso_anon_options *o, iso_anon **out,
                       iso_err *err);
void iso_anon_close(iso_anon *a);
iso_vault *iso_anon_vault(iso_anon *a);

typedef enum {
    ISO_ANON_DONE = 0,       /* de-identified */
    ISO_ANON_UNCHANGED = 1,  /* the node's own output (its mark verified): kept as it is */
    ISO_ANON_FLAGGED = 2,    /* de-identified, but pixels may show text: not marked removed */
    ISO_ANON_REJECTED = 3,   /* burned-in annotation and the policy rejects it */
} iso_anon_outcome;

/* The object as received: parsed once, plus its bytes (in memory, or in a
 * file) for the one case where it is passed on unchanged. */
typedef struct iso_anon_input {
    iso_dcm_parsed *parsed;
    const iso_attrs *attrs;   /* iso_dcm_parsed_attrs of it */
    const void *bytes;        /* the Part 10 bytes, or NULL ... */
    size_t len;
    const char *path;         /* ... and then the file holding them */
} iso_anon_input;

/* De-identifies one object into sink; after receives the attributes of what
 * was written.  On REJECTED nothing is written and why says so.  The parsed
 * data set is consumed (rewritten in place). */
iso_code iso_anon_object(iso_anon *a, const iso_anon_input *in, const iso_store_sink *sink,
                         iso_attrs *after, iso_anon_outcome *outcome, char *why, size_t why_size,
                         iso_err *err);

/* Whether an object's pixels may show burned-in text: Burned In Annotation
 * (0028,0301) other than NO (any case), or, without it, a class where text
 * is routinely burned in (SC, US, XA/RF, visible light).  Such objects are
 * refused or stored flagged ([anonymize] burned_in) and never forwarded to
 * an anonymized destination. */
int iso_anon_may_show_text(const iso_attrs *o);

/* De-identifies the file in_path into out_path (anon_file.c): the same
 * policy as at ingest; a rejected object (burned-in text) is ISO_EREFUSED. */
iso_code iso_anon_file(iso_anon *a, const char *in_path, const char *out_path,
                       iso_anon_outcome *how, char *why, size_t why_size, iso_err *err);

/* A stored object with its original identity, for a peer with identity =
 * original (reid_file.c): *send_path is the object as received when the
 * store kept it, else a temporary copy in DATA_DIR/tmp re-identified
 * through the vault (*temporary set: the caller unlinks it once sent). */
iso_code iso_anon_reidentify_file(iso_anon *a, const char *data_dir, const char *stored_path,
                                  iso_path *send_path, bool *temporary, iso_err *err);

/* The replacement of a UID (standard UIDs, 1.2.840.10008.*, map to
 * themselves; so does everything with Retain UIDs). */
void iso_anon_map_uid(const iso_anon *a, const char *uid, char out[65]);
/* The pseudonymous Patient ID and Patient's Name of (issuer, id). */
void iso_anon_pseudonym(const iso_anon *a, const char *issuer, const char *patient_id,
                        char id_out[65], char name_out[65]);
/* The date offset of a patient, in seconds (negative: into the past). */
long iso_anon_date_offset(const iso_anon *a, const char *issuer, const char *patient_id);
/* Shifts a DA, TM or DT value (vr "DA"/"TM"/"DT"; partial precision kept)
 * by offset seconds; a DA paired with a TM (pair_time non-NULL) and a TM
 * paired with a DA (pair_date) move as one date-time.  Returns 0 if the
 * value does not parse. */
int iso_anon_shift(const char *vr, const char *value, const char *pair_date,
                   const char *pair_time, long offset, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
