/* vault.c — the installation key and the encrypted re-identification vault
 * (see vault.h).  OpenSSL for HMAC, AES-256-GCM and random bytes; SQLite
 * for the file. */
#include "util/dbx.h"
#include "anon/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "store/layout.h"
#include "util/fsx.h"
#include "util/hex.h"

/* Generated from db/vault by tools/sql2c.sh. */
extern const char *const iso_vault_schema_migrations[];
extern const int iso_vault_schema_version;

struct iso_vault {
    sqlite3 *db;
    sqlite3_stmt *put, *get;
    uint8_t enc_key[32];
    pthread_mutex_t mu;
};

void iso_key_hmac(const uint8_t key[ISO_KEY_LEN], const char *label, const char *data,
                  uint8_t out[32])
{
    unsigned int len = 0;
    size_t ll = strlen(label), dl = strlen(data);
    unsigned char stackbuf[512];
    unsigned char *buf = ll + dl <= sizeof stackbuf ? stackbuf : malloc(ll + dl);
    if (buf == NULL) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, label, ll);
    memcpy(buf + ll, data, dl);
    HMAC(EVP_sha256(), key, ISO_KEY_LEN, buf, ll + dl, out, &len);
    if (buf != stackbuf)
        free(buf);
}

iso_code iso_key_load(const char *path, int create, uint8_t key[ISO_KEY_LEN], iso_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t got = 0;
        iso_code rc = fsx_read_full(fd, key, ISO_KEY_LEN, &got, path, err);
        close(fd);
        if (rc != ISO_OK)
            return rc;
        if (got != ISO_KEY_LEN)
            return iso_fail(err, ISO_EIO, "%s: %zu bytes, want %d", path, got, ISO_KEY_LEN);
        return ISO_OK;
    }
    if (errno != ENOENT || !create)
        return iso_fail(err, errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "%s: %s", path,
                        strerror(errno));
    if (RAND_bytes(key, ISO_KEY_LEN) != 1)
        return iso_fail(err, ISO_EIO, "no random bytes for the installation key");
    /* write to a temporary name, sync, rename: a crash never leaves a short key */
    iso_path tmp, dir;
    if (iso_path_fmt(&tmp, err, "%s.new", path) != ISO_OK || fsx_parent_of(path, &dir, err) != ISO_OK)
        return err->code;
    fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return iso_fail(err, ISO_EIO, "%s: %s", tmp.s, strerror(errno));
    iso_code rc = fsx_write_all(fd, key, ISO_KEY_LEN, tmp.s, err);
    if (rc == ISO_OK && fsync(fd) != 0)
        rc = iso_fail(err, ISO_EIO, "fsync %s: %s", tmp.s, strerror(errno));
    if (close(fd) != 0 && rc == ISO_OK)
        rc = iso_fail(err, ISO_EIO, "close %s: %s", tmp.s, strerror(errno));
    if (rc == ISO_OK && rename(tmp.s, path) != 0)
        rc = iso_fail(err, ISO_EIO, "rename %s: %s", tmp.s, strerror(errno));
    if (rc == ISO_OK)
        rc = fsx_fsync_dir(dir.s, err);
    if (rc != ISO_OK)
        unlink(tmp.s);
    return rc;
}

iso_code iso_key_path(const char *data_dir, const char *key_file, iso_path *out, iso_err *err)
{
    if (key_file != NULL && key_file[0] != '\0')
        return iso_path_fmt(out, err, "%s", key_file);
    return iso_layout_path(data_dir, ISO_DATA_KEY, out, err);
}

iso_code iso_key_for(const char *data_dir, const char *key_file, uint8_t key[ISO_KEY_LEN],
                     iso_err *err)
{
    iso_path key_path, vault_path;
    if (iso_key_path(data_dir, key_file, &key_path, err) != ISO_OK ||
        iso_layout_path(data_dir, ISO_DATA_VAULT, &vault_path, err) != ISO_OK)
        return err->code;
    int vault_exists = access(vault_path.s, F_OK) == 0;
    iso_code rc = iso_key_load(key_path.s, !vault_exists, key, err);
    if (rc == ISO_ENOTFOUND) {
        iso_err_clear(err);
        rc = iso_fail(err, ISO_ECONFIG,
                      "the installation key %s is missing but the vault %s exists: restore the "
                      "key from its backup (a new key would change every pseudonym and leave the "
                      "vault unreadable)",
                      key_path.s, vault_path.s);
    }
    return rc;
}

void iso_key_fingerprint(const uint8_t key[ISO_KEY_LEN], char out[72])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(key, ISO_KEY_LEN, md, &len, EVP_sha256(), NULL);
    memcpy(out, "SHA256:", 7);
    iso_hex(md, 32, out + 7);
}

static iso_code db_fail(iso_vault *v, iso_err *err, const char *what)
{
    return iso_fail(err, ISO_EDB, "vault: %s: %s", what, sqlite3_errmsg(v->db));
}

void iso_vault_close(iso_vault *v)
{
    if (v == NULL)
        return;
    sqlite3_finalize(v->put);
    sqlite3_finalize(v->get);
    sqlite3_close(v->db);
    pthread_mutex_destroy(&v->mu);
    OPENSSL_cleanse(v->enc_key, sizeof v->enc_key);
    free(v);
}

static iso_code check_key(iso_vault *v, const uint8_t key[ISO_KEY_LEN], iso_err *err);

iso_code iso_vault_open(const char *data_dir, const uint8_t key[ISO_KEY_LEN], iso_vault **out,
                        iso_err *err)
{
    *out = NULL;
    iso_vault *v = calloc(1, sizeof *v);
    if (v == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&v->mu, NULL);
    iso_key_hmac(key, "isonode vault encryption key v1", "", v->enc_key);
    iso_path path;
    /* create it 0600 before SQLite does (SQLite would use the umask) */
    int fd = iso_layout_path(data_dir, ISO_DATA_VAULT, &path, err) == ISO_OK
                 ? open(path.s, O_RDWR | O_CREAT | O_CLOEXEC, 0600)
                 : -1;
    if (fd < 0) {
        iso_code rc = err->code ? err->code : iso_fail(err, ISO_EIO, "%s: %s", path.s, strerror(errno));
        iso_vault_close(v);
        return rc;
    }
    (void)fchmod(fd, 0600);
    close(fd);
    iso_code rc = ISO_OK;
    if (sqlite3_open_v2(path.s, &v->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        rc = db_fail(v, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(v->db, 10000);
    /* as durable as the store it re-identifies; the tables come from db/vault */
    static const char settings[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
    char *msg = NULL;
    if (sqlite3_exec(v->db, settings, NULL, NULL, &msg) != SQLITE_OK) {
        rc = iso_fail(err, ISO_EDB, "vault: %s", msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if ((rc = iso_db_migrate(v->db, "vault", iso_vault_schema_migrations,
                             iso_vault_schema_version, err)) != ISO_OK)
        goto fail;
    if (sqlite3_prepare_v2(v->db,
                           "INSERT OR IGNORE INTO vault(kind, pseudo, nonce, value) VALUES (?,?,?,?)",
                           -1, &v->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(v->db, "SELECT nonce, value FROM vault WHERE kind = ? AND pseudo = ?", -1,
                           &v->get, NULL) != SQLITE_OK) {
        rc = db_fail(v, err, "prepare");
        goto fail;
    }
    if ((rc = check_key(v, key, err)) != ISO_OK)
        goto fail;
    *out = v;
    return ISO_OK;
fail:
    iso_vault_close(v);
    return rc;
}

/* AES-256-GCM: out = ciphertext || 16-byte tag; aad = kind NUL pseudo. */
static int seal(const iso_vault *v, const char *kind, const char *pseudo, const char *plain,
                uint8_t nonce[12], uint8_t **out, int *out_len)
{
    int pl = (int)strlen(plain), len = 0, fin = 0, ok = 0;
    uint8_t *ct = malloc((size_t)pl + 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (ct == NULL || c == NULL || RAND_bytes(nonce, 12) != 1)
        goto done;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, v->enc_key, nonce) != 1 ||
        EVP_EncryptUpdate(c, NULL, &len, (const uint8_t *)kind, (int)strlen(kind) + 1) != 1 ||
        EVP_EncryptUpdate(c, NULL, &len, (const uint8_t *)pseudo, (int)strlen(pseudo)) != 1 ||
        EVP_EncryptUpdate(c, ct, &len, (const uint8_t *)plain, pl) != 1 ||
        EVP_EncryptFinal_ex(c, ct + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + len + fin) != 1)
        goto done;
    *out = ct;
    *out_len = len + fin + 16;
    ct = NULL;
    ok = 1;
done:
    free(ct);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static char *open_sealed(const iso_vault *v, const char *kind, const char *pseudo,
                         const uint8_t *nonce, const uint8_t *ct, int ct_len)
{
    if (ct_len < 16)
        return NULL;
    int n = ct_len - 16, len = 0, fin = 0;
    char *plain = malloc((size_t)n + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = plain != NULL && c != NULL &&
             EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, v->enc_key, nonce) == 1 &&
             EVP_DecryptUpdate(c, NULL, &len, (const uint8_t *)kind, (int)strlen(kind) + 1) == 1 &&
             EVP_DecryptUpdate(c, NULL, &len, (const uint8_t *)pseudo, (int)strlen(pseudo)) == 1 &&
             EVP_DecryptUpdate(c, (uint8_t *)plain, &len, ct, n) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(ct + n)) == 1 &&
             EVP_DecryptFinal_ex(c, (uint8_t *)plain + len, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(plain);
        return NULL;
    }
    plain[len + fin] = '\0';
    return plain;
}

static iso_code put_locked(iso_vault *v, const char *kind, const char *pseudo, const char *value,
                           iso_err *err)
{
    uint8_t nonce[12], *ct = NULL;
    int ct_len = 0;
    if (!seal(v, kind, pseudo, value, nonce, &ct, &ct_len))
        return iso_fail(err, ISO_EIO, "vault: encryption failed");
    sqlite3_reset(v->put);
    sqlite3_bind_text(v->put, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(v->put, 2, pseudo, -1, SQLITE_STATIC);
    sqlite3_bind_blob(v->put, 3, nonce, 12, SQLITE_STATIC);
    sqlite3_bind_blob(v->put, 4, ct, ct_len, SQLITE_STATIC);
    int rc = sqlite3_step(v->put);
    sqlite3_reset(v->put);
    free(ct);
    if (rc != SQLITE_DONE)
        return db_fail(v, err, "insert");
    return ISO_OK;
}

iso_code iso_vault_put_many(iso_vault *v, const char *const *kinds, const char *const *pseudos,
                            const char *const *values, int n, iso_err *err)
{
    pthread_mutex_lock(&v->mu);
    iso_code rc = ISO_OK;
    if (sqlite3_exec(v->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "begin");
    for (int i = 0; i < n && rc == ISO_OK; i++)
        rc = put_locked(v, kinds[i], pseudos[i], values[i], err);
    if (rc == ISO_OK && sqlite3_exec(v->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "commit");
    if (rc != ISO_OK)
        (void)sqlite3_exec(v->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

iso_code iso_vault_put(iso_vault *v, const char *kind, const char *pseudo, const char *value,
                       iso_err *err)
{
    return iso_vault_put_many(v, &kind, &pseudo, &value, 1, err);
}

iso_code iso_vault_get(iso_vault *v, const char *kind, const char *pseudo, char **value,
                       iso_err *err)
{
    *value = NULL;
    pthread_mutex_lock(&v->mu);
    sqlite3_reset(v->get);
    sqlite3_bind_text(v->get, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(v->get, 2, pseudo, -1, SQLITE_STATIC);
    int rc = sqlite3_step(v->get);
    iso_code out = ISO_OK;
    if (rc == SQLITE_ROW) {
        const uint8_t *nonce = sqlite3_column_blob(v->get, 0);
        int nl = sqlite3_column_bytes(v->get, 0);
        const uint8_t *ct = sqlite3_column_blob(v->get, 1);
        int cl = sqlite3_column_bytes(v->get, 1);
        if (nl != 12 || (*value = open_sealed(v, kind, pseudo, nonce, ct, cl)) == NULL)
            out = iso_fail(err, ISO_EIO, "vault: %s %s does not decrypt (wrong key or tampered)",
                           kind, pseudo);
    } else if (rc == SQLITE_DONE) {
        out = iso_fail(err, ISO_ENOTFOUND, "vault: no %s %s", kind, pseudo);
    } else {
        out = db_fail(v, err, "select");
    }
    sqlite3_reset(v->get);
    pthread_mutex_unlock(&v->mu);
    return out;
}

/* The vault remembers which key it was made with (a check value: 16 bytes
 * of an HMAC under the key, which reveals nothing of it).  A vault from
 * before the check value is checked by decrypting one of its rows. */
static iso_code check_key(iso_vault *v, const uint8_t key[ISO_KEY_LEN], iso_err *err)
{
    uint8_t check[32];
    iso_key_hmac(key, "isonode key check v1", "", check);
    static const char mismatch[] =
        "the installation key does not match this vault (it was made with another key): "
        "restore the key it was made with (isonode key shows a key's fingerprint)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(v->db, "SELECT value FROM vault_meta WHERE name = 'key_check'", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(v, err, "key check");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int same = sqlite3_column_bytes(st, 0) == 16 &&
                   memcmp(sqlite3_column_blob(st, 0), check, 16) == 0;
        sqlite3_finalize(st);
        return same ? ISO_OK : iso_fail(err, ISO_ECONFIG, "%s", mismatch);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(v, err, "key check");
    /* no check value yet: an older vault proves the key by one row */
    if (sqlite3_prepare_v2(v->db, "SELECT kind, pseudo, nonce, value FROM vault LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(v, err, "key check");
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *plain = sqlite3_column_bytes(st, 2) == 12
                          ? open_sealed(v, (const char *)sqlite3_column_text(st, 0),
                                        (const char *)sqlite3_column_text(st, 1),
                                        sqlite3_column_blob(st, 2), sqlite3_column_blob(st, 3),
                                        sqlite3_column_bytes(st, 3))
                          : NULL;
        sqlite3_finalize(st);
        if (plain == NULL)
            return iso_fail(err, ISO_ECONFIG, "%s", mismatch);
        OPENSSL_cleanse(plain, strlen(plain));
        free(plain);
    } else {
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return db_fail(v, err, "key check");
    }
    if (sqlite3_prepare_v2(v->db, "INSERT INTO vault_meta(name, value) VALUES ('key_check', ?)", -1,
                           &st, NULL) != SQLITE_OK)
        return db_fail(v, err, "key check");
    sqlite3_bind_blob(st, 1, check, 16, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? ISO_OK : db_fail(v, err, "key check");
}

iso_code iso_vault_schedule_expiry(iso_vault *v, const char *const *kinds,
                                   const char *const *pseudos, size_t n, long expires_at,
                                   iso_err *err)
{
    pthread_mutex_lock(&v->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_exec(v->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "begin");
    else if (sqlite3_prepare_v2(v->db,
                                "INSERT OR REPLACE INTO vault_expiry (kind, pseudo, expires_at) "
                                "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM vault WHERE kind = ?1 "
                                "AND pseudo = ?2)",
                                -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "prepare expiry");
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, kinds[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pseudos[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, expires_at);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(v, err, "schedule expiry");
    }
    sqlite3_finalize(st);
    if (rc == ISO_OK && sqlite3_exec(v->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "commit");
    if (rc != ISO_OK)
        (void)sqlite3_exec(v->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

iso_code iso_vault_expire(iso_vault *v, long now,
                          int (*still_needed)(void *user, const char *kind, const char *pseudo),
                          void *user, int *removed, iso_err *err)
{
    *removed = 0;
    enum { ROUND = 1024 };
    char(*kinds)[16] = calloc(ROUND, sizeof *kinds);
    char(*pseudos)[72] = calloc(ROUND, sizeof *pseudos);
    if (kinds == NULL || pseudos == NULL) {
        free(kinds);
        free(pseudos);
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    }
    int n = 0;
    iso_code rc = ISO_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&v->mu);
    if (sqlite3_prepare_v2(v->db, "SELECT kind, pseudo FROM vault_expiry WHERE expires_at <= ? LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(v, err, "prepare due");
    } else {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int(st, 2, ROUND);
        while (n < ROUND && sqlite3_step(st) == SQLITE_ROW) {
            snprintf(kinds[n], sizeof kinds[n], "%.15s", (const char *)sqlite3_column_text(st, 0));
            snprintf(pseudos[n], sizeof pseudos[n], "%.71s", (const char *)sqlite3_column_text(st, 1));
            n++;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&v->mu);
    /* the store's answer, without the vault's lock held */
    char *needed = calloc((size_t)(n > 0 ? n : 1), 1);
    if (needed == NULL)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < n; i++)
        needed[i] = (char)still_needed(user, kinds[i], pseudos[i]);
    pthread_mutex_lock(&v->mu);
    sqlite3_stmt *del = NULL, *drop = NULL;
    if (rc == ISO_OK && n > 0 &&
        (sqlite3_exec(v->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(v->db, "DELETE FROM vault WHERE kind = ? AND pseudo = ?", -1, &del,
                            NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(v->db, "DELETE FROM vault_expiry WHERE kind = ? AND pseudo = ?", -1,
                            &drop, NULL) != SQLITE_OK))
        rc = db_fail(v, err, "prepare expire");
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        sqlite3_stmt *which[2] = {drop, needed[i] ? NULL : del};
        for (int k = 0; k < 2 && rc == ISO_OK; k++) {
            if (which[k] == NULL)
                continue;
            sqlite3_reset(which[k]);
            sqlite3_bind_text(which[k], 1, kinds[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(which[k], 2, pseudos[i], -1, SQLITE_STATIC);
            if (sqlite3_step(which[k]) != SQLITE_DONE)
                rc = db_fail(v, err, "expire");
            else if (k == 1)
                *removed += sqlite3_changes(v->db);
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(drop);
    if (rc == ISO_OK && n > 0 && sqlite3_exec(v->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(v, err, "commit");
    if (rc != ISO_OK && n > 0)
        (void)sqlite3_exec(v->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&v->mu);
    free(needed);
    free(kinds);
    free(pseudos);
    return rc;
}
