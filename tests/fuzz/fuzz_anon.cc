// fuzz_anon.cc — libFuzzer target: de-identification of whatever a peer
// sends, the way a de-identifying node handles it: the Part 10 bytes in
// memory, parsed once (iso_dcm_parse_buffer), checked, then rewritten by
// the policy of src/anon into a sink.  The first byte picks the transfer
// syntax.  Built and run by tests/integration/fuzz.sh.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "anon/anon.h"
#include "dicom/dicom.h"

static iso_code count_sink(void *ctx, const void *buf, size_t len, iso_err *err)
{
    *(size_t *)ctx += len;
    (void)buf;
    (void)err;
    return ISO_OK;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static iso_anon *anon = [] {
        iso_err e = {};
        if (iso_dcm_init(&e) != ISO_OK)
            return (iso_anon *)NULL;
        const char *base = getenv("ISONODE_FUZZ_DIR"); // fuzz.sh's, removed after the run
        char dir[160];
        snprintf(dir, sizeof dir, "%s/fuzzanon-XXXXXX", base ? base : "/dev/shm");
        if (mkdtemp(dir) == NULL)
            return (iso_anon *)NULL;
        iso_anon_options o = {};
        o.retain_safe_private = 1;
        o.dates = ISO_DATES_MODIFIED;
        o.clean_descriptors = 1;
        iso_anon *a = NULL;
        return iso_anon_open(dir, &o, &a, &e) == ISO_OK ? a : (iso_anon *)NULL;
    }();
    if (anon == NULL || size < 1)
        return 0;
    static const char *const ts[] = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                     "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.70"};
    unsigned char meta[1024];
    size_t n = iso_dcm_meta_header(meta, sizeof meta, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4",
                                   ts[data[0] % 4], "FUZZ");
    std::string obj((const char *)meta, n);
    obj.append((const char *)data + 1, size - 1);
    iso_err e = {};
    iso_dcm_parsed *p = NULL;
    if (iso_dcm_parse_buffer(obj.data(), obj.size(), &p, &e) != ISO_OK)
        return 0;
    iso_attrs attrs, after;
    iso_dcm_parsed_attrs(p, &attrs);
    size_t written = 0;
    iso_store_sink sink = {count_sink, &written};
    iso_anon_input in = {p, &attrs, obj.data(), obj.size(), NULL};
    iso_anon_outcome how;
    char why[256];
    (void)iso_anon_object(anon, &in, &sink, &after, &how, why, sizeof why, &e);
    iso_dcm_parsed_free(p);
    return 0;
}
