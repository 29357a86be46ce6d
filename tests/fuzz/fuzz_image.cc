// fuzz_image.cc — libFuzzer target: what reconstruction does with a stored
// object.  The input becomes a Part 10 file (our meta header, then the data
// set); if it parses the way ingest parses it (iso_dcm_read_attrs), its
// image description is read and its frames decoded into modality values —
// through DCMTK's JPEG, JPEG-LS and RLE codecs or OpenJPEG, as the first
// byte's transfer syntax says.  Built and run by tests/integration/fuzz.sh.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    static const char *const ts[] = {
        "1.2.840.10008.1.2.1",    "1.2.840.10008.1.2",      "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.5",    "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"};
    const char *path = fuzz_write_part10("fuzzimg", "1.2.840.10008.5.1.4.1.1.4", ts[data[0] % 8],
                                         data, size);
    if (path == NULL)
        return 0;
    iso_attrs a;
    iso_err e = {};
    iso_dcm_image_info info = {};
    if (iso_dcm_read_attrs(path, &a, &e) == ISO_OK &&
        iso_dcm_read_image_info(path, &info, &e) == ISO_OK && info.has_pixel_data &&
        (size_t)info.rows * info.cols * info.frames <= (4u << 20)) {
        size_t px = (size_t)info.rows * info.cols * info.frames;
        void *dst = malloc(px * sizeof(float) + 1);
        if (dst != NULL) {
            (void)iso_dcm_read_frames(path, &info, dst, data[0] >> 7, &e);
            free(dst);
        }
    }
    iso_dcm_image_info_free(&info);
    unlink(path);
    return 0;
}
