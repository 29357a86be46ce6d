/* find.c — C-FIND policy and matching over the index (see find.h). */
#include "net/find.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/reidentify.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/path.h"

#define PATIENT_ROOT_FIND "1.2.840.10008.5.1.4.1.2.1.1"
#define STUDY_ROOT_FIND "1.2.840.10008.5.1.4.1.2.2.1"

enum { MAX_KEYS = 64, MAX_FILTERS = 16 };

struct iso_find {
    iso_index *idx;
    iso_query *q;
    const iso_find_rq *rq;
    int column[MAX_KEYS]; /* row column of key i, or -1 (returned empty) */
    bool resolved;        /* columns found from the first row's names */
    char *filter_text[MAX_FILTERS];
    char modalities[256]; /* ModalitiesInStudy as DICOM multi-value */
    int modalities_key;
    long matches;
    char what[160];
    /* identity = original on a de-identifying node: rows re-identified,
     * identity keys matched on the originals (post[i]: key i's value, or
     * NULL) */
    iso_reid *reid;
    const char *post[MAX_KEYS];
    bool post_dated[MAX_KEYS];
};

static const struct {
    const char *name;
    iso_level level;
} query_levels[] = {{"PATIENT", ISO_LEVEL_PATIENT},
                    {"STUDY", ISO_LEVEL_STUDY},
                    {"SERIES", ISO_LEVEL_SERIES},
                    {"IMAGE", ISO_LEVEL_INSTANCE}};

/* May calling_ae query, and as whom?  NULL if it may (*original: with
 * the original identity, through the vault), else the reason. */
static const char *permission(const iso_config *cfg, const char *calling_ae, bool *original)
{
    const iso_peer *p = iso_config_peer_by_ae(cfg, calling_ae);
    *original = false;
    if (p == NULL)
        return !cfg->check_calling_ae && cfg->open_query_retrieve
                   ? NULL
                   : "not a [peer] allowed to query (query = yes)";
    if (!p->query)
        return "its [peer] does not have query = yes";
    *original = cfg->an_enabled && p->identity == ISO_IDENTITY_ORIGINAL;
    return NULL;
}

static bool has_wildcard(const char *v)
{
    return strpbrk(v, "*?") != NULL;
}

/* A DICOM wildcard value as a GLOB pattern: '*' and '?' mean the same, a
 * '[' must match itself ("[[]"). */
static char *glob_of(const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (; *v; v++) {
        if (*v == '[') {
            memcpy(o, "[[]", 3);
            o += 3;
        } else {
            *o++ = *v;
        }
    }
    *o = '\0';
    return out;
}

static bool level_has(iso_level level, const char *keyword)
{
    for (const char *const *c = iso_level_columns(level); *c; c++)
        if (strcmp(*c, keyword) == 0)
            return true;
    return false;
}

/* Keeps text (a filter's own copy of its value) until the query ends. */
static bool keep_text(iso_find *f, char *text, iso_err *err)
{
    for (int i = 0; i < MAX_FILTERS; i++)
        if (f->filter_text[i] == NULL) {
            f->filter_text[i] = text;
            return true;
        }
    free(text);
    iso_fail(err, ISO_EINVAL, "too many keys to match");
    return false;
}

/* The filter a key's value asks for (PS3.4 C.2.2.2); false if the key
 * matches everything (no value, or a key the index cannot match on). */
static bool filter_for(iso_find *f, iso_level level, const iso_find_key *k, iso_filter *out,
                       iso_err *err)
{
    const char *v = k->value;
    if (v[0] == '\0' || k->keyword[0] == '\0')
        return false;
    if (!level_has(level, k->keyword))
        return false; /* an optional key we cannot match on: returned empty */
    *out = (iso_filter){k->keyword, v, ISO_MATCH_EXACT, NULL};
    bool dated = !strcmp(k->vr, "DA") || !strcmp(k->vr, "TM") || !strcmp(k->vr, "DT");
    const char *dash = dated ? strchr(v, '-') : NULL;
    if (strcmp(k->keyword, "ModalitiesInStudy") == 0) {
        out->match = ISO_MATCH_MEMBER;
    } else if (!strcmp(k->vr, "UI") && strchr(v, '\\') != NULL) {
        out->match = ISO_MATCH_LIST;
    } else if (dash != NULL) {
        size_t lo = (size_t)(dash - v);
        char *text = malloc(strlen(v) + 2);
        if (text == NULL) {
            iso_fail(err, ISO_ENOMEM, "out of memory");
            return false;
        }
        memcpy(text, v, lo);
        text[lo] = '\0';
        strcpy(text + lo + 1, dash + 1);
        out->match = ISO_MATCH_RANGE;
        out->pattern = text;
        out->hi = text + lo + 1;
        return keep_text(f, text, err);
    } else if (has_wildcard(v)) {
        char *g = glob_of(v);
        if (g == NULL) {
            iso_fail(err, ISO_ENOMEM, "out of memory");
            return false;
        }
        out->match = ISO_MATCH_GLOB;
        out->pattern = g;
        return keep_text(f, g, err);
    }
    return true;
}

uint16_t iso_find_begin(const iso_config *cfg, iso_anon *anon, const char *calling_ae,
                        const iso_find_rq *rq, iso_find **out, char *comment, size_t comment_size,
                        char *why, size_t why_size)
{
    *out = NULL;
    bool study_root = strcmp(rq->sop_class, STUDY_ROOT_FIND) == 0;
    bool original = false;
    const char *who = permission(cfg, calling_ae, &original);
    if (who != NULL) {
        snprintf(comment, comment_size, "not authorized to query");
        snprintf(why, why_size, "%s", who);
        return ISO_FIND_REFUSED_NOT_AUTHORIZED;
    }
    int li = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(rq->level, query_levels[i].name) == 0)
            li = i;
    if (li < 0 || (study_root && li == 0)) {
        snprintf(comment, comment_size, "Query/Retrieve Level '%.16s' not in the model",
                 rq->level);
        snprintf(why, why_size, "level '%s' is not one of the %s model", rq->level,
                 study_root ? "Study Root" : "Patient Root");
        return ISO_FIND_IDENTIFIER_DOES_NOT_MATCH;
    }
    if (rq->n_keys > MAX_KEYS) {
        snprintf(comment, comment_size, "more than %d keys", MAX_KEYS);
        snprintf(why, why_size, "%zu keys", rq->n_keys);
        return ISO_FIND_UNABLE_TO_PROCESS;
    }
    iso_find *f = calloc(1, sizeof *f);
    if (f == NULL) {
        snprintf(comment, comment_size, "out of memory");
        snprintf(why, why_size, "out of memory");
        return ISO_FIND_UNABLE_TO_PROCESS;
    }
    f->rq = rq;
    f->modalities_key = -1;
    iso_level level = query_levels[li].level;
    snprintf(f->what, sizeof f->what, "%s %s", study_root ? "Study Root" : "Patient Root",
             rq->level);
    iso_filter filters[MAX_FILTERS];
    int nf = 0;
    iso_err err = {0};
    if (original)
        (void)iso_reid_new(anon, &f->reid, &err);
    for (size_t i = 0; i < rq->n_keys && err.code == ISO_OK; i++) {
        const iso_find_key *k = &rq->keys[i];
        if (strcmp(k->keyword, "ModalitiesInStudy") == 0)
            f->modalities_key = (int)i;
        if (f->reid != NULL && k->value[0] != '\0' && iso_reid_identity_key(k->keyword) &&
            level_has(level, k->keyword)) {
            /* the index holds a pseudonym: matched after re-identification
             * (a key the level does not have is ignored, as for anyone) */
            f->post[i] = k->value;
            f->post_dated[i] = !strcmp(k->vr, "DA") || !strcmp(k->vr, "TM") || !strcmp(k->vr, "DT");
            continue;
        }
        if (f->reid != NULL && k->value[0] != '\0' && iso_reid_uid_key(k->keyword)) {
            /* original UIDs: as the store holds them (and as given, for the
             * node's own objects) */
            char *list = iso_reid_uid_list(f->reid, k->value);
            if (list == NULL)
                iso_fail(&err, ISO_ENOMEM, "out of memory");
            else if (nf < MAX_FILTERS && keep_text(f, list, &err))
                filters[nf++] = (iso_filter){k->keyword, list, ISO_MATCH_LIST, NULL};
            else if (nf >= MAX_FILTERS)
                free(list);
            continue;
        }
        if (nf < MAX_FILTERS && filter_for(f, level, k, &filters[nf], &err))
            nf++;
    }
    if (f->reid != NULL)
        snprintf(f->what + strlen(f->what), sizeof f->what - strlen(f->what),
                 ", original identity");
    iso_path db;
    if (err.code == ISO_OK &&
        (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &db, &err) != ISO_OK ||
         iso_index_open(db.s, true, &f->idx, &err) != ISO_OK ||
         iso_index_query_open(f->idx, level, filters, nf, &f->q, &err) != ISO_OK)) {
        ;
    }
    if (err.code != ISO_OK) {
        snprintf(comment, comment_size, "the query cannot be run");
        snprintf(why, why_size, "%s", err.msg);
        iso_find_end(f);
        return ISO_FIND_UNABLE_TO_PROCESS;
    }
    *out = f;
    return 0;
}

/* Re-identifies the row's values (identity = original) and matches the
 * identity keys on them: true if the row is an answer. */
static bool reidentified(iso_find *f, const iso_row *row, const char **values)
{
    const char *orig[64];
    iso_err err = {0};
    if (row->n > 64 || iso_reid_row(f->reid, row, orig, &err) != ISO_OK)
        return false; /* never a stored pseudonym in its place */
    for (size_t i = 0; i < f->rq->n_keys; i++) {
        int c = f->column[i];
        if (c >= 0 && orig[c] != NULL)
            values[i] = orig[c];
        if (f->post[i] != NULL && !iso_reid_match(values[i], f->post[i], f->post_dated[i]))
            return false;
    }
    return true;
}

int iso_find_next(iso_find *f, const char **values)
{
    iso_row row;
    iso_err err = {0};
    int r;
again:
    r = iso_index_query_next(f->q, &row, &err);
    if (r != 1)
        return r;
    if (!f->resolved) { /* which column answers which key: by keyword */
        for (size_t i = 0; i < f->rq->n_keys; i++) {
            f->column[i] = -1;
            for (int c = 0; c < row.n; c++)
                if (strcmp(row.names[c], f->rq->keys[i].keyword) == 0)
                    f->column[i] = c;
        }
        f->resolved = true;
    }
    for (size_t i = 0; i < f->rq->n_keys; i++)
        values[i] = f->column[i] >= 0 ? row.values[f->column[i]] : NULL;
    if (f->reid != NULL && !reidentified(f, &row, values))
        goto again;
    if (f->modalities_key >= 0 && values[f->modalities_key] != NULL) {
        /* the index lists them with commas; DICOM separates values by '\' */
        snprintf(f->modalities, sizeof f->modalities, "%s", values[f->modalities_key]);
        for (char *p = f->modalities; *p; p++)
            if (*p == ',')
                *p = '\\';
        values[f->modalities_key] = f->modalities;
    }
    f->matches++;
    return 1;
}

long iso_find_matches(const iso_find *f)
{
    return f->matches;
}

const char *iso_find_describe(const iso_find *f)
{
    return f->what;
}

void iso_find_end(iso_find *f)
{
    if (f == NULL)
        return;
    iso_index_query_close(f->q);
    iso_index_close(f->idx);
    iso_reid_free(f->reid);
    for (int i = 0; i < MAX_FILTERS; i++)
        free(f->filter_text[i]);
    free(f);
}
