/* anon_file.c — de-identifies a stored file into a new file, for routes
 * that forward de-identified copies from a store that keeps originals.
 * The same policy as at ingest (iso_anon_object); the copy is written to a
 * temporary name, fdatasync'd and renamed, so a name always means a whole
 * object. */
#include "anon/anon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/fsx.h"

static iso_code fd_sink_write(void *ctx, const void *buf, size_t len, iso_err *err)
{
    return fsx_write_all(*(int *)ctx, buf, len, "de-identified copy", err);
}

iso_code iso_anon_file(iso_anon *a, const char *in_path, const char *out_path,
                       iso_anon_outcome *how, char *why, size_t why_size, iso_err *err)
{
    iso_dcm_parsed *parsed = NULL;
    if (iso_dcm_parse_file(in_path, &parsed, err) != ISO_OK)
        return err->code;
    iso_attrs attrs, after;
    iso_dcm_parsed_attrs(parsed, &attrs);
    iso_path tmp;
    int fd = -1;
    iso_code rc = iso_path_fmt(&tmp, err, "%s.tmp", out_path);
    if (rc == ISO_OK && (fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        rc = iso_fail(err, fsx_errno_code(errno), "open %s: %s", tmp.s, strerror(errno));
    if (rc == ISO_OK) {
        iso_store_sink sink = {fd_sink_write, &fd};
        iso_anon_input in = {parsed, &attrs, NULL, 0, in_path};
        rc = iso_anon_object(a, &in, &sink, &after, how, why, why_size, err);
    }
    if (rc == ISO_OK && *how == ISO_ANON_REJECTED)
        rc = iso_fail(err, ISO_EREFUSED, "%s", why);
    if (rc == ISO_OK && fdatasync(fd) != 0)
        rc = iso_fail(err, fsx_errno_code(errno), "fdatasync %s: %s", tmp.s, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && rc == ISO_OK)
        rc = iso_fail(err, fsx_errno_code(errno), "close %s: %s", tmp.s, strerror(errno));
    if (rc == ISO_OK && rename(tmp.s, out_path) != 0)
        rc = iso_fail(err, fsx_errno_code(errno), "rename %s: %s", out_path, strerror(errno));
    if (rc != ISO_OK && fd >= 0)
        unlink(tmp.s);
    iso_dcm_parsed_free(parsed);
    return rc;
}
