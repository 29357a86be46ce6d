/* http.c — the daemon's HTTP server on libmicrohttpd (see http.h): who may
 * ask (the token), which page answers (/, /status.json, /thumb/..,
 * /metrics, /healthz), and /healthz itself.  The pages are written by
 * status.c and metrics_text.c. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "http/http_internal.h"
#include "store/layout.h"
#include "util/log.h"

iso_index *iso_http_index(iso_http *h, iso_err *err)
{
    pthread_mutex_lock(&h->mu);
    if (h->idx == NULL) {
        iso_path p;
        if (iso_layout_path(h->env.cfg->data_dir, ISO_DATA_INDEX, &p, err) != ISO_OK ||
            iso_index_open(p.s, true, &h->idx, err) != ISO_OK)
            h->idx = NULL;
    }
    return h->idx;
}

void iso_http_index_done(iso_http *h)
{
    pthread_mutex_unlock(&h->mu);
}

/* Constant-time equality of a presented secret with the token. */
static bool same_secret(const char *given, size_t given_len, const char *token)
{
    size_t n = strlen(token);
    return given_len == n && CRYPTO_memcmp(given, token, n) == 0;
}

/* "Bearer TOKEN" (scrapers, curl) or "Basic base64(ANY:TOKEN)" (a browser,
 * which asks its user once and then sends it with every request of the
 * page). */
static bool authorized(const iso_http *h, struct MHD_Connection *conn)
{
    if (h->token[0] == '\0')
        return true;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (auth == NULL)
        return false;
    if (strncmp(auth, "Bearer ", 7) == 0)
        return same_secret(auth + 7, strlen(auth + 7), h->token);
    if (strncmp(auth, "Basic ", 6) == 0) {
        const char *b64 = auth + 6;
        size_t n = strlen(b64);
        if (n == 0 || n > 1024 || n % 4 != 0)
            return false;
        unsigned char plain[800];
        int len = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n);
        if (len < 0)
            return false;
        /* EVP_DecodeBlock counts the '=' padding as zero bytes */
        for (size_t p = n; p > 0 && b64[p - 1] == '='; p--)
            len--;
        const unsigned char *colon = memchr(plain, ':', (size_t)len);
        if (colon == NULL)
            return false;
        const char *pw = (const char *)colon + 1;
        return same_secret(pw, (size_t)len - (size_t)(pw - (const char *)plain), h->token);
    }
    return false;
}

/* "" when healthy, else what is not. */
static void health(iso_http *h, char *why, size_t size)
{
    const iso_config *cfg = h->env.cfg;
    why[0] = '\0';
    iso_path tmp;
    iso_err e = {0};
    if (iso_layout_path(cfg->data_dir, ISO_DATA_TMP, &tmp, &e) != ISO_OK ||
        iso_path_fmt(&tmp, &e, "%s/healthz-%ld", tmp.s, (long)getpid()) != ISO_OK) {
        snprintf(why, size, "data_dir: %.400s\n", e.msg);
        return;
    }
    int fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "ok", 2) != 2) {
        snprintf(why, size, "data_dir is not writable: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp.s);
        return;
    }
    close(fd);
    unlink(tmp.s);
    iso_counts c;
    iso_index *idx = iso_http_index(h, &e);
    bool answers = idx != NULL && iso_index_counts(idx, &c, &e) == ISO_OK;
    iso_http_index_done(h);
    if (!answers) {
        snprintf(why, size, "the index does not answer: %.400s\n", e.msg);
        return;
    }
    struct statvfs v;
    if (statvfs(cfg->data_dir, &v) == 0) {
        double free_mb = (double)v.f_bavail * (double)v.f_frsize / 1048576.0;
        if (free_mb < (double)cfg->min_free_mb)
            snprintf(why, size, "%.0f MB free, below min_free_mb %ld\n", free_mb,
                     cfg->min_free_mb);
    }
}

/* /thumb/JOB/K.png: strictly that, numbers only. */
static bool thumb_path(const char *url, long long *job, int *k)
{
    char tail[8] = "";
    int used = 0;
    if (sscanf(url, "/thumb/%lld/%d%7s%n", job, k, tail, &used) != 3 || url[used] != '\0' ||
        strcmp(tail, ".png") != 0)
        return false;
    return *job > 0 && *k >= 1 && *k <= 64;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               void *body, size_t len, const char *cache, bool ask_password)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", cache);
    /* the page is ours alone: no framing, no sniffing, no outside script */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src "
                            "'unsafe-inline'; img-src 'self'; connect-src 'self'");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (ask_password)
        MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"isonode\", charset=\"UTF-8\"");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg,
                            bool ask_password)
{
    char *body = strdup(msg);
    if (body == NULL)
        return MHD_NO;
    return respond(conn, status, "text/plain; charset=utf-8", body, strlen(body), "no-store",
                   ask_password);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    iso_http *h = cls;
    if (!authorized(h, conn))
        return text(conn, MHD_HTTP_UNAUTHORIZED,
                    "a token is needed: Authorization: Bearer TOKEN (or the token as the "
                    "password)\n",
                    true);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", false);
    size_t len = 0;
    long long job = 0;
    int k = 0;
    if (strcmp(url, "/") == 0) {
        char *body = strdup(iso_http_status_page);
        if (body == NULL)
            return MHD_NO;
        return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8", body, strlen(body),
                       "no-store", false);
    }
    if (strcmp(url, "/status.json") == 0) {
        char *body = iso_http_status_json(h, &len);
        if (body == NULL)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
        return respond(conn, MHD_HTTP_OK, "application/json", body, len, "no-store", false);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *body = iso_http_metrics_text(h, &len);
        if (body == NULL)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
        return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                       "no-store", false);
    }
    if (strcmp(url, "/healthz") == 0) {
        char why[512];
        health(h, why, sizeof why);
        return text(conn, why[0] ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                    why[0] ? why : "ok\n", false);
    }
    if (thumb_path(url, &job, &k)) {
        uint8_t *png = NULL;
        iso_err e = {0};
        iso_code rc = iso_http_thumbnail(h, job, k, &png, &len, &e);
        if (rc == ISO_OK) /* a job's results never change: the browser may keep it */
            return respond(conn, MHD_HTTP_OK, "image/png", png, len, "private, max-age=86400",
                           false);
        if (rc != ISO_ENOTFOUND)
            ISO_WARN("http: preview %lld/%d: %s", job, k, e.msg);
        return text(conn, rc == ISO_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR,
                    "no such view\n", false);
    }
    return text(conn, MHD_HTTP_NOT_FOUND,
                "not found: /, /status.json, /metrics, /healthz, /thumb/JOB/K.png\n", false);
}
iso_code iso_http_start(const iso_http_env *env, iso_http **out, iso_err *err)
{
    *out = NULL;
    const iso_config *cfg = env->cfg;
    if (cfg->http_port == 0)
        return ISO_OK;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->http_port);
    if (inet_pton(AF_INET, cfg->http_bind, &sa.sin_addr) != 1)
        return iso_fail(err, ISO_ECONFIG, "[http] bind '%s' is not an IPv4 address", cfg->http_bind);
    iso_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    h->env = *env;
    pthread_mutex_init(&h->mu, NULL);
    if (gethostname(h->host, sizeof h->host - 1) != 0)
        snprintf(h->host, sizeof h->host, "?");
    if (cfg->http_token_file[0] != '\0') {
        FILE *f = fopen(cfg->http_token_file, "r");
        if (f == NULL || fgets(h->token, sizeof h->token, f) == NULL) {
            if (f != NULL)
                fclose(f);
            free(h);
            return iso_fail(err, ISO_ECONFIG, "[http] token_file %s cannot be read",
                            cfg->http_token_file);
        }
        fclose(f);
        h->token[strcspn(h->token, "\r\n")] = '\0';
        if (strlen(h->token) < 16) {
            free(h);
            return iso_fail(err, ISO_ECONFIG, "[http] token_file %s: the token is shorter than "
                                              "16 characters", cfg->http_token_file);
        }
    }
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                            (uint16_t)cfg->http_port, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (h->d == NULL) {
        free(h);
        return iso_fail(err, ISO_ENET, "cannot listen for HTTP on %s:%ld", cfg->http_bind,
                        cfg->http_port);
    }
    ISO_INFO("http: the status page, /metrics and /healthz on %s:%ld%s", cfg->http_bind,
             cfg->http_port, h->token[0] ? " (token required)" : "");
    *out = h;
    return ISO_OK;
}

void iso_http_stop(iso_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    iso_index_close(h->idx);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
