/* peer.h — how the node opens an association to a configured [peer]: its
 * address, our timeouts, and DICOM TLS with its host name or pinned
 * certificate when it has tls = yes.  Every SCU path uses it: the outbox's
 * deliveries, C-MOVE sub-operations, isonode echo and send. */
#ifndef ISO_PEER_H
#define ISO_PEER_H

#include "config/config.h"
#include "dicom/dicom.h"
#include "tls/tls.h"

/* tls: the node's contexts (NULL if none is set up: then a peer with
 * tls = yes is an error). */
iso_code iso_peer_scu_params(const iso_config *cfg, const iso_peer *peer, iso_tls *tls,
                             iso_scu_params *out, iso_err *err);

#endif
