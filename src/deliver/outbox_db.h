/* outbox_db.h — what the deliver module's files share of the outbox
 * database (deliver/ only): its connection under the outbox's lock, and the
 * retry backoff every queue in it follows. */
#ifndef ISO_OUTBOX_DB_H
#define ISO_OUTBOX_DB_H

#include <sqlite3.h>

#include "config/config.h"
#include "deliver/outbox.h"

/* The connection, with the outbox's mutex held until the unlock. */
sqlite3 *iso_outbox_db_lock(iso_outbox *o);
void iso_outbox_db_unlock(iso_outbox *o);
/* Where deliveries are counted (NULL: nowhere). */
iso_metrics *iso_outbox_metrics(iso_outbox *o);
/* Seconds before try attempts+1: retry_base_seconds doubled per failed
 * attempt, at most retry_max_seconds. */
long iso_outbox_backoff(const iso_config *cfg, long attempts);

#endif
