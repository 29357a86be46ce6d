/* isonoded.c — the daemon's main: parse arguments, load the configuration,
 * start the modules in dependency order (log, dicom, store, the key, anon,
 * delivery, jobs and their threads, scp), tell systemd we are ready, wait
 * for a signal, then stop them: the SCP first (no new work), the job
 * runner (running jobs finish and queue their deliveries), the queue,
 * delivery, the store, and the de-identifiers last.
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigtimedwait, which also paces the systemd watchdog keep-alive.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config/config.h"
#include "anon/vault.h"
#include "deliver/deliverer.h"
#include "deliver/commit_requests.h"
#include "derive/derive.h"
#include "http/http.h"
#include "retention/retention.h"
#include "deliver/commitments.h"
#include "dicom/dicom.h"
#include "jobs/completion.h"
#include "jobs/queue.h"
#include "jobs/runner.h"
#include "net/scp.h"
#include "store/layout.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/clock.h"
#include "util/log.h"

static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
    (void)sd_notify(0, state);
#else
    (void)state;
#endif
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: isonoded [-c FILE] [--dump-config] [--list-keys] [--version]\n"
            "  -c FILE          configuration file (INI); without it the built-in defaults apply\n"
            "  --dump-config    print the effective configuration and exit\n"
            "  --list-keys      print every configuration key (section key) and exit\n"
            "  --version        print the version and exit\n"
            "Runs in the foreground and logs to stderr; stops on SIGTERM or SIGINT.\n");
}

/* Who hears what the SCP sees: the completion tracker (what arrived, when
 * associations end) and delivery (storage commitment requests). */
typedef struct listeners {
    const iso_config *cfg;
    iso_completion *completion;
    iso_deliverer *deliverer;
    pthread_mutex_t mu;          /* guards last_ours */
    char last_ours[65];          /* the last series of the node's own results that came back */
} listeners;

static void on_stored(void *user, uint64_t assoc, const iso_attrs *a, const char *calling_ae,
                      int duplicate)
{
    listeners *l = user;
    iso_err err = {0};
    if (iso_derive_is_ours(a)) {
        /* the node's own results, come back: stored, and no job (one log
         * line per series, not per instance) */
        pthread_mutex_lock(&l->mu);
        bool news = strcmp(l->last_ours, a->series_uid) != 0;
        if (news)
            snprintf(l->last_ours, sizeof l->last_ours, "%s", a->series_uid);
        pthread_mutex_unlock(&l->mu);
        if (news)
            ISO_INFO("series %s from %s is the node's own reconstruction results (Manufacturer "
                     "%s, %s): stored, no job", a->series_uid, calling_ae, a->manufacturer,
                     a->model);
        return;
    }
    if (iso_completion_stored(l->completion, assoc, a->series_uid, calling_ae, a->images_in_acquisition,
                              duplicate, iso_mono_seconds(), &err) != ISO_OK)
        ISO_ERROR("series completion: %s (the series is picked up at the next start)", err.msg);
}

/* How long the delivery thread leaves a new transaction to its requester's
 * own association: the idle second, the check, and the answer's timeout. */
static long report_hold_seconds(const iso_config *cfg)
{
    return 2 * cfg->dimse_timeout + 60;
}

/* A storage commitment request: recorded in the outbox's database before
 * it is answered; reported on the requester's association if it waits
 * there, otherwise by the delivery thread. */
static iso_code on_commit(void *user, const char *requester, const char *transaction_uid,
                          const iso_commit_item *items, const char *const *stored_uids, size_t n,
                          iso_err *err)
{
    listeners *l = user;
    return iso_commit_record(iso_deliverer_outbox(l->deliverer), requester, transaction_uid,
                             items, stored_uids, n, (long)time(NULL) + report_hold_seconds(l->cfg),
                             err);
}

static int on_commit_here(void *user, const char *requester, const char *transaction_uid,
                          iso_commit_send_fn send, void *sctx)
{
    listeners *l = user;
    bool sent = false;
    iso_err err = {0};
    if (iso_commit_report_here(iso_deliverer_outbox(l->deliverer), l->cfg, requester,
                               transaction_uid, send, sctx, (long)time(NULL), &sent,
                               &err) != ISO_OK)
        ISO_ERROR("storage commitment %s: %s (the report follows on a new association)",
                  transaction_uid, err.msg);
    if (!sent)
        iso_deliverer_kick(l->deliverer);
    return sent ? 0 : -1;
}

/* A peer's report on what the node asked it to commit. */
static uint16_t on_commit_report(void *user, const char *dest, const char *transaction_uid,
                                 const iso_commit_item *items, size_t n, char *comment,
                                 size_t comment_size)
{
    listeners *l = user;
    return iso_commit_report_received(iso_deliverer_outbox(l->deliverer), l->cfg, dest,
                                      transaction_uid, items, n, (long)time(NULL), comment,
                                      comment_size);
}

static void on_assoc_end(void *user, uint64_t assoc)
{
    iso_completion_assoc_end(((listeners *)user)->completion, assoc);
}

/* Does any route forward de-identified copies? */
static bool forwards_anonymized(const iso_config *cfg)
{
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (cfg->routes[i].forward_anonymized_to[0] != '\0')
            return true;
    return false;
}

/* Everything the daemon runs, in start order. */
typedef struct node {
    const iso_config *cfg;
    iso_store *store;
    uint8_t install_key[ISO_KEY_LEN];
    iso_anon *anon, *forward_anon;
    iso_tls *tls; /* NULL: no TLS listener and no peer with tls = yes */
    iso_deliverer *deliverer;
    iso_jobs *jobs;
    iso_completion *completion;
    iso_runner *runner;
    listeners listen; /* what the SCP's observer reaches */
    iso_scp *scp;
    iso_retention *retention; /* NULL: no [retention] rule */
    iso_metrics metrics;      /* what /metrics counts */
    iso_http *http;           /* NULL: [http] port 0 */
} node;

/* The store, and the parse limits every later parse of peer data applies
 * (inflated copies go to the store's tmp/, which recovery empties). */
static iso_code open_store(node *n, iso_err *err)
{
    const iso_config *cfg = n->cfg;
    iso_store_options so = {cfg->data_dir, cfg->duplicates, cfg->min_free_mb};
    iso_recovery_report rec;
    if (iso_store_open(&so, &n->store, &rec, err) != ISO_OK) {
        iso_err_context(err, "cannot open store");
        return err->code;
    }
    if (rec.was_unclean)
        ISO_WARN("store recovered after unclean stop: %u partial files, %u unacknowledged "
                 "objects and %u kept originals without an object removed",
                 rec.tmp_removed, rec.orphans_removed, rec.originals_removed);
    iso_path parse_tmp;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_TMP, &parse_tmp, err) != ISO_OK)
        return err->code;
    iso_dcm_limits limits = {(int)cfg->max_nesting, (unsigned long long)cfg->max_object_mb << 20,
                             cfg->max_inflate_ratio, parse_tmp.s};
    return iso_dcm_set_limits(&limits, err);
}

/* The installation key (it keys derived UIDs even where nothing is
 * de-identified, so no two nodes mint the same UID) and the de-identifiers:
 * the store's, and one for forward_anonymized_to when the store keeps
 * identity. */
static iso_code open_anon(node *n, iso_err *err)
{
    const iso_config *cfg = n->cfg;
    if (iso_key_for(cfg->data_dir, cfg->an_key_path, n->install_key, err) != ISO_OK) {
        iso_err_context(err, "cannot load the installation key");
        return err->code;
    }
    if (!cfg->an_enabled && !forwards_anonymized(cfg))
        return ISO_OK;
    iso_anon_options ao;
    iso_anon_options_from_config(cfg, &ao);
    if (iso_anon_open(cfg->data_dir, &ao, cfg->an_enabled ? &n->anon : &n->forward_anon, err) !=
        ISO_OK)
        iso_err_context(err, "cannot start de-identification");
    return err->code;
}

/* Warns in the log when the node's certificate expires within 30 days. */
static void check_certificate(iso_tls *tls)
{
    long days = 0;
    iso_err e = {0};
    if (tls == NULL || iso_tls_days_left(tls, &days, &e) != ISO_OK)
        return;
    if (days < 0)
        ISO_ERROR("tls: the node's certificate expired %ld day(s) ago: peers refuse it; renew "
                  "it and send SIGHUP", -days);
    else if (days <= 30)
        ISO_WARN("tls: the node's certificate expires in %ld day(s): renew it and send SIGHUP",
                 days);
}

/* The TLS contexts, when anything uses TLS ([node] tls_port or a peer with
 * tls = yes). */
static iso_code open_tls(node *n, iso_err *err)
{
    if (!iso_tls_wanted(n->cfg))
        return ISO_OK;
    if (iso_tls_open(n->cfg, &n->tls, err) != ISO_OK) {
        iso_err_context(err, "cannot set up TLS");
        return err->code;
    }
    check_certificate(n->tls);
    return ISO_OK;
}

/* SIGHUP: the certificate, key, CAs and CRLs again; associations in
 * progress keep what they began with. */
static void reload_tls(node *n)
{
    if (n->tls == NULL) {
        ISO_INFO("SIGHUP: no TLS in use; restart the service to apply configuration changes");
        return;
    }
    iso_err e = {0};
    if (iso_tls_reload(n->tls, &e) != ISO_OK) {
        ISO_ERROR("SIGHUP: TLS files not reloaded, the previous ones stay in use: %s", e.msg);
        return;
    }
    long days = 0;
    iso_err de = {0};
    if (iso_tls_days_left(n->tls, &days, &de) == ISO_OK)
        ISO_INFO("SIGHUP: TLS certificate, key, CAs and CRLs reloaded (certificate valid for %ld "
                 "more day(s))", days);
    else
        ISO_INFO("SIGHUP: TLS CAs and CRLs reloaded");
    check_certificate(n->tls);
}

/* Delivery, the job queue and its threads, then the SCP: work can arrive
 * only once everything downstream of it runs. */
static iso_code start_work(node *n, iso_err *err)
{
    const iso_config *cfg = n->cfg;
    /* nothing is counted unless /metrics can be read */
    iso_metrics *counting = cfg->http_port != 0 ? &n->metrics : NULL;
    if (iso_deliverer_start(cfg, n->tls, counting, &n->deliverer, err) != ISO_OK) {
        iso_err_context(err, "cannot start delivery");
        return err->code;
    }
    int recovered = 0;
    if (iso_jobs_open(cfg->data_dir, 0, &n->jobs, &recovered, err) != ISO_OK ||
        iso_completion_new(&n->completion, err) != ISO_OK) {
        iso_err_context(err, "cannot open the job queue");
        return err->code;
    }
    if (recovered > 0)
        ISO_WARN("jobs: %d job(s) interrupted by the last stop run again", recovered);
    iso_job_env env = {.cfg = cfg,
                       .store = n->store,
                       .outbox = iso_deliverer_outbox(n->deliverer),
                       .anon = n->anon,
                       .forward_anon = n->forward_anon,
                       .key = &n->install_key[0],
                       .jobs = n->jobs,
                       .kick = iso_deliverer_kick,
                       .kick_ctx = n->deliverer,
                       .metrics = counting};
    if (iso_runner_start(&env, n->jobs, n->completion, &n->runner, err) != ISO_OK)
        return err->code;
    n->listen = (listeners){n->cfg, n->completion, n->deliverer, PTHREAD_MUTEX_INITIALIZER, ""};
    iso_scp_observer obs = {&n->listen, on_stored,     on_assoc_end,     on_commit,
                            on_commit_here, on_commit_report, counting};
    if (iso_scp_start(cfg, n->store, n->anon, n->tls, &obs, &n->scp, err) != ISO_OK)
        return err->code;
    iso_retention_env re = {cfg, n->store, n->jobs, iso_deliverer_outbox(n->deliverer),
                            n->anon != NULL ? iso_anon_vault(n->anon) : NULL, counting};
    if (iso_retention_start(&re, &n->retention, err) != ISO_OK)
        return err->code;
    iso_http_env he = {cfg,       &n->metrics, n->jobs, iso_deliverer_outbox(n->deliverer),
                       n->runner, &n->install_key[0]};
    return iso_http_start(&he, &n->http, err);
}

/* The stop order: no new work, running jobs finish and queue their
 * deliveries, delivery finishes its round, the store drains, and the
 * de-identifiers (which the SCP and jobs used) go last. */
static void stop_node(node *n)
{
    iso_http_stop(n->http); /* first: it reads the jobs and the outbox */
    iso_retention_stop(n->retention); /* it uses the store, the jobs and the outbox */
    iso_scp_stop(n->scp);
    iso_runner_stop(n->runner);
    iso_completion_free(n->completion);
    iso_jobs_close(n->jobs);
    iso_deliverer_stop(n->deliverer);
    iso_store_close(n->store);
    iso_anon_close(n->anon);
    iso_anon_close(n->forward_anon);
    iso_tls_free(n->tls);
}

/* Until SIGTERM or SIGINT (sigs blocked in every thread), keeping systemd's
 * watchdog fed; SIGHUP reloads the TLS files, and the certificate's expiry
 * is looked at once a day. */
static void wait_for_stop(node *n, const sigset_t *sigs)
{
    const iso_config *cfg = n->cfg;
    long last_check = (long)time(NULL);
    uint64_t watchdog_usec = 0;
#ifdef HAVE_SYSTEMD
    if (!cfg->watchdog || sd_watchdog_enabled(0, &watchdog_usec) <= 0)
        watchdog_usec = 0;
#endif
    for (;;) {
        struct timespec wait = {1, 0};
        if (watchdog_usec > 0 && watchdog_usec / 2 < 1000000) {
            wait.tv_sec = 0;
            wait.tv_nsec = (long)(watchdog_usec / 2 * 1000);
        }
        int sig = sigtimedwait(sigs, NULL, &wait);
        if (watchdog_usec > 0)
            notify("WATCHDOG=1");
        if (sig == SIGTERM || sig == SIGINT) {
            ISO_INFO("signal %d: stopping (in-flight associations get %ld s)", sig,
                     cfg->shutdown_timeout);
            return;
        }
        if (sig == SIGHUP)
            reload_tls(n);
        if ((long)time(NULL) - last_check >= 86400) {
            check_certificate(n->tls);
            last_check = (long)time(NULL);
        }
    }
}

/* Arguments: -1 to go on and run, else the exit status. */
static int parse_args(int argc, char **argv, const char **config_path, bool *dump)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            *config_path = argv[++i];
        } else if (strcmp(argv[i], "--dump-config") == 0) {
            *dump = true;
        } else if (strcmp(argv[i], "--list-keys") == 0) {
            for (size_t k = 0; k < iso_config_nkeys; k++)
                printf("%s %s\n", iso_config_keys[k].section, iso_config_keys[k].key);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("isonoded %s\n", PACKAGE_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool dump = false;
    int status = parse_args(argc, argv, &config_path, &dump);
    if (status >= 0)
        return status;
    iso_config cfg;
    iso_err err = {0};
    if (iso_config_init(&cfg, config_path, &err) != ISO_OK) {
        fprintf(stderr, "isonoded: %s\n", err.msg);
        return 2;
    }
    if (dump) {
        iso_config_dump(&cfg, stdout);
        iso_config_free(&cfg);
        return 0;
    }
    iso_log_init(cfg.log_level);

    /* Every thread created from here on inherits this mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    node n = {.cfg = &cfg};
    iso_metrics_init(&n.metrics, (long)time(NULL));
    status = 1;
    if (iso_dcm_init(&err) != ISO_OK || open_store(&n, &err) != ISO_OK ||
        open_anon(&n, &err) != ISO_OK || open_tls(&n, &err) != ISO_OK ||
        start_work(&n, &err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
    } else {
        char ports[64];
        if (cfg.port != 0 && cfg.tls_port != 0)
            snprintf(ports, sizeof ports, "port %ld, TLS port %ld", cfg.port, cfg.tls_port);
        else if (cfg.port != 0)
            snprintf(ports, sizeof ports, "port %ld", cfg.port);
        else
            snprintf(ports, sizeof ports, "TLS port %ld only", cfg.tls_port);
        ISO_INFO("isonoded %s listening on %s (%s) as %s, data in %s, config %s", PACKAGE_VERSION,
                 cfg.bind, ports, cfg.ae_title, cfg.data_dir,
                 cfg.source[0] ? cfg.source : "(built-in defaults)");
        notify("READY=1\nSTATUS=accepting associations");
        wait_for_stop(&n, &sigs);
        notify("STOPPING=1");
        status = 0;
    }
    stop_node(&n);
    if (status == 0)
        ISO_INFO("stopped cleanly");
    iso_config_free(&cfg);
    return status;
}
