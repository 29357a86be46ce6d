/* move.c — C-MOVE policy and sub-operations (see move.h). */
#include "net/move.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/peer.h"
#include "net/reidentify.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/log.h"

#define STUDY_ROOT_MOVE "1.2.840.10008.5.1.4.1.2.2.2"

/* May calling_ae retrieve to dest?  NULL if so, else why not.  On a
 * de-identifying node, *names_original: the requester names objects by
 * their original identity (its UIDs are mapped); *send_original: the
 * destination gets them with it (re-identified). */
static const char *permission(const iso_config *cfg, iso_anon *anon, const char *calling_ae,
                              const iso_peer *dest, bool *names_original, bool *send_original)
{
    const iso_peer *p = iso_config_peer_by_ae(cfg, calling_ae);
    *names_original = cfg->an_enabled && p != NULL && p->identity == ISO_IDENTITY_ORIGINAL;
    *send_original = cfg->an_enabled && dest != NULL && dest->identity == ISO_IDENTITY_ORIGINAL;
    if (p == NULL && !(!cfg->check_calling_ae && cfg->open_query_retrieve))
        return "not a [peer] allowed to retrieve (retrieve = yes)";
    if (p != NULL && !p->retrieve)
        return "its [peer] does not have retrieve = yes";
    if ((*names_original || *send_original) && (anon == NULL || iso_anon_vault(anon) == NULL))
        return "the original identity is asked for, and the vault cannot be read";
    return NULL;
}

/* The unique key of a level, and the level a UID must be found at. */
static const char *unique_key(const char *level, iso_level *found_level)
{
    if (strcmp(level, "PATIENT") == 0) {
        *found_level = ISO_LEVEL_PATIENT;
        return "PatientID";
    }
    if (strcmp(level, "STUDY") == 0) {
        *found_level = ISO_LEVEL_STUDY;
        return "StudyInstanceUID";
    }
    if (strcmp(level, "SERIES") == 0) {
        *found_level = ISO_LEVEL_SERIES;
        return "SeriesInstanceUID";
    }
    if (strcmp(level, "IMAGE") == 0) {
        *found_level = ISO_LEVEL_INSTANCE;
        return "SOPInstanceUID";
    }
    return NULL;
}

typedef struct study_ids {
    iso_path_list *files;
    iso_index *idx;
    iso_err *err;
} study_ids;

/* PATIENT level: every study of the patient. */
static int add_study(void *user, const iso_row *row)
{
    study_ids *s = user;
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->names[i], "StudyInstanceUID") == 0) {
            iso_level found;
            if (iso_index_files_under(s->idx, row->values[i], iso_path_list_add, s->files, &found,
                                      s->err) != ISO_OK)
                return 1;
        }
    return 0;
}

/* The files under each value of the unique key (a '\'-separated list). */
static iso_code collect(iso_index *idx, iso_level level, const char *values, iso_path_list *files,
                        iso_err *err)
{
    char *copy = strdup(values);
    if (copy == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    iso_code rc = ISO_OK;
    char *save = NULL;
    for (char *v = strtok_r(copy, "\\", &save); v != NULL && rc == ISO_OK;
         v = strtok_r(NULL, "\\", &save)) {
        if (level == ISO_LEVEL_PATIENT) {
            iso_filter f = {"PatientID", v, ISO_MATCH_EXACT, NULL};
            study_ids s = {files, idx, err};
            rc = iso_index_list(idx, ISO_LEVEL_STUDY, &f, 1, add_study, &s, err);
            if (rc == ISO_OK && err->code != ISO_OK)
                rc = err->code;
            continue;
        }
        iso_level found;
        size_t before = files->n;
        iso_err e = {0};
        iso_code r = iso_index_files_under(idx, v, iso_path_list_add, files, &found, &e);
        if (r == ISO_OK && found != level) { /* a UID of another level: not this one */
            for (size_t i = before; i < files->n; i++)
                free(files->paths[i]);
            files->n = before;
        } else if (r != ISO_OK && r != ISO_ENOTFOUND) {
            rc = iso_fail(err, r, "%s", e.msg);
        }
    }
    free(copy);
    if (rc == ISO_OK && files->failed)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory listing the objects");
    return rc;
}

typedef struct progress_ctx {
    size_t n;
    iso_move_counts counts;
    int (*report)(void *rctx, const iso_move_counts *counts);
    void *rctx;
    bool cancelled;
} progress_ctx;

static int on_progress(void *ctx, size_t index, uint16_t status)
{
    progress_ctx *p = ctx;
    if (status == 0x0000)
        p->counts.completed++;
    else if ((status & 0xF000) == 0xB000 || status == 0x0107 || status == 0x0116)
        p->counts.warning++;
    else
        p->counts.failed++;
    p->counts.remaining = (unsigned)(p->n - (index + 1));
    if (p->report(p->rctx, &p->counts) != 0) {
        p->cancelled = true;
        return 1;
    }
    return 0;
}

/* The objects a C-MOVE or C-GET names: the level's unique key, a value or
 * a list (no wildcards); 0 with files filled, or the refusal. */
/* The unique key's values as the store holds them, for a requester that
 * names the original identity: each UID as given (the node's own objects
 * keep theirs) and mapped; a Patient ID as given and as its pseudonym. */
static char *stored_values(iso_anon *anon, iso_level level, const char *value,
                           const iso_move_rq *rq)
{
    if (level != ISO_LEVEL_PATIENT) {
        iso_reid *r = NULL;
        iso_err e = {0};
        if (iso_reid_new(anon, &r, &e) != ISO_OK)
            return NULL;
        char *list = iso_reid_uid_list(r, value);
        iso_reid_free(r);
        return list;
    }
    const char *issuer = "";
    for (size_t i = 0; i < rq->find.n_keys; i++)
        if (strcmp(rq->find.keys[i].keyword, "IssuerOfPatientID") == 0)
            issuer = rq->find.keys[i].value;
    size_t n = strlen(value);
    char *out = malloc(2 * n + 66 * (n / 2 + 2) + 1), *copy = strdup(value);
    if (out == NULL || copy == NULL) {
        free(out);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    out[0] = '\0';
    char *save = NULL;
    for (char *v = strtok_r(copy, "\\", &save); v != NULL; v = strtok_r(NULL, "\\", &save)) {
        char id[65], name[65];
        iso_anon_pseudonym(anon, issuer, v, id, name);
        k += (size_t)sprintf(out + k, "%s%s\\%s", k ? "\\" : "", v, id);
    }
    free(copy);
    return out;
}

static uint16_t select_objects(const iso_config *cfg, iso_anon *names_original,
                               const iso_move_rq *rq, iso_path_list *files, char *comment,
                               size_t comment_size, char *why, size_t why_size)
{
    iso_level level;
    const char *key = unique_key(rq->find.level, &level);
    bool study_root = strcmp(rq->find.sop_class, STUDY_ROOT_MOVE) == 0;
    const char *value = NULL;
    for (size_t i = 0; key != NULL && i < rq->find.n_keys; i++)
        if (strcmp(rq->find.keys[i].keyword, key) == 0)
            value = rq->find.keys[i].value;
    if (key == NULL || (study_root && level == ISO_LEVEL_PATIENT) || value == NULL ||
        value[0] == '\0' || strpbrk(value, "*?") != NULL) {
        snprintf(comment, comment_size, "no unique key for level %.16s", rq->find.level);
        snprintf(why, why_size, "level '%s' needs its unique key %s (one value or a list)",
                 rq->find.level, key ? key : "(none: not a level of the model)");
        return ISO_FIND_IDENTIFIER_DOES_NOT_MATCH;
    }
    iso_index *idx = NULL;
    iso_path db;
    iso_err err = {0};
    char *mapped = NULL;
    if (names_original != NULL &&
        (mapped = stored_values(names_original, level, value, rq)) == NULL)
        iso_fail(&err, ISO_ENOMEM, "out of memory");
    else if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &db, &err) == ISO_OK &&
             iso_index_open(db.s, true, &idx, &err) == ISO_OK)
        (void)collect(idx, level, mapped != NULL ? mapped : value, files, &err);
    free(mapped);
    iso_index_close(idx);
    if (err.code != ISO_OK) {
        snprintf(comment, comment_size, "the objects cannot be listed");
        snprintf(why, why_size, "%s", err.msg);
        return ISO_FIND_UNABLE_TO_PROCESS;
    }
    if (files->n == 0)
        snprintf(why, why_size, "nothing stored under %s", value);
    return 0;
}

/* For a destination that gets the original identity: each selected file
 * replaced by the object as received or a re-identified copy
 * (temporary[i]); one that cannot be re-identified is dropped from the
 * list and counted in *failed, never sent with its pseudonyms. */
static iso_code reidentify_all(iso_anon *anon, const char *data_dir, iso_path_list *files,
                               bool **temporary, unsigned *failed, iso_err *err)
{
    *failed = 0;
    *temporary = calloc(files->n ? files->n : 1, sizeof **temporary);
    if (*temporary == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    size_t kept = 0;
    for (size_t i = 0; i < files->n; i++) {
        iso_path send;
        bool temp = false;
        iso_err e = {0};
        char *copy = NULL;
        if (iso_anon_reidentify_file(anon, data_dir, files->paths[i], &send, &temp, &e) != ISO_OK ||
            (copy = strdup(send.s)) == NULL) {
            ISO_WARN("retrieval: %s not sent with its original identity: %s", files->paths[i],
                     e.code ? e.msg : "out of memory");
            if (temp)
                unlink(send.s);
            free(files->paths[i]);
            (*failed)++;
            continue;
        }
        free(files->paths[i]);
        files->paths[kept] = copy;
        (*temporary)[kept++] = temp;
    }
    files->n = kept;
    return ISO_OK;
}

static void remove_temporaries(const iso_path_list *files, bool *temporary)
{
    for (size_t i = 0; temporary != NULL && i < files->n; i++)
        if (temporary[i])
            unlink(files->paths[i]);
    free(temporary);
}

uint16_t iso_move_run(const iso_config *cfg, iso_anon *anon, iso_tls *tls, const char *calling_ae,
                      const iso_move_rq *rq,
                      int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                      iso_move_counts *done, char *comment, size_t comment_size, char *why,
                      size_t why_size)
{
    *done = (iso_move_counts){0, 0, 0, 0};
    const iso_peer *dest = iso_config_peer_by_ae(cfg, rq->destination);
    bool names_original = false, send_original = false;
    const char *no = permission(cfg, anon, calling_ae, dest, &names_original, &send_original);
    if (no != NULL) {
        snprintf(comment, comment_size, "not authorized to retrieve");
        snprintf(why, why_size, "%s", no);
        return ISO_FIND_REFUSED_NOT_AUTHORIZED;
    }
    if (dest == NULL) {
        snprintf(comment, comment_size, "unknown Move Destination");
        snprintf(why, why_size, "move destination '%s' is not a configured [peer]",
                 rq->destination);
        return ISO_MOVE_UNKNOWN_DESTINATION;
    }
    iso_path_list files = {cfg->data_dir, NULL, 0, 0, false};
    uint16_t st = select_objects(cfg, names_original ? anon : NULL, rq, &files, comment,
                                 comment_size, why, why_size);
    if (st != 0 || files.n == 0) {
        iso_path_list_free(&files);
        return st;
    }
    iso_scu_params p;
    iso_err err = {0};
    bool *temporary = NULL;
    unsigned not_reidentified = 0;
    size_t selected = files.n;
    iso_code rc = send_original ? reidentify_all(anon, cfg->data_dir, &files, &temporary,
                                                 &not_reidentified, &err)
                                : ISO_OK;
    progress_ctx pc = {files.n, {(unsigned)files.n, 0, 0, 0}, report, rctx, false};
    uint16_t *statuses = calloc(files.n ? files.n : 1, sizeof *statuses);
    if (rc == ISO_OK)
        rc = statuses == NULL ? iso_fail(&err, ISO_ENOMEM, "out of memory")
                              : iso_peer_scu_params(cfg, dest, tls, &p, &err);
    if (rc == ISO_OK && files.n > 0) {
        p.progress = on_progress;
        p.progress_ctx = &pc;
        rc = iso_dcm_scu_send_files(&p, (const char *const *)files.paths, files.n, statuses,
                                    &err);
    }
    free(statuses);
    remove_temporaries(&files, temporary);
    size_t n = selected;
    iso_path_list_free(&files);
    *done = pc.counts;
    done->failed += not_reidentified;
    if (rc != ISO_OK && pc.counts.completed + pc.counts.failed + pc.counts.warning == 0) {
        done->failed = (unsigned)n;
        done->remaining = 0;
        snprintf(comment, comment_size, "cannot reach the Move Destination");
        snprintf(why, why_size, "%s", err.msg);
        return ISO_MOVE_OUT_OF_RESOURCES_SUBOPS;
    }
    if (pc.cancelled) {
        snprintf(why, why_size, "cancelled after %u of %zu", pc.counts.completed, n);
        return ISO_MOVE_CANCELLED;
    }
    /* objects never reached (the association broke): failed */
    done->failed += done->remaining;
    done->remaining = 0;
    if (rc != ISO_OK)
        snprintf(why, why_size, "%s", err.msg);
    if (done->failed > 0) {
        snprintf(comment, comment_size, "%u of %zu sub-operations failed", done->failed, n);
        return ISO_MOVE_SOME_FAILED;
    }
    return 0;
}

uint16_t iso_get_run(const iso_config *cfg, iso_anon *anon, const char *calling_ae,
                     const iso_move_rq *rq,
                     uint16_t (*store)(void *sctx, const char *path),
                     int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                     iso_move_counts *done, char *comment, size_t comment_size, char *why,
                     size_t why_size)
{
    *done = (iso_move_counts){0, 0, 0, 0};
    /* the requester is the destination */
    bool names_original = false, send_original = false;
    const char *no = permission(cfg, anon, calling_ae, iso_config_peer_by_ae(cfg, calling_ae),
                                &names_original, &send_original);
    if (no != NULL) {
        snprintf(comment, comment_size, "not authorized to retrieve");
        snprintf(why, why_size, "%s", no);
        return ISO_FIND_REFUSED_NOT_AUTHORIZED;
    }
    iso_path_list files = {cfg->data_dir, NULL, 0, 0, false};
    uint16_t st = select_objects(cfg, names_original ? anon : NULL, rq, &files, comment,
                                 comment_size, why, why_size);
    if (st != 0 || files.n == 0) {
        iso_path_list_free(&files);
        return st;
    }
    bool *temporary = NULL;
    unsigned not_reidentified = 0;
    size_t selected = files.n;
    iso_err err = {0};
    if (send_original &&
        reidentify_all(anon, cfg->data_dir, &files, &temporary, &not_reidentified, &err) != ISO_OK) {
        iso_path_list_free(&files);
        snprintf(comment, comment_size, "the objects cannot be prepared");
        snprintf(why, why_size, "%s", err.msg);
        return ISO_FIND_UNABLE_TO_PROCESS;
    }
    progress_ctx pc = {files.n, {(unsigned)files.n, 0, 0, 0}, report, rctx, false};
    bool broken = false;
    for (size_t i = 0; i < files.n && !pc.cancelled && !broken; i++) {
        uint16_t s = store(rctx, files.paths[i]);
        broken = s == 0xFFFE;
        if (!broken)
            (void)on_progress(&pc, i, s);
    }
    remove_temporaries(&files, temporary);
    size_t n = selected;
    iso_path_list_free(&files);
    *done = pc.counts;
    done->failed += not_reidentified;
    if (broken) {
        done->failed += done->remaining;
        done->remaining = 0;
        snprintf(why, why_size, "the association failed during the sub-operations");
        return ISO_MOVE_SOME_FAILED;
    }
    if (pc.cancelled) {
        snprintf(why, why_size, "cancelled after %u of %zu", pc.counts.completed, n);
        return ISO_MOVE_CANCELLED;
    }
    if (done->failed > 0) {
        snprintf(comment, comment_size, "%u of %zu sub-operations failed", done->failed, n);
        snprintf(why, why_size, "%u failed (0xFFFF: the requester offered no storage context "
                 "with the SCP role for the object's class and syntax)", done->failed);
        return ISO_MOVE_SOME_FAILED;
    }
    return 0;
}
