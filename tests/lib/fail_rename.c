/* fail_rename.c — an LD_PRELOAD shim for failure tests: every rename()
 * whose target contains $FAIL_RENAME_MATCH fails with EIO, as a failing
 * disk would, so a commit can be made to fail at an exact point (after the
 * original of a de-identified object was kept, before the object is). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *from, const char *to)
{
    const char *match = getenv("FAIL_RENAME_MATCH");
    if (match != NULL && match[0] != '\0' && strstr(to, match) != NULL) {
        errno = EIO;
        return -1;
    }
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
