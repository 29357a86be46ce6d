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
    /* the patient as this series' instances carried it (the series row);
     * vaults from before that was recorded: the patient row, by
     * pseudonymous ID, which holds what the first series said */
    char id[256], issuer[256], name[512], birth[32], sex[32];
    if (lookup(v, "uid", a->series_uid, &json, err) != ISO_OK)
        return err->code;
    int from_series = iso_json_get(json, "PatientName", name, sizeof name);
    char charset[128] = "";
    if (from_series && !iso_json_get(json, "SpecificCharacterSet", charset, sizeof charset))
        charset[0] = '\0'; /* rows from before: UTF-8 */
    if (!from_series) {
        free(json);
        json = NULL;
        if (lookup(v, "patient", a->patient_id, &json, err) != ISO_OK)
            return err->code;
    }
    if (!iso_json_get(json, "PatientID", id, sizeof id) ||
        !iso_json_get(json, "IssuerOfPatientID", issuer, sizeof issuer) ||
        !iso_json_get(json, "PatientName", name, sizeof name) ||
        !iso_json_get(json, "PatientBirthDate", birth, sizeof birth) ||
        !iso_json_get(json, "PatientSex", sex, sizeof sex)) {
        free(json);
        return iso_fail(err, ISO_EIO, "vault %s row of %s is incomplete",
                        from_series ? "series" : "patient", from_series ? a->series_uid : a->patient_id);
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
    snprintf(o.charset, sizeof o.charset, "%s", charset);
    int ok = iso_json_get(json, "StudyInstanceUID", o.study_uid, sizeof o.study_uid) &&
             iso_json_get(json, "StudyDate", o.study_date, sizeof o.study_date) &&
             iso_json_get(json, "StudyTime", o.study_time, sizeof o.study_time) &&
             iso_json_get(json, "AccessionNumber", o.accession, sizeof o.accession) &&
             iso_json_get(json, "StudyID", o.study_id, sizeof o.study_id) &&
             iso_json_get(json, "StudyDescription", o.study_description,
                          sizeof o.study_description) &&
             iso_json_get(json, "ReferringPhysicianName", o.referring_physician,
                          sizeof o.referring_physician);
    /* rows written before these were recorded lack them: empty */
    if (!iso_json_get(json, "PatientAge", o.patient_age, sizeof o.patient_age))
        o.patient_age[0] = '\0';
    if (!iso_json_get(json, "PatientSize", o.patient_size, sizeof o.patient_size))
        o.patient_size[0] = '\0';
    if (!iso_json_get(json, "PatientWeight", o.patient_weight, sizeof o.patient_weight))
        o.patient_weight[0] = '\0';
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

iso_code iso_derive_series(const iso_recon_result *r, const char *const *paths, size_t n,
                           iso_vault *vault, const iso_derive_run *run, const char *dir,
                           iso_path *out, int max_out, int *n_out, iso_err *err)
{
    *n_out = 0;
    iso_derive_source src;
    memset(&src, 0, sizeof src);
    /* the version from the stored (de-identified) UIDs, before any are
     * restored: both copies of one run share it */
    if (run->version != NULL)
        snprintf(src.version, sizeof src.version, "%s", run->version);
    else
        iso_derive_version(r, NULL, src.version);
    src.key = run->key;
    src.created = run->created;
    size_t ni = r->series.n_files;
    const char **inst = calloc(ni ? ni : 1, sizeof *inst), **cls = calloc(ni ? ni : 1, sizeof *cls);
    char(*orig)[65] = vault ? calloc(ni ? ni : 1, sizeof *orig) : NULL;
    const char **orig_ptrs = vault ? calloc(ni ? ni : 1, sizeof *orig_ptrs) : NULL;
    iso_code rc = ISO_OK;
    if (inst == NULL || cls == NULL || (vault && (orig == NULL || orig_ptrs == NULL)))
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ISO_OK && i < ni; i++) {
        inst[i] = r->series.instance_uids[i];
        cls[i] = r->series.class_uids[i];
    }
    int have_first = 0;
    for (size_t i = 0; rc == ISO_OK && i < n && !have_first; i++) {
        iso_err e = {0};
        have_first = iso_dcm_read_attrs(paths[i], &src.first, &e) == ISO_OK &&
                     strcmp(src.first.series_uid, r->series.series_uid) == 0;
    }
    if (rc == ISO_OK && !have_first)
        rc = iso_fail(err, ISO_EDICOM, "no source instance of the series readable");
    /* a copy that keeps the store's pseudonyms keeps its dates too */
    src.deidentified = vault == NULL && (src.first.identity_removed[0] != '\0' ||
                                         src.first.deidentification_method[0] != '\0');
    if (rc == ISO_OK) {
        src.n_instances = ni;
        snprintf(src.frame_of_reference_uid, sizeof src.frame_of_reference_uid, "%s",
                 r->series.frame_of_reference_uid);
        src.instance_uids = inst;
        src.class_uids = cls;
        src.frame_numbers = (const char *const *)r->series.frame_numbers;
        if (vault != NULL)
            rc = iso_derive_restore_identity(vault, &src, orig, orig_ptrs, err);
    }
    if (rc == ISO_OK)
        rc = iso_derive_write(r, &src, dir, out, max_out, n_out, err);
    free(orig);
    free(orig_ptrs);
    free(inst);
    free(cls);
    return rc;
}
