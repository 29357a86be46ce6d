// fuzz_part10.h — what the file-based fuzz targets share: the input, less
// its first byte (which picked the transfer syntax), behind our own Part 10
// header, written to a per-process file in /dev/shm.
#ifndef ISO_FUZZ_PART10_H
#define ISO_FUZZ_PART10_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "dicom/dicom.h"

// Returns the path written, or NULL.  name keeps targets' files apart.
static const char *fuzz_write_part10(const char *name, const char *sop_class, const char *ts,
                                     const uint8_t *data, size_t size)
{
    static char path[96];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "/dev/shm/isonode-%s-%ld.dcm", name, (long)getpid());
    unsigned char meta[1024];
    size_t n = iso_dcm_meta_header(meta, sizeof meta, sop_class, "1.2.3.4", ts, "FUZZ");
    FILE *f = fopen(path, "wb");
    if (f == NULL || n == 0) {
        if (f != NULL)
            fclose(f);
        return NULL;
    }
    fwrite(meta, 1, n, f);
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    return path;
}

#endif
