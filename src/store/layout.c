/* layout.c — the names under data_dir and the walk over stored files (see
 * layout.h). */
#include "store/layout.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"

static const char *const entry_names[] = {
    [ISO_DATA_LOCK] = "LOCK",
    [ISO_DATA_RUNNING] = "RUNNING",
    [ISO_DATA_INDEX] = "index.sqlite",
    [ISO_DATA_JOBS] = "jobs.sqlite",
    [ISO_DATA_OUTBOX] = "outbox.sqlite",
    [ISO_DATA_VAULT] = "vault.sqlite",
    [ISO_DATA_KEY] = "secret.key",
    [ISO_DATA_OBJECTS] = "objects",
    [ISO_DATA_ORIGINALS] = "originals",
    [ISO_DATA_TMP] = "tmp",
    [ISO_DATA_RESULTS] = "results",
};

iso_code iso_layout_path(const char *data_dir, iso_data_entry entry, iso_path *out, iso_err *err)
{
    if ((unsigned)entry >= sizeof entry_names / sizeof entry_names[0])
        return iso_fail(err, ISO_EINVAL, "no data_dir entry %d", (int)entry);
    return iso_path_fmt(out, err, "%s/%s", data_dir, entry_names[entry]);
}

iso_code iso_layout_abs(const char *data_dir, const char *rel, iso_path *out, iso_err *err)
{
    return iso_path_fmt(out, err, "%s/%s", data_dir, rel);
}

iso_code iso_layout_job_dir(const char *data_dir, long long job_id, int attempt, long started,
                            iso_path *out, iso_err *err)
{
    return iso_path_fmt(out, err, "%s/%s/J%lld.%d.%ld", data_dir, entry_names[ISO_DATA_RESULTS],
                        job_id, attempt, started);
}

/* The first 40 hex digits of SHA-256(text): names that never contain peer
 * text, spread evenly. */
static void hash40(const char *text, char hex[41])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    iso_hex(md, 20, hex);
}

/* The objects of one series share a directory: a new directory (and the
 * journal commit its creation costs) once per series, not once per object,
 * and a reconstruction reads one directory. */
static void series_path(iso_data_entry root, const char *series_uid, const char *sop_uid,
                        int version, char out[ISO_LAYOUT_REL_MAX])
{
    char s[41], h[41];
    hash40(series_uid, s);
    hash40(sop_uid, h);
    if (version <= 1)
        snprintf(out, ISO_LAYOUT_REL_MAX, "%s/%.2s/%s/%s.dcm", entry_names[root], s, s, h);
    else
        snprintf(out, ISO_LAYOUT_REL_MAX, "%s/%.2s/%s/%s.v%d.dcm", entry_names[root], s, s, h,
                 version);
}

void iso_layout_object(const char *series_uid, const char *sop_uid, int version,
                       char out[ISO_LAYOUT_REL_MAX])
{
    series_path(ISO_DATA_OBJECTS, series_uid, sop_uid, version, out);
}

void iso_layout_original(const char *stored_series_uid, const char *stored_sop_uid,
                         char out[ISO_LAYOUT_REL_MAX])
{
    series_path(ISO_DATA_ORIGINALS, stored_series_uid, stored_sop_uid, 1, out);
}

void iso_layout_fan_dir(unsigned i, char out[ISO_LAYOUT_REL_MAX])
{
    snprintf(out, ISO_LAYOUT_REL_MAX, "%s/%02x", entry_names[ISO_DATA_OBJECTS], i & 0xffu);
}

/* Walks rel (relative to data_dir); depth 0 is objects/, files sit at 2
 * (objects/XX/S/H.dcm; stores made with the first layout also have
 * objects/XX/YY/H.dcm). */
static iso_code walk(const char *data_dir, const char *rel, int depth, iso_object_fn fn,
                     void *user, iso_err *err)
{
    iso_path abs;
    if (iso_layout_abs(data_dir, rel, &abs, err) != ISO_OK)
        return err->code;
    DIR *d = opendir(abs.s);
    if (d == NULL) {
        if (depth == 0 && errno != ENOENT)
            return iso_fail(err, ISO_EIO, "opendir %s: %s", abs.s, strerror(errno));
        return ISO_OK; /* removed meanwhile, or not a directory */
    }
    struct dirent *de;
    iso_code rc = ISO_OK;
    while (rc == ISO_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        iso_path child, child_abs;
        rc = iso_path_fmt(&child, err, "%s/%s", rel, de->d_name);
        if (rc == ISO_OK && depth < 2)
            rc = walk(data_dir, child.s, depth + 1, fn, user, err);
        else if (rc == ISO_OK && (rc = iso_layout_abs(data_dir, child.s, &child_abs, err)) == ISO_OK)
            rc = fn(user, child.s, child_abs.s, err);
    }
    closedir(d);
    return rc;
}

iso_code iso_layout_walk(const char *data_dir, iso_object_fn fn, void *user, iso_err *err)
{
    return walk(data_dir, entry_names[ISO_DATA_OBJECTS], 0, fn, user, err);
}

iso_code iso_layout_walk_originals(const char *data_dir, iso_object_fn fn, void *user,
                                   iso_err *err)
{
    return walk(data_dir, entry_names[ISO_DATA_ORIGINALS], 0, fn, user, err);
}

bool iso_layout_object_prefix(const char *orig_rel, char out[ISO_LAYOUT_REL_MAX])
{
    const char *root = entry_names[ISO_DATA_ORIGINALS];
    size_t rl = strlen(root), n = strlen(orig_rel);
    out[0] = '\0';
    if (strncmp(orig_rel, root, rl) != 0 || orig_rel[rl] != '/' || n < rl + 5 ||
        strcmp(orig_rel + n - 4, ".dcm") != 0)
        return false;
    /* "objects" + "/XX/S/H" + "." */
    int w = snprintf(out, ISO_LAYOUT_REL_MAX, "%s%.*s.", entry_names[ISO_DATA_OBJECTS],
                     (int)(n - 4 - rl), orig_rel + rl);
    if (w < 0 || w >= ISO_LAYOUT_REL_MAX) {
        out[0] = '\0';
        return false;
    }
    return true;
}
