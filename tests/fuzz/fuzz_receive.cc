// fuzz_receive.cc — libFuzzer target: the receive module (ingest/) with a
// real store and de-identifier in /dev/shm, fed the way the DIMSE loop
// feeds it: begin, the data set in chunks, end.  The first byte picks the
// transfer syntax, the receiver (stored as received or de-identifying; with
// the memory budget or with none, so objects stream through files) and the
// chunk size; the request names SOP Instance 1.2.3.4.5 of CT Image Storage.
// Oracles, after every object whatever its status: no memory is left
// reserved and tmp/ is empty (the module's one cleanup ran).  Built and run
// by tests/integration/fuzz.sh.
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern "C" {
#include "anon/anon.h"
#include "config/config.h"
#include "ingest/receive.h"
#include "store/store.h"
#include "util/log.h"
}
#include "dicom/dicom.h"

namespace {
struct node {
    char dir[160];
    iso_config cfg[2]; // [0] the default budget, [1] no memory budget: every object streams
    iso_store *store;
    iso_anon *anon;
    iso_receiver *r[4];
};
}

static node *setup()
{
    static node n;
    iso_err e = {};
    iso_log_init((iso_log_level)-1); // quiet: the fuzzer's output is its own
    const char *base = getenv("ISONODE_FUZZ_DIR"); // fuzz.sh's, removed after the run
    snprintf(n.dir, sizeof n.dir, "%s/fuzzrecv-XXXXXX", base ? base : "/dev/shm");
    if (iso_dcm_init(&e) != ISO_OK || mkdtemp(n.dir) == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        iso_config_defaults(&n.cfg[i]);
        snprintf(n.cfg[i].data_dir, sizeof n.cfg[i].data_dir, "%s", n.dir);
        n.cfg[i].min_free_mb = 0;
        n.cfg[i].max_object_mb = 4;
        n.cfg[i].an_keep_originals = 1;
    }
    n.cfg[1].max_memory_mb = 0;
    iso_dcm_limits lim = {32, 4ull << 20, 200, NULL};
    char tmp[192];
    snprintf(tmp, sizeof tmp, "%s/tmp", n.dir);
    lim.tmp_dir = tmp;
    iso_err lim_err = {};
    (void)iso_dcm_set_limits(&lim, &lim_err);
    iso_store_options so = {n.dir, ISO_DUP_KEEP, 0};
    iso_recovery_report rep;
    iso_anon_options ao = {};
    ao.retain_safe_private = 1;
    ao.dates = ISO_DATES_MODIFIED;
    if (iso_store_open(&so, &n.store, &rep, &e) != ISO_OK ||
        iso_anon_open(n.dir, &ao, &n.anon, &e) != ISO_OK) {
        fprintf(stderr, "fuzz_receive setup: %s\n", e.msg);
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (iso_receiver_new(&n.cfg[i / 2], n.store, i % 2 ? n.anon : NULL, &n.r[i], &e) != ISO_OK)
            return NULL;
    return &n;
}

static int tmp_entries(const char *dir)
{
    char path[192];
    snprintf(path, sizeof path, "%s/tmp", dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static node *n = setup();
    if (n == NULL || size < 1)
        return 0;
    static const char *const ts[] = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                     "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                                     "1.2.840.10008.1.2.4.90"};
    unsigned sel = data[0];
    iso_receiver *r = n->r[(sel >> 3) & 3];
    size_t chunk = (size_t)64 << ((sel >> 5) & 7);
    const char *sop_class = "1.2.840.10008.5.1.4.1.1.2";
    iso_store_rq rq = {1, sop_class, ts[sel % 5], sop_class, "1.2.3.4.5", 1};
    iso_recv *x = NULL;
    iso_err e = {};
    if (iso_recv_new(r, "FUZZ", &x, &e) != ISO_OK)
        return 0;
    char comment[65];
    if (iso_recv_begin(x, &rq, comment, sizeof comment, &e) == ISO_STATUS_SUCCESS) {
        for (size_t off = 1; off < size; off += chunk) {
            size_t len = size - off < chunk ? size - off : chunk;
            iso_err we = {};
            if (iso_recv_write(x, data + off, len, &we) != ISO_OK)
                break; // the DIMSE loop reads the rest and drops it
        }
        iso_received got;
        iso_err ee = {};
        (void)iso_recv_end(x, true, &got, comment, sizeof comment, &ee);
    }
    iso_recv_free(x);
    if (iso_receiver_memory_used(r) != 0 || tmp_entries(n->dir) != 0) {
        fprintf(stderr, "object left behind: %llu bytes reserved, %d files in tmp/\n",
                (unsigned long long)iso_receiver_memory_used(r), tmp_entries(n->dir));
        abort();
    }
    return 0;
}
