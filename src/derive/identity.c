/* identity.c — gives derived objects back the identity of their source, for
 * the sender: the store holds de-identified objects only, the vault (see
 * anon/vault.h) maps their pseudonyms and UIDs back to the originals. */
#include "derive/derive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static iso_code lookup(iso_vault *v, const char *kind, const char *key, char **json, iso_err *err)
{
    iso_code rc = iso_vault_get(v, kind, key, json, err);
    if (rc == ISO_ENOTFOUND)
        return iso_fail(err, ISO_ENOTFOUND, "the vault does not know %s %s", kind, key);
    return rc;
}

static iso_code original_uid(iso_vault *v, const char *uid, char out[65], iso_err *err)
{
    char *json = NULL;
    if (lookup(v, "uid", uid, &json, err) != ISO_OK)
        return err->code;
    int ok = iso_json_get(json, "original", out, 65);
    free(json);
    return ok ? ISO_OK : iso_fail(err, ISO_EIO, "vault row of %s has no original UID", uid);
}

iso_code iso_derive_restore_identity(iso_vault *v, iso_derive_source *src,
                                     char (*orig_uids)[65], const char **orig_ptrs, iso_err *err)
{
    iso_attrs *a = &src->first;
    char *json = NULL;
    /* patient, by pseudonymous ID */
    if (lookup(v, "patient", a->patient_id, &json, err) != ISO_OK)
        return err->code;
    char id[256], issuer[256], name[512], birth[32], sex[32];
    if (!iso_json_get(json, "PatientID", id, sizeof id) ||
        !iso_json_get(json, "IssuerOfPatientID", issuer, sizeof issuer) ||
        !iso_json_get(json, "PatientName", name, sizeof name) ||
        !iso_json_get(json, "PatientBirthDate", birth, sizeof birth) ||
        !iso_json_get(json, "PatientSex", sex, sizeof sex)) {
        free(json);
        return iso_fail(err, ISO_EIO, "vault patient row of %s is incomplete", a->patient_id);
    }
    free(json);
    /* study, by de-identified Study Instance UID */
    if (lookup(v, "study", a->study_uid, &json, err) != ISO_OK)
        return err->code;
    iso_attrs o = *a;
    snprintf(o.patient_id, sizeof o.patient_id, "%s", id);
    snprintf(o.issuer, sizeof o.issuer, "%s", issuer);
    snprintf(o.patient_name, sizeof o.patient_name, "%s", name);
    snprintf(o.birth_date, sizeof o.birth_date, "%s", birth);
    snprintf(o.sex, sizeof o.sex, "%s", sex);
    int ok = iso_json_get(json, "StudyInstanceUID", o.study_uid, sizeof o.study_uid) &&
             iso_json_get(json, "StudyDate", o.study_date, sizeof o.study_date) &&
             iso_json_get(json, "StudyTime", o.study_time, sizeof o.study_time) &&
             iso_json_get(json, "AccessionNumber", o.accession, sizeof o.accession) &&
             iso_json_get(json, "StudyID", o.study_id, sizeof o.study_id) &&
             iso_json_get(json, "StudyDescription", o.study_description,
                          sizeof o.study_description) &&
             iso_json_get(json, "ReferringPhysicianName", o.referring_physician,
                          sizeof o.referring_physician);
    free(json);
    if (!ok)
        return iso_fail(err, ISO_EIO, "vault study row of %s is incomplete", a->study_uid);
    /* series, frame of reference and every source instance */
    if (original_uid(v, a->series_uid, o.series_uid, err) != ISO_OK)
        return err->code;
    char frame[65];
    if (src->frame_of_reference_uid[0] != '\0') {
        if (original_uid(v, src->frame_of_reference_uid, frame, err) != ISO_OK)
            return err->code;
        snprintf(src->frame_of_reference_uid, sizeof src->frame_of_reference_uid, "%s", frame);
    }
    for (size_t i = 0; i < src->n_instances; i++) {
        if (original_uid(v, src->instance_uids[i], orig_uids[i], err) != ISO_OK)
            return err->code;
        orig_ptrs[i] = orig_uids[i];
    }
    src->first = o;
    src->instance_uids = orig_ptrs;
    return ISO_OK;
}
