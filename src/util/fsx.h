/* fsx.h — file-system steps the store's crash ordering is built from.
 *
 * Every helper reports failures through iso_err with the path and errno text;
 * ENOSPC and EDQUOT map to ISO_ENOSPC so the network layer can answer 0xA700.
 */
#ifndef ISO_FSX_H
#define ISO_FSX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/path.h"

/* Writes all len bytes (retrying short writes and EINTR). */
iso_code fsx_write_all(int fd, const void *buf, size_t len, const char *what, iso_err *err);
/* Reads exactly len bytes unless EOF comes first; *got receives the count. */
iso_code fsx_read_full(int fd, void *buf, size_t len, size_t *got, const char *what, iso_err *err);
/* fsync of a directory, so a rename or create inside it is durable. */
iso_code fsx_fsync_dir(const char *dir, iso_err *err);
/* The directory holding path ("." for a bare name, "/" at the root). */
iso_code fsx_parent_of(const char *path, iso_path *out, iso_err *err);
/* mkdir (mode 0750) if missing; if it was created, fsyncs the parent. */
iso_code fsx_mkdir_durable(const char *dir, iso_err *err);
/* Creates every missing component of path (like mkdir -p), durably. */
iso_code fsx_mkdir_p(const char *path, iso_err *err);
/* Free space for an unprivileged writer, in MiB. */
iso_code fsx_free_mb(const char *dir, uint64_t *mb, iso_err *err);
/* The error code for an errno from a write path. */
iso_code fsx_errno_code(int e);
/* SHA-256 of a whole file as 64 lower-case hex digits; *size gets the length. */
iso_code fsx_sha256_file(const char *path, char hex[65], uint64_t *size, iso_err *err);
/* Removes a directory tree (no symlinks followed); a missing one is fine. */
iso_code fsx_remove_tree(const char *path, iso_err *err);
/* Total bytes used by regular files under dir (recursive). */
iso_code fsx_du(const char *dir, uint64_t *bytes, uint64_t *files, iso_err *err);

#endif
