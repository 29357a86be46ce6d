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

typedef struct file_ctx {
    verify_ctx *v;
    iso_index *idx;
} file_ctx;

static iso_code check_file(void *user, const char *rel, const char *abs, iso_err *err)
{
    file_ctx *f = user;
    f->v->report->files++;
    bool has = false;
    iso_code rc = iso_index_has_path(f->idx, rel, &has, err);
    if (rc == ISO_OK && !has) {
        /* Maybe between rename and COMMIT in a running daemon. */
        sleep(2);
        rc = iso_index_has_path(f->idx, rel, &has, err);
        if (rc == ISO_OK && !has && access(abs, F_OK) == 0) {
            fprintf(f->v->out, "UNINDEXED %s\n", rel);
            f->v->report->problems++;
        }
    }
    return rc;
}

/* A kept original must have its object: some row whose path its own mirrors. */
static iso_code check_original(void *user, const char *rel, const char *abs, iso_err *err)
{
    file_ctx *f = user;
    f->v->report->files++;
    char prefix[ISO_LAYOUT_REL_MAX];
    if (!iso_layout_object_prefix(rel, prefix))
        return ISO_OK;
    bool has = false;
    iso_code rc = iso_index_has_path_prefix(f->idx, prefix, &has, err);
    if (rc == ISO_OK && !has) {
        /* Maybe kept and its object not yet committed, in a running daemon. */
        sleep(2);
        rc = iso_index_has_path_prefix(f->idx, prefix, &has, err);
        if (rc == ISO_OK && !has && access(abs, F_OK) == 0) {
            fprintf(f->v->out, "ORPHAN ORIGINAL %s\n", rel);
            f->v->report->problems++;
        }
    }
    return rc;
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
    file_ctx f = {&v, idx};
    if (rc == ISO_OK)
        rc = iso_layout_walk(data_dir, check_file, &f, err);
    if (rc == ISO_OK)
        rc = iso_layout_walk_originals(data_dir, check_original, &f, err);
    iso_index_close(idx);
    return rc;
}
