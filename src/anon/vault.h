/* vault.h — the re-identification vault and the installation key.
 *
 * The installation key is 32 random bytes in a file of mode 0600
 * ([anonymize] key_file; by default DATA_DIR/secret.key), created once at
 * the first de-identifying start; it keys every pseudonym and replacement
 * UID (HMAC-SHA256) and, through a derived key, the vault's encryption.
 * Without it, returning patients get new pseudonyms and the vault cannot be
 * read: back it up (isonode key prints its fingerprint to compare copies).
 *
 * The vault is a separate SQLite file, DATA_DIR/vault.sqlite (mode 0600):
 * one row per (kind, pseudonym), its value AES-256-GCM encrypted (random
 * 96-bit nonce, 128-bit tag, the kind and pseudonym as associated data, so
 * a value cannot be moved to another row).  Kinds: "uid" (new UID ->
 * original UID), "patient" (pseudonymous Patient ID -> original Patient
 * module attributes and the date offset), "study" (new Study Instance UID
 * -> original General Study module attributes).  Values are JSON text.
 * vault_meta holds a key check value: opening the vault with another key
 * fails (ISO_ECONFIG) instead of writing rows nobody can read.
 *
 * Writes use WAL with synchronous=FULL, as the store does: a vault row is
 * on disk before the object it re-identifies is acknowledged, and a C-STORE
 * whose row cannot be written fails.
 */
#ifndef ISO_VAULT_H
#define ISO_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/path.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISO_KEY_LEN 32

/* Loads the key file at path, creating it (durably, 0600) if absent and
 * create is set; ISO_ENOTFOUND if absent otherwise. */
iso_code iso_key_load(const char *path, int create, uint8_t key[ISO_KEY_LEN], iso_err *err);
/* Where the installation key of data_dir is: key_file, or (NULL or "")
 * DATA_DIR/secret.key. */
iso_code iso_key_path(const char *data_dir, const char *key_file, iso_path *out, iso_err *err);
/* The installation key of data_dir: key_file (NULL or "": DATA_DIR/secret.key),
 * made now if absent and no vault exists yet; once a vault exists a
 * missing key is ISO_ECONFIG (a new one would change every pseudonym and
 * leave the vault unreadable). */
iso_code iso_key_for(const char *data_dir, const char *key_file, uint8_t key[ISO_KEY_LEN],
                     iso_err *err);
/* "SHA256:" and the hex SHA-256 of the key: to compare copies of a key
 * without showing it. */
void iso_key_fingerprint(const uint8_t key[ISO_KEY_LEN], char out[72]);

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

/* Retention: the rows (kinds[i], pseudos[i]) of a removed study are to go
 * at expires_at (Unix seconds). */
iso_code iso_vault_schedule_expiry(iso_vault *v, const char *const *kinds,
                                   const char *const *pseudos, size_t n, long expires_at,
                                   iso_err *err);
/* Each row due at now: still_needed(user, kind, pseudo) says whether the
 * store holds what it re-identifies again (then only the expiry goes);
 * otherwise the vault row goes.  *removed counts vault rows deleted. */
iso_code iso_vault_expire(iso_vault *v, long now,
                          int (*still_needed)(void *user, const char *kind, const char *pseudo),
                          void *user, int *removed, iso_err *err);

#ifdef __cplusplus
}
#endif

#endif
