/* crash_on_unlink.c — an LD_PRELOAD shim for crash tests: the process is
 * killed (SIGKILL, as kill -9) at its first unlink() of a path containing
 * $CRASH_UNLINK_MATCH, before the file goes.  It stands for a crash at an
 * exact point (between a commit and the removal of files), which timing
 * alone cannot hit reliably. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int unlink(const char *path)
{
    const char *match = getenv("CRASH_UNLINK_MATCH");
    if (match != NULL && match[0] != '\0' && strstr(path, match) != NULL)
        raise(SIGKILL);
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    return real(path);
}
