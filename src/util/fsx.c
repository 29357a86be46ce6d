/* fsx.c — durable file-system helpers (see fsx.h). */
#include "util/fsx.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/hex.h"

iso_code fsx_errno_code(int e)
{
    return (e == ENOSPC || e == EDQUOT) ? ISO_ENOSPC : ISO_EIO;
}

iso_code fsx_write_all(int fd, const void *buf, size_t len, const char *what, iso_err *err)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return iso_fail(err, fsx_errno_code(e), "write %s: %s", what, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    return ISO_OK;
}

iso_code fsx_read_full(int fd, void *buf, size_t len, size_t *got, const char *what, iso_err *err)
{
    unsigned char *p = buf;
    size_t total = 0;
    while (total < len) {
        ssize_t r = read(fd, p + total, len - total);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return iso_fail(err, ISO_EIO, "read %s: %s", what, strerror(errno));
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    *got = total;
    return ISO_OK;
}

iso_code fsx_fsync_dir(const char *dir, iso_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return iso_fail(err, ISO_EIO, "open dir %s: %s", dir, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return iso_fail(err, fsx_errno_code(e), "fsync dir %s: %s", dir, strerror(e));
    }
    if (close(fd) != 0)
        return iso_fail(err, ISO_EIO, "close dir %s: %s", dir, strerror(errno));
    return ISO_OK;
}

iso_code fsx_parent_of(const char *path, iso_path *out, iso_err *err)
{
    if (iso_path_fmt(out, err, "%s", path) != ISO_OK)
        return err->code;
    size_t n = strlen(out->s);
    while (n > 1 && out->s[n - 1] == '/')
        out->s[--n] = '\0';
    char *slash = strrchr(out->s, '/');
    if (slash == NULL)
        strcpy(out->s, ".");
    else if (slash == out->s)
        out->s[1] = '\0';
    else
        *slash = '\0';
    return ISO_OK;
}

iso_code fsx_mkdir_durable(const char *dir, iso_err *err)
{
    if (mkdir(dir, 0750) == 0) {
        iso_path parent;
        if (fsx_parent_of(dir, &parent, err) != ISO_OK)
            return err->code;
        return fsx_fsync_dir(parent.s, err);
    }
    if (errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return ISO_OK;
        return iso_fail(err, ISO_EIO, "%s exists and is not a directory", dir);
    }
    int e = errno;
    return iso_fail(err, fsx_errno_code(e), "mkdir %s: %s", dir, strerror(e));
}

iso_code fsx_mkdir_p(const char *path, iso_err *err)
{
    iso_path buf;
    if (iso_path_fmt(&buf, err, "%s", path) != ISO_OK)
        return err->code;
    for (char *p = buf.s + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        iso_code rc = fsx_mkdir_durable(buf.s, err);
        *p = '/';
        if (rc != ISO_OK)
            return rc;
    }
    return fsx_mkdir_durable(buf.s, err);
}

iso_code fsx_free_mb(const char *dir, uint64_t *mb, iso_err *err)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return iso_fail(err, ISO_EIO, "statvfs %s: %s", dir, strerror(errno));
    *mb = (uint64_t)sv.f_bavail * sv.f_frsize / (1024 * 1024);
    return ISO_OK;
}

iso_code fsx_sha256_file(const char *path, char hex[65], uint64_t *size, iso_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iso_fail(err, errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "open %s: %s", path,
                        strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return iso_fail(err, ISO_ENOMEM, "sha256 init failed");
    }
    enum { CHUNK = 1 << 18 };
    unsigned char *buf = malloc(CHUNK);
    iso_code rc = ISO_OK;
    uint64_t total = 0;
    if (buf == NULL)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory hashing %s", path);
    while (rc == ISO_OK) {
        size_t got = 0;
        rc = fsx_read_full(fd, buf, CHUNK, &got, path, err);
        if (rc != ISO_OK || got == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, got) != 1)
            rc = iso_fail(err, ISO_EIO, "sha256 update failed");
        total += got;
        if (got < CHUNK)
            break;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (rc == ISO_OK && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        rc = iso_fail(err, ISO_EIO, "sha256 final failed");
    if (rc == ISO_OK) {
        iso_hex(md, 32, hex);
        if (size)
            *size = total;
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

iso_code fsx_du(const char *dir, uint64_t *bytes, uint64_t *files, iso_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return ISO_OK;
        return iso_fail(err, ISO_EIO, "opendir %s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    iso_code rc = ISO_OK;
    while (rc == ISO_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        iso_path p;
        struct stat st;
        if ((rc = iso_path_fmt(&p, err, "%s/%s", dir, de->d_name)) != ISO_OK)
            break;
        if (lstat(p.s, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(st.st_mode))
            rc = fsx_du(p.s, bytes, files, err);
        else if (S_ISREG(st.st_mode)) {
            *bytes += (uint64_t)st.st_size;
            (*files)++;
        }
    }
    closedir(d);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

iso_code fsx_remove_tree(const char *path, iso_err *err)
{
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return iso_fail(err, fsx_errno_code(errno), "remove %s: %s", path, strerror(errno));
    return ISO_OK;
}
