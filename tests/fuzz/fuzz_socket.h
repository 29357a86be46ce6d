// fuzz_socket.h — what the association fuzz targets share: the input
// written into one end of a socketpair (then shut for writing), so the
// adapter reads it from the other end as from a peer, and the association
// the adapter makes of it.
#ifndef ISO_FUZZ_SOCKET_H
#define ISO_FUZZ_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dicom/dicom.h"

// The adapter's server, made once (NULL if DCMTK cannot start).
static iso_dcm_server *fuzz_server()
{
    static iso_dcm_server *srv = [] {
        iso_err e = {};
        iso_dcm_server *s = NULL;
        iso_scp_params p = {16384, 1, 1, 1};
        if (iso_dcm_init(&e) != ISO_OK || iso_dcm_server_new(&p, &s, &e) != ISO_OK)
            return (iso_dcm_server *)NULL;
        return s;
    }();
    return srv;
}

// Returns 0 and fills sv (sv[1] is the node's end), or -1.
static int fuzz_feed_socket(const uint8_t *data, size_t size, int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    int buf = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[0], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR);
    return 0;
}

// Feeds data to the adapter as a peer would and lets it read the
// A-ASSOCIATE-RQ: the association (NULL if it was not one), the request,
// and the peer's end of the socket in *peer (to close when done; -1 if
// nothing was opened).
static iso_dcm_assoc *fuzz_associate(const uint8_t *data, size_t size, iso_assoc_request *req,
                                     int *peer)
{
    *peer = -1;
    iso_dcm_server *srv = fuzz_server();
    int sv[2];
    if (srv == NULL || fuzz_feed_socket(data, size, sv) != 0)
        return NULL;
    *peer = sv[0];
    iso_dcm_assoc *a = NULL;
    iso_err e = {};
    return iso_dcm_assoc_receive(srv, sv[1], NULL, NULL, 0, &a, req, &e) == ISO_OK ? a : NULL;
}

#endif
