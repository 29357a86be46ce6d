/* reid_file.c — a stored (de-identified) object with its original
 * identity, for a peer with identity = original that retrieves it (C-MOVE,
 * C-GET).
 *
 * The object as received when the store kept it ([anonymize]
 * keep_originals: originals/, the sender's exact bytes).  Otherwise a copy
 * rewritten through the vault: every UID the vault knows goes back to the
 * original (at any depth), the patient's and the study's attributes are
 * set as the sender sent them (the vault's patient and study rows), Patient
 * Identity Removed becomes NO and the de-identification method goes.  What
 * the vault does not hold stays as stored: other dates (shifted with dates
 * = modified), descriptions and private elements the profile removed.  The
 * node's own objects (derived results) have no original UIDs; they get the
 * patient's and the study's identity.
 */
#include "anon/anon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anon/vault.h"
#include "store/layout.h"
#include "util/fsx.h"
#include "util/json.h"

static iso_code fd_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    return fsx_write_all(*(int *)ctx, buf, len, "re-identified copy", err);
}

/* Each '\'-separated UID the vault knows, back to its original. */
static iso_el_action original_uids(iso_vault *v, const char *value, char *out, size_t n)
{
    size_t k = 0;
    bool changed = false;
    const char *p = value;
    for (;;) {
        const char *bs = strchr(p, '\\');
        size_t len = bs ? (size_t)(bs - p) : strlen(p);
        char uid[65], orig[65] = "";
        snprintf(uid, sizeof uid, "%.*s", (int)(len < 64 ? len : 64), p);
        char *json = NULL;
        iso_err e = {0};
        if (iso_vault_get(v, "uid", uid, &json, &e) == ISO_OK &&
            iso_json_get(json, "original", orig, sizeof orig) && orig[0] != '\0')
            changed = true;
        else
            snprintf(orig, sizeof orig, "%s", uid);
        free(json);
        int w = snprintf(out + k, n - k, "%s%s", k ? "\\" : "", orig);
        if (w < 0 || (size_t)w >= n - k)
            return ISO_EL_KEEP; /* more than the buffer: left as stored */
        k += (size_t)w;
        if (bs == NULL)
            break;
        p = bs + 1;
    }
    return changed ? ISO_EL_REPLACE : ISO_EL_KEEP;
}

static iso_el_action decide(void *user, const iso_el *el, const iso_item_view *item, char *out,
                            size_t out_size)
{
    (void)item;
    uint32_t tag = (uint32_t)el->group << 16 | el->element;
    if (el->depth == 0 && (tag == 0x00120063 || tag == 0x00120064))
        return ISO_EL_REMOVE; /* the de-identification method */
    if (strcmp(el->vr, "SQ") == 0)
        return ISO_EL_RECURSE;
    if (strcmp(el->vr, "UI") == 0 && el->value != NULL && el->value[0] != '\0')
        return original_uids(user, el->value, out, out_size);
    return ISO_EL_KEEP;
}

/* The top-level attributes the vault restores: (tag, its JSON field). */
static const struct {
    uint16_t group, element;
    const char *kind, *field;
} restored[] = {
    {0x0010, 0x0010, "patient", "PatientName"},
    {0x0010, 0x0020, "patient", "PatientID"},
    {0x0010, 0x0021, "patient", "IssuerOfPatientID"},
    {0x0010, 0x0030, "patient", "PatientBirthDate"},
    {0x0010, 0x0040, "patient", "PatientSex"},
    {0x0008, 0x0020, "study", "StudyDate"},
    {0x0008, 0x0030, "study", "StudyTime"},
    {0x0008, 0x0050, "study", "AccessionNumber"},
    {0x0020, 0x0010, "study", "StudyID"},
    {0x0008, 0x1030, "study", "StudyDescription"},
    {0x0008, 0x0090, "study", "ReferringPhysicianName"},
};
enum { N_RESTORED = sizeof restored / sizeof restored[0] };

static bool ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

iso_code iso_anon_reidentify_file(iso_anon *a, const char *data_dir, const char *stored_path,
                                  iso_path *send_path, bool *temporary, iso_err *err)
{
    *temporary = false;
    iso_vault *v = iso_anon_vault(a);
    if (v == NULL)
        return iso_fail(err, ISO_ECONFIG, "the vault cannot be read, so no original identity");
    iso_dcm_parsed *parsed = NULL;
    if (iso_dcm_parse_file(stored_path, &parsed, err) != ISO_OK)
        return err->code;
    iso_attrs at;
    iso_dcm_parsed_attrs(parsed, &at);
    /* the object as received, when the store kept it */
    char rel[ISO_LAYOUT_REL_MAX];
    iso_layout_original(at.series_uid, at.sop_instance_uid, rel);
    if (iso_layout_abs(data_dir, rel, send_path, err) != ISO_OK) {
        iso_dcm_parsed_free(parsed);
        return err->code;
    }
    if (access(send_path->s, R_OK) == 0) {
        iso_dcm_parsed_free(parsed);
        return ISO_OK;
    }
    /* otherwise the vault's values */
    char *json[2] = {NULL, NULL}; /* patient, study */
    iso_err e = {0};
    (void)iso_vault_get(v, "patient", at.patient_id, &json[0], &e);
    iso_err_clear(&e);
    (void)iso_vault_get(v, "study", at.study_uid, &json[1], &e);
    char values[N_RESTORED][256];
    iso_set_value set[N_RESTORED + 3];
    int ns = 0;
    bool all_ascii = true;
    for (int i = 0; i < N_RESTORED; i++) {
        const char *j = json[strcmp(restored[i].kind, "patient") == 0 ? 0 : 1];
        if (j == NULL || !iso_json_get(j, restored[i].field, values[i], sizeof values[i]))
            continue;
        all_ascii = all_ascii && ascii(values[i]);
        set[ns++] = (iso_set_value){restored[i].group, restored[i].element, values[i]};
    }
    free(json[0]);
    free(json[1]);
    set[ns++] = (iso_set_value){0x0012, 0x0062, "NO"};
    iso_code rc = ISO_OK;
    bool plain = at.charset[0] == '\0' || strcmp(at.charset, "ISO_IR 6") == 0;
    if (!all_ascii && plain)
        set[ns++] = (iso_set_value){0x0008, 0x0005, "ISO_IR 192"}; /* ASCII is UTF-8 too */
    else if (!all_ascii && strcmp(at.charset, "ISO_IR 192") != 0)
        rc = iso_fail(err, ISO_EREFUSED,
                      "the original identity is not ASCII and the stored object's character set "
                      "is %s, not UTF-8", at.charset);
    set[ns] = (iso_set_value){0, 0, NULL};
    iso_path tmp;
    int fd = -1;
    if (rc == ISO_OK)
        rc = iso_layout_path(data_dir, ISO_DATA_TMP, &tmp, err);
    if (rc == ISO_OK)
        rc = iso_path_fmt(send_path, err, "%s/%ld-reid-XXXXXX", tmp.s, (long)getpid());
    if (rc == ISO_OK && (fd = mkstemp(send_path->s)) < 0)
        rc = iso_fail(err, fsx_errno_code(errno), "mkstemp in %s: %s", tmp.s, strerror(errno));
    if (rc == ISO_OK) {
        *temporary = true;
        iso_rewrite rw = {.user = v, .decide = decide, .set = set};
        iso_store_sink sink = {fd_write, &fd};
        iso_attrs after;
        rc = iso_dcm_parsed_rewrite(parsed, &rw, &sink, &after, err);
    }
    if (fd >= 0 && close(fd) != 0 && rc == ISO_OK)
        rc = iso_fail(err, fsx_errno_code(errno), "close %s: %s", send_path->s, strerror(errno));
    if (rc != ISO_OK && *temporary) {
        unlink(send_path->s);
        *temporary = false;
    }
    iso_dcm_parsed_free(parsed);
    return rc;
}
