/* layout.c — object paths and the walk over stored files (see layout.h). */
#include "store/layout.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"

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
static void series_path(const char *root, const char *series_uid, const char *sop_uid,
                        int version, char *out, size_t size)
{
    char s[41], h[41];
    hash40(series_uid, s);
    hash40(sop_uid, h);
    if (version <= 1)
        snprintf(out, size, "%s/%.2s/%s/%s.dcm", root, s, s, h);
    else
        snprintf(out, size, "%s/%.2s/%s/%s.v%d.dcm", root, s, s, h, version);
}

void iso_store_object_path(const char *series_uid, const char *sop_uid, int version, char *out,
                           size_t size)
{
    series_path("objects", series_uid, sop_uid, version, out, size);
}

void iso_store_fan_dir(unsigned i, char *out, size_t size)
{
    snprintf(out, size, "objects/%02x", i & 0xffu);
}

/* Walks rel (relative to data_dir); depth 0 is objects/, files sit at 2
 * (objects/XX/S/H.dcm; stores made with the first layout also have
 * objects/XX/YY/H.dcm). */
static iso_code walk(const char *data_dir, const char *rel, int depth, iso_object_fn fn,
                     void *user, iso_err *err)
{
    char abs[PATH_MAX];
    snprintf(abs, sizeof abs, "%s/%s", data_dir, rel);
    DIR *d = opendir(abs);
    if (d == NULL) {
        if (depth == 0 && errno != ENOENT)
            return iso_fail(err, ISO_EIO, "opendir %s: %s", abs, strerror(errno));
        return ISO_OK; /* removed meanwhile, or not a directory */
    }
    struct dirent *de;
    iso_code rc = ISO_OK;
    while (rc == ISO_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", rel, de->d_name);
        if (depth < 2) {
            rc = walk(data_dir, child, depth + 1, fn, user, err);
        } else {
            char child_abs[PATH_MAX];
            snprintf(child_abs, sizeof child_abs, "%s/%s", data_dir, child);
            rc = fn(user, child, child_abs, err);
        }
    }
    closedir(d);
    return rc;
}

iso_code iso_layout_walk(const char *data_dir, iso_object_fn fn, void *user, iso_err *err)
{
    return walk(data_dir, "objects", 0, fn, user, err);
}

void iso_store_original_path(const char *stored_series_uid, const char *stored_sop_uid,
                             char *out, size_t size)
{
    series_path("originals", stored_series_uid, stored_sop_uid, 1, out, size);
}
