/* peer.c — the parameters of an association to a [peer] (see peer.h). */
#include "net/peer.h"

iso_code iso_peer_scu_params(const iso_config *cfg, const iso_peer *peer, iso_tls *tls,
                             iso_scu_params *out, iso_err *err)
{
    *out = (iso_scu_params){cfg->ae_title, peer->ae_title, peer->host, peer->port,
                            cfg->acse_timeout, cfg->dimse_timeout, cfg->max_pdu,
                            {NULL, NULL, NULL, 0}, NULL, NULL};
    if (!peer->tls)
        return ISO_OK;
    if (tls == NULL)
        return iso_fail(err, ISO_ECONFIG, "[peer %s] tls = yes, but TLS is not set up",
                        peer->name);
    out->tls = (iso_dcm_tls_client){tls, peer->host, peer->certificate_sha256,
                                    cfg->acse_timeout * 1000};
    return ISO_OK;
}
