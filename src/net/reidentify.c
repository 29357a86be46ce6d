/* reidentify.c — re-identifying index rows through the vault, and matching
 * identity keys on the original values (see reidentify.h). */
#include "net/reidentify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon/vault.h"
#include "util/json.h"

enum { MAX_COLUMNS = 32, VALUE_MAX = 512 };

static const char *const patient_keys[] = {"PatientID", "IssuerOfPatientID", "PatientName",
                                           "PatientBirthDate", "PatientSex", NULL};
static const char *const study_keys[] = {"StudyDate", "StudyTime", "AccessionNumber", "StudyID",
                                         "StudyDescription", "ReferringPhysicianName", NULL};
static const char *const uid_keys[] = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                                       NULL};

/* One vault record, decoded once and kept while rows refer to it. */
typedef struct cached {
    char key[80];
    char *json; /* NULL: the vault does not know it */
    bool loaded;
} cached;

struct iso_reid {
    iso_anon *anon;
    iso_vault *vault;
    cached patient, study, uid[3];
    char values[MAX_COLUMNS][VALUE_MAX];
};

static bool in(const char *const *list, const char *keyword)
{
    for (; *list; list++)
        if (strcmp(*list, keyword) == 0)
            return true;
    return false;
}

bool iso_reid_identity_key(const char *keyword)
{
    return in(patient_keys, keyword) || in(study_keys, keyword);
}

bool iso_reid_uid_key(const char *keyword)
{
    return in(uid_keys, keyword);
}

iso_code iso_reid_new(iso_anon *anon, iso_reid **out, iso_err *err)
{
    *out = NULL;
    iso_vault *v = anon != NULL ? iso_anon_vault(anon) : NULL;
    if (v == NULL)
        return iso_fail(err, ISO_ECONFIG, "the vault cannot be read, so no original identity");
    iso_reid *r = calloc(1, sizeof *r);
    if (r == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    r->anon = anon;
    r->vault = v;
    *out = r;
    return ISO_OK;
}

static void forget(cached *c)
{
    free(c->json);
    c->json = NULL;
    c->loaded = false;
}

void iso_reid_free(iso_reid *r)
{
    if (r == NULL)
        return;
    forget(&r->patient);
    forget(&r->study);
    for (int i = 0; i < 3; i++)
        forget(&r->uid[i]);
    free(r);
}

char *iso_reid_uid_list(const iso_reid *r, const char *uids)
{
    size_t n = strlen(uids);
    /* every UID twice at most: as given, and its replacement (<= 64) */
    size_t cap = 2 * n + 66 * (n / 2 + 2) + 1;
    char *out = malloc(cap);
    char *copy = strdup(uids);
    if (out == NULL || copy == NULL) {
        free(out);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    out[0] = '\0';
    char *save = NULL;
    for (char *u = strtok_r(copy, "\\", &save); u != NULL; u = strtok_r(NULL, "\\", &save)) {
        char mapped[65];
        iso_anon_map_uid(r->anon, u, mapped);
        int w = snprintf(out + k, cap - k, "%s%s\\%s", k ? "\\" : "", u, mapped);
        if (w < 0 || (size_t)w >= cap - k)
            break; /* cannot happen: cap counts every UID twice */
        k += (size_t)w;
    }
    free(copy);
    return out;
}

/* The vault record (kind, key) into c, once per key. */
static iso_code load(iso_reid *r, cached *c, const char *kind, const char *key, iso_err *err)
{
    if (c->loaded && strcmp(c->key, key) == 0)
        return ISO_OK;
    forget(c);
    snprintf(c->key, sizeof c->key, "%.79s", key);
    iso_code rc = iso_vault_get(r->vault, kind, key, &c->json, err);
    if (rc == ISO_ENOTFOUND) { /* the node's own objects, or a row from before the vault */
        iso_err_clear(err);
        rc = ISO_OK;
    }
    c->loaded = rc == ISO_OK;
    return rc;
}

static const char *column(const iso_row *row, const char *name)
{
    for (int c = 0; c < row->n; c++)
        if (strcmp(row->names[c], name) == 0)
            return row->values[c];
    return NULL;
}

iso_code iso_reid_row(iso_reid *r, const iso_row *row, const char **orig, iso_err *err)
{
    const char *pid = column(row, "PatientID");
    const char *study = column(row, "StudyInstanceUID");
    iso_code rc = ISO_OK;
    if (pid != NULL && pid[0] != '\0')
        rc = load(r, &r->patient, "patient", pid, err);
    if (rc == ISO_OK && study != NULL && study[0] != '\0')
        rc = load(r, &r->study, "study", study, err);
    for (int c = 0; c < row->n && rc == ISO_OK; c++) {
        orig[c] = NULL;
        if (c >= MAX_COLUMNS)
            continue;
        const char *name = row->names[c];
        const char *json = NULL, *field = name;
        if (in(patient_keys, name) && pid != NULL)
            json = r->patient.json;
        else if (in(study_keys, name) && study != NULL)
            json = r->study.json;
        else if (in(uid_keys, name) && row->values[c] != NULL && row->values[c][0] != '\0') {
            int u = strcmp(name, "StudyInstanceUID") == 0    ? 0
                    : strcmp(name, "SeriesInstanceUID") == 0 ? 1
                                                             : 2;
            rc = load(r, &r->uid[u], "uid", row->values[c], err);
            json = r->uid[u].json;
            field = "original";
        }
        if (json != NULL && iso_json_get(json, field, r->values[c], VALUE_MAX))
            orig[c] = r->values[c];
    }
    return rc;
}

static const char *next_char(const char *v)
{
    v++;
    while ((*v & 0xC0) == 0x80) /* a UTF-8 sequence counts as one character */
        v++;
    return v;
}

/* '*' any run, '?' one character; greedy with a return to the last '*',
 * so a hostile pattern costs at most length(value) x length(pattern). */
static bool wildcard(const char *v, const char *p)
{
    const char *star = NULL, *resume = NULL;
    while (*v != '\0') {
        if (*p == '*') {
            star = p++;
            resume = v;
        } else if (*p == '?') {
            p++;
            v = next_char(v);
        } else if (*p == *v) {
            p++;
            v++;
        } else if (star != NULL) {
            p = star + 1;
            v = resume = next_char(resume);
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool iso_reid_match(const char *value, const char *pattern, bool dated)
{
    if (pattern == NULL || pattern[0] == '\0')
        return true;
    if (value == NULL)
        value = "";
    const char *dash = dated ? strchr(pattern, '-') : NULL;
    if (dash != NULL) {
        size_t lo = (size_t)(dash - pattern);
        const char *hi = dash + 1;
        if (value[0] == '\0')
            return false;
        if (lo > 0 && strncmp(value, pattern, lo) < 0)
            return false;
        return hi[0] == '\0' || strncmp(value, hi, strlen(hi)) <= 0;
    }
    if (strpbrk(pattern, "*?") != NULL)
        return wildcard(value, pattern);
    return strcmp(value, pattern) == 0;
}
