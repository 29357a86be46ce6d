/* tls.h — DICOM TLS (PS3.15 Annex B) for every association the node accepts
 * or opens, over OpenSSL's own API.
 *
 * Design note.  An iso_tls holds two OpenSSL contexts built from [tls]: one
 * for accepting (the node's certificate; client certificates verified as
 * verify_peer says) and one for connecting (the same certificate as the
 * client's; the server's chain verified against the trusted CAs, then its
 * host name or pinned fingerprint).  Both follow the profile: TLS 1.2 or
 * newer, ECDHE with AEAD ciphers, the TLS 1.3 suites, no renegotiation, no
 * compression, no session tickets.
 *
 * Handshakes run in the caller's thread on a non-blocking socket, each
 * bounded by a deadline (acse_timeout), so a stalled or hostile handshake
 * costs only its own connection; a failure comes back as one line saying
 * why (OpenSSL's reason, or the certificate check that failed).
 *
 * iso_tls_reload builds both contexts again from the same files (SIGHUP);
 * sessions already established keep the context they began with (OpenSSL
 * reference-counts it), new ones get the new one.  If the files do not load,
 * the old contexts stay and the error is returned.  Private keys are read
 * by OpenSSL straight from their file: never logged, never copied.
 */
#ifndef ISO_TLS_H
#define ISO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ssl_st; /* OpenSSL's SSL */

typedef struct iso_tls iso_tls;

/* Does this configuration use TLS at all (a TLS listener, or a peer with
 * tls = yes)? */
bool iso_tls_wanted(const iso_config *cfg);

/* Builds the contexts from cfg's [tls] (cfg must outlive the iso_tls). */
iso_code iso_tls_open(const iso_config *cfg, iso_tls **out, iso_err *err);
iso_code iso_tls_reload(iso_tls *t, iso_err *err);
void iso_tls_free(iso_tls *t);

/* Days until the node's certificate expires (negative: expired), in *days;
 * ISO_ENOTFOUND without a certificate.  A file's own: iso_tls_file_days. */
iso_code iso_tls_days_left(iso_tls *t, long *days, iso_err *err);
iso_code iso_tls_file_days(const char *pem_path, long *days, char *subject, size_t subject_size,
                           iso_err *err);

/* Server side: the handshake on an accepted socket, within timeout_ms.
 * On success *out is the session (the socket is left non-blocking: read
 * and write through iso_tls_read / iso_tls_write, or the adapter's
 * connection).  why names what went wrong, for one log line. */
iso_code iso_tls_accept(iso_tls *t, int fd, long timeout_ms, struct ssl_st **out, iso_err *err);

/* Client side: the handshake on a connected socket to host, verifying the
 * server's certificate (chain, then pin_sha256 if not empty, else host). */
iso_code iso_tls_connect(iso_tls *t, int fd, const char *host, const char *pin_sha256,
                         long timeout_ms, struct ssl_st **out, iso_err *err);

/* Reads up to n bytes (at least 1) within timeout_ms: >0 bytes, 0 on a
 * clean close, -1 on error, -2 if nothing came within timeout_ms (why in
 * err for both). */
long iso_tls_read(struct ssl_st *s, void *buf, size_t n, long timeout_ms, iso_err *err);
/* Writes all n bytes within timeout_ms; ISO_OK or ISO_ENET. */
iso_code iso_tls_write(struct ssl_st *s, const void *buf, size_t n, long timeout_ms,
                       iso_err *err);
/* Bytes already decrypted and waiting in the session. */
int iso_tls_pending(struct ssl_st *s);

/* The peer's certificate: SHA-256 of its DER (64 hex) and subject (RFC
 * 2253); false if it sent none. */
bool iso_tls_peer_sha256(struct ssl_st *s, char out[65]);
bool iso_tls_peer_subject(struct ssl_st *s, char *out, size_t size);
/* Protocol and cipher, for the log ("TLSv1.3 TLS_AES_256_GCM_SHA384"). */
void iso_tls_describe(struct ssl_st *s, char *out, size_t size);

/* A close_notify if it can go at once, then frees the session (NULL is
 * accepted); the socket is the caller's. */
void iso_tls_end(struct ssl_st *s);

#ifdef __cplusplus
}
#endif

#endif
