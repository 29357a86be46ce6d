/* verify.c — index/file agreement check (see verify.h). */
#include "store/verify.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/fsx.h"

typedef struct verify_ctx {
    const char *data_dir;
    FILE *out;
    iso_verify_report *report;
} verify_ctx;

static int check_row(void *user, const char *path, const char *sha256, int64_t size,
                     const char *sop_uid)
{
    verify_ctx *v = user;
    v->report->rows++;
    iso_path abs;
    char hex[65];
    uint64_t got_size = 0;
    iso_err e = {0};
    if (iso_layout_abs(v->data_dir, path, &abs, &e) != ISO_OK ||
        fsx_sha256_file(abs.s, hex, &got_size, &e) != ISO_OK) {
        fprintf(v->out, "MISSING %s: %s (instance %s)\n", path, e.msg, sop_uid);
        v->report->problems++;
        return 0;
    }
    if ((int64_t)got_size != size || strcmp(hex, sha256) != 0) {
        fprintf(v->out, "CHECKSUM %s: size %llu sha256 %s, index says %lld %s\n", path,
                (unsigned long long)got_size, hex, (long long)size, sha256);
        v->report->problems++;
        return 0;
    }
    iso_attrs a;
    if (iso_dcm_read_attrs(abs.s, &a, &e) != ISO_OK) {
        fprintf(v->out, "UNREADABLE %s: %s\n", path, e.msg);
        v->report->problems++;
        return 0;
    }
    if (strcmp(a.sop_instance_uid, sop_uid) != 0) {
        fprintf(v->out, "MISMATCH %s: holds instance %s, index says %s\n", path,
                a.sop_instance_uid, sop_uid);
        v->report->problems++;
    }
    return 0;
}

/* A file seen without its row: looked at again after one pause for all. */
typedef struct suspect {
    char rel[ISO_LAYOUT_REL_MAX];
    bool original; /* a kept original (its object's row is looked for) */
} suspect;

typedef struct file_ctx {
    verify_ctx *v;
    iso_index *idx;
    suspect *suspects;
    size_t n, cap;
} file_ctx;

/* Is there a row for the file: its own (objects/), or its object's
 * (originals/; a name that is not an original's counts as fine)? */
static iso_code has_row(iso_index *idx, const char *rel, bool original, bool *has, iso_err *err)
{
    if (!original)
        return iso_index_has_path(idx, rel, has, err);
    char prefix[ISO_LAYOUT_REL_MAX];
    if (!iso_layout_object_prefix(rel, prefix)) {
        *has = true;
        return ISO_OK;
    }
    return iso_index_has_path_prefix(idx, prefix, has, err);
}

static iso_code check_any(file_ctx *f, const char *rel, bool original, iso_err *err)
{
    f->v->report->files++;
    bool has = false;
    iso_code rc = has_row(f->idx, rel, original, &has, err);
    if (rc != ISO_OK || has)
        return rc;
    if (f->n == f->cap) {
        size_t nc = f->cap ? 2 * f->cap : 64;
        suspect *ns = realloc(f->suspects, nc * sizeof *ns);
        if (ns == NULL)
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        f->suspects = ns;
        f->cap = nc;
    }
    suspect *x = &f->suspects[f->n++];
    snprintf(x->rel, sizeof x->rel, "%s", rel);
    x->original = original;
    return ISO_OK;
}

static iso_code check_file(void *user, const char *rel, const char *abs, iso_err *err)
{
    (void)abs;
    return check_any(user, rel, false, err);
}

/* A kept original must have its object: some row whose path its own mirrors. */
static iso_code check_original(void *user, const char *rel, const char *abs, iso_err *err)
{
    (void)abs;
    return check_any(user, rel, true, err);
}

/* The files seen without a row, again after one pause: a running daemon may
 * have had them between rename (or keeping the original) and COMMIT. */
static iso_code check_suspects(file_ctx *f, iso_err *err)
{
    if (f->n == 0)
        return ISO_OK;
    sleep(2);
    for (size_t i = 0; i < f->n; i++) {
        const suspect *x = &f->suspects[i];
        bool has = false;
        if (has_row(f->idx, x->rel, x->original, &has, err) != ISO_OK)
            return err->code;
        iso_path abs;
        if (iso_layout_abs(f->v->data_dir, x->rel, &abs, err) != ISO_OK)
            return err->code;
        if (!has && access(abs.s, F_OK) == 0) {
            fprintf(f->v->out, "%s %s\n", x->original ? "ORPHAN ORIGINAL" : "UNINDEXED", x->rel);
            f->v->report->problems++;
        }
    }
    return ISO_OK;
}

iso_code iso_store_verify(const char *data_dir, FILE *out, iso_verify_report *report,
                          iso_err *err)
{
    memset(report, 0, sizeof *report);
    iso_path path;
    iso_index *idx = NULL;
    if (iso_layout_path(data_dir, ISO_DATA_INDEX, &path, err) != ISO_OK ||
        iso_index_open(path.s, true, &idx, err) != ISO_OK)
        return err->code;
    verify_ctx v = {data_dir, out, report};
    iso_code rc = iso_index_each_file(idx, check_row, &v, err);
    file_ctx f = {&v, idx, NULL, 0, 0};
    if (rc == ISO_OK)
        rc = iso_layout_walk(data_dir, check_file, &f, err);
    if (rc == ISO_OK)
        rc = iso_layout_walk_originals(data_dir, check_original, &f, err);
    if (rc == ISO_OK)
        rc = check_suspects(&f, err);
    free(f.suspects);
    iso_index_close(idx);
    return rc;
}
