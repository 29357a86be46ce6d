/* vault.h — the re-identification vault and the installation key.
 *
 * The installation key is 32 random bytes in DATA_DIR/secret.key (mode
 * 0600), created once at first start; it keys every pseudonym (HMAC-SHA256)
 * and, through a derived key, the vault's encryption.  Losing it means new
 * pseudonyms for returning patients; the store itself never needs it.
 *
 * The vault is a separate SQLite file, DATA_DIR/vault.sqlite (mode 0600):
 * one row per (kind, pseudonym), its value AES-256-GCM encrypted (random
 * 96-bit nonce, 128-bit tag, the kind and pseudonym as associated data, so
 * a value cannot be moved to another row).  Kinds: "uid" (new UID ->
 * original UID), "patient" (pseudonymous Patient ID -> original Patient
 * module attributes and the date offset), "study" (new Study Instance UID
 * -> original General Study module attributes).  Values are JSON text.
 *
 * Writes use WAL with synchronous=NORMAL: a row survives a daemon crash;
 * an OS crash may lose the last ones (the store is unaffected).  The vault
 * may be lost without harm to the store: ingest logs and goes on.
 */
#ifndef ISO_VAULT_H
#define ISO_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISO_KEY_LEN 32

/* Loads DATA_DIR/secret.key, creating it (durably, 0600) if absent. */
iso_code iso_key_load(const char *data_dir, int create, uint8_t key[ISO_KEY_LEN], iso_err *err);

/* HMAC-SHA256(key, label || data) */
void iso_key_hmac(const uint8_t key[ISO_KEY_LEN], const char *label, const char *data,
                  uint8_t out[32]);

typedef struct iso_vault iso_vault;

iso_code iso_vault_open(const char *data_dir, const uint8_t key[ISO_KEY_LEN], iso_vault **out,
                        iso_err *err);
void iso_vault_close(iso_vault *v);

/* Stores (kind, pseudo) -> value unless the row exists.  Thread-safe. */
iso_code iso_vault_put(iso_vault *v, const char *kind, const char *pseudo, const char *value,
                       iso_err *err);
/* Several puts in one transaction: kinds[i], pseudos[i], values[i]. */
iso_code iso_vault_put_many(iso_vault *v, const char *const *kinds, const char *const *pseudos,
                            const char *const *values, int n, iso_err *err);
/* Decrypts the value of (kind, pseudo) into a malloc'd string.
 * ISO_ENOTFOUND if there is no such row. */
iso_code iso_vault_get(iso_vault *v, const char *kind, const char *pseudo, char **value,
                       iso_err *err);

#ifdef __cplusplus
}
#endif

#endif
