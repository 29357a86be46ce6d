// fuzz_assoc_rq.cc — libFuzzer target: the A-ASSOCIATE-RQ as the node
// handles it.  The bytes go through the structural check the connection
// thread runs (net/assoc_rq.c); a request it passes goes on, through a
// socketpair, to DCMTK's parser as the daemon calls it, and is rejected.
// Oracle: when both accept a request they must agree on the number of
// presentation contexts and on the AE titles.  Built and run by
// tests/integration/fuzz.sh.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern "C" {
#include "net/assoc_rq.h"
}
#include "dicom/dicom.h"
#include "fuzz_socket.h"

// Leading and trailing spaces removed, as DCMTK presents AE titles.
static void trim(const char *in, char out[17])
{
    while (*in == ' ')
        in++;
    snprintf(out, 17, "%s", in);
    for (int i = (int)strlen(out) - 1; i >= 0 && out[i] == ' '; i--)
        out[i] = '\0';
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 70000)
        return 0;
    iso_assoc_rq_summary sum;
    char why[256];
    if (!iso_assoc_rq_check(data, size, &sum, why, sizeof why))
        return 0;
    iso_assoc_request req;
    int peer = -1;
    iso_dcm_assoc *a = fuzz_associate(data, size, &req, &peer);
    if (a != NULL) {
        char ours[17], theirs[17];
        trim(sum.called_ae, ours);
        trim(req.called_ae, theirs);
        if (strcmp(ours, theirs) != 0 || req.n_proposed != sum.n_contexts) {
            fprintf(stderr, "check and DCMTK disagree: called '%s' / '%s', contexts %d / %d\n",
                    ours, theirs, sum.n_contexts, req.n_proposed);
            abort();
        }
        iso_err rj = {};
        (void)iso_dcm_assoc_reject(a, ISO_REJECT_NO_REASON, &rj);
        iso_dcm_assoc_free(a);
    }
    if (peer >= 0)
        close(peer);
    return 0;
}
