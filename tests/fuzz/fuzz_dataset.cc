// fuzz_dataset.cc — libFuzzer target: a data set as a peer sends it, parsed
// the way the daemon parses every received object: our Part 10 header in
// front, written to a file, read by iso_dcm_read_attrs.  The first byte
// picks the transfer syntax, the rest is the data set.  Built and run by
// tests/integration/fuzz.sh.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "fuzz_part10.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bool ready = [] {
        iso_err e = {};
        return iso_dcm_init(&e) == ISO_OK;
    }();
    if (!ready || size < 1)
        return 0;
    static const char *const ts[] = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                     "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                                     "1.2.840.10008.1.2.4.70"};
    const char *path = fuzz_write_part10("fuzz", "1.2.840.10008.5.1.4.1.1.2", ts[data[0] % 5], data,
                                         size);
    if (path == NULL)
        return 0;
    iso_attrs a;
    iso_err e = {};
    (void)iso_dcm_read_attrs(path, &a, &e);
    unlink(path);
    return 0;
}
