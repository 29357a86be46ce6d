/* layout.c — object paths and the walk over stored files (see layout.h). */
#include "store/layout.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

void iso_store_object_path(const char *sop_uid, int version, char *out, size_t size)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65];
    EVP_Digest(sop_uid, strlen(sop_uid), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (version <= 1)
        snprintf(out, size, "objects/%.2s/%.2s/%.40s.dcm", hex, hex + 2, hex);
    else
        snprintf(out, size, "objects/%.2s/%.2s/%.40s.v%d.dcm", hex, hex + 2, hex, version);
}

/* Walks rel (relative to data_dir); depth 0 is objects/, files sit at 2. */
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

void iso_store_original_path(const char *stored_sop_uid, char *out, size_t size)
{
    char rel[256];
    iso_store_object_path(stored_sop_uid, 1, rel, sizeof rel);
    snprintf(out, size, "originals/%s", rel + strlen("objects/"));
}
