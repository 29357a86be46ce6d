/* scp.h — the node's listening side: accepts TCP connections, applies the
 * association policy (called AE, calling AE allow-list, host check,
 * max_associations) and stores what C-STORE delivers.
 *
 * Lifecycle: iso_scp_start binds and starts the listener thread; each
 * connection gets its own thread.  iso_scp_stop stops accepting, gives
 * in-flight associations shutdown_timeout seconds, aborts the rest, and
 * returns once every connection thread has finished.
 */
#ifndef ISO_SCP_H
#define ISO_SCP_H

#include "anon/anon.h"
#include "config/config.h"
#include "store/store.h"
#include "util/err.h"

typedef struct iso_scp iso_scp;

/* anon: de-identification applied to every object before it is stored, or
 * NULL to store objects exactly as received. */
iso_code iso_scp_start(const iso_config *cfg, iso_store *store, iso_anon *anon, iso_scp **out,
                       iso_err *err);
void iso_scp_stop(iso_scp *scp);

#endif
