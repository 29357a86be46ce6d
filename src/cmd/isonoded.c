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
#include "dicom/dicom.h"
#include "jobs/completion.h"
#include "jobs/queue.h"
#include "jobs/runner.h"
#include "net/scp.h"
#include "store/layout.h"
#include "store/store.h"
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

/* The SCP tells the completion tracker what arrived and when associations end. */
static void on_stored(void *user, uint64_t assoc, const iso_attrs *a, const char *calling_ae,
                      int duplicate)
{
    iso_err err = {0};
    if (iso_completion_stored(user, assoc, a->series_uid, calling_ae, a->images_in_acquisition,
                              duplicate, iso_mono_seconds(), &err) != ISO_OK)
        ISO_ERROR("series completion: %s (the series is picked up at the next start)", err.msg);
}

static void on_assoc_end(void *user, uint64_t assoc)
{
    iso_completion_assoc_end(user, assoc);
}

/* Does any route forward de-identified copies? */
static bool forwards_anonymized(const iso_config *cfg)
{
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (cfg->routes[i].forward_anonymized_to[0] != '\0')
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool dump = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--dump-config") == 0)
            dump = true;
        else if (strcmp(argv[i], "--list-keys") == 0) {
            for (size_t k = 0; k < iso_config_nkeys; k++)
                printf("%s %s\n", iso_config_keys[k].section, iso_config_keys[k].key);
            return 0;
        }
        else if (strcmp(argv[i], "--version") == 0) {
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

    int status = 1;
    iso_store *store = NULL;
    iso_scp *scp = NULL;
    iso_anon *anon = NULL, *forward_anon = NULL;
    uint8_t install_key[ISO_KEY_LEN];
    iso_jobs *jobs = NULL;
    iso_completion *completion = NULL;
    iso_runner *runner = NULL;
    iso_deliverer *deliverer = NULL;
    if (iso_dcm_init(&err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
        goto out;
    }
    iso_store_options so = {cfg.data_dir, cfg.duplicates, cfg.min_free_mb};
    iso_recovery_report rec;
    if (iso_store_open(&so, &store, &rec, &err) != ISO_OK) {
        ISO_ERROR("cannot open store: %s", err.msg);
        goto out;
    }
    /* Every later parse of peer data (ingest, jobs, forwarding) applies
     * these; inflated copies go to the store's tmp/, which recovery empties. */
    iso_path parse_tmp;
    if (iso_layout_path(cfg.data_dir, ISO_DATA_TMP, &parse_tmp, &err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
        goto out;
    }
    iso_dcm_limits limits = {(int)cfg.max_nesting, (unsigned long long)cfg.max_object_mb << 20,
                             cfg.max_inflate_ratio, parse_tmp.s};
    if (iso_dcm_set_limits(&limits, &err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
        goto out;
    }
    if (rec.was_unclean)
        ISO_WARN("store recovered after unclean stop: %u partial files and %u unacknowledged "
                 "objects removed",
                 rec.tmp_removed, rec.orphans_removed);
    /* the installation key keys derived UIDs even where nothing is
     * de-identified, so no two nodes mint the same UID */
    if (iso_key_for(cfg.data_dir, cfg.an_key_path, install_key, &err) != ISO_OK) {
        ISO_ERROR("cannot load the installation key: %s", err.msg);
        goto out;
    }
    if (cfg.an_enabled) {
        iso_anon_options ao;
        iso_anon_options_from_config(&cfg, &ao);
        if (iso_anon_open(cfg.data_dir, &ao, &anon, &err) != ISO_OK) {
            ISO_ERROR("cannot start de-identification: %s", err.msg);
            goto out;
        }
    }
    if (iso_deliverer_start(&cfg, &deliverer, &err) != ISO_OK) {
        ISO_ERROR("cannot start delivery: %s", err.msg);
        goto out;
    }
    if (!cfg.an_enabled && forwards_anonymized(&cfg)) {
        iso_anon_options ao;
        iso_anon_options_from_config(&cfg, &ao);
        if (iso_anon_open(cfg.data_dir, &ao, &forward_anon, &err) != ISO_OK) {
            ISO_ERROR("cannot start de-identification for forwarding: %s", err.msg);
            goto out;
        }
    }
    int recovered = 0;
    if (iso_jobs_open(cfg.data_dir, 0, &jobs, &recovered, &err) != ISO_OK ||
        iso_completion_new(&completion, &err) != ISO_OK) {
        ISO_ERROR("cannot open the job queue: %s", err.msg);
        goto out;
    }
    if (recovered > 0)
        ISO_WARN("jobs: %d job(s) interrupted by the last stop run again", recovered);
    iso_job_env env = {.cfg = &cfg,
                       .store = store,
                       .outbox = iso_deliverer_outbox(deliverer),
                       .anon = anon,
                       .forward_anon = forward_anon,
                       .key = &install_key[0],
                       .jobs = jobs,
                       .kick = iso_deliverer_kick,
                       .kick_ctx = deliverer};
    if (iso_runner_start(&env, jobs, completion, &runner, &err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
        goto out;
    }
    iso_scp_observer obs = {completion, on_stored, on_assoc_end};
    if (iso_scp_start(&cfg, store, anon, &obs, &scp, &err) != ISO_OK) {
        ISO_ERROR("%s", err.msg);
        goto out;
    }
    ISO_INFO("isonoded %s listening on %s:%ld as %s, data in %s, config %s", PACKAGE_VERSION,
             cfg.bind, cfg.port, cfg.ae_title, cfg.data_dir,
             cfg.source[0] ? cfg.source : "(built-in defaults)");
    notify("READY=1\nSTATUS=accepting associations");

    uint64_t watchdog_usec = 0;
#ifdef HAVE_SYSTEMD
    if (!cfg.watchdog || sd_watchdog_enabled(0, &watchdog_usec) <= 0)
        watchdog_usec = 0;
#endif
    for (;;) {
        struct timespec wait = {1, 0};
        if (watchdog_usec > 0 && watchdog_usec / 2 < 1000000) {
            wait.tv_sec = 0;
            wait.tv_nsec = (long)(watchdog_usec / 2 * 1000);
        }
        int sig = sigtimedwait(&sigs, NULL, &wait);
        if (watchdog_usec > 0)
            notify("WATCHDOG=1");
        if (sig == SIGTERM || sig == SIGINT) {
            ISO_INFO("signal %d: stopping (in-flight associations get %ld s)", sig,
                     cfg.shutdown_timeout);
            break;
        }
        if (sig == SIGHUP)
            ISO_INFO("SIGHUP ignored: restart the service to apply configuration changes");
    }
    notify("STOPPING=1");
    status = 0;
out:
    iso_scp_stop(scp);
    iso_runner_stop(runner);
    iso_completion_free(completion);
    iso_jobs_close(jobs);
    iso_deliverer_stop(deliverer);
    iso_store_close(store);
    iso_anon_close(anon);
    iso_anon_close(forward_anon);
    if (status == 0)
        ISO_INFO("stopped cleanly");
    iso_config_free(&cfg);
    return status;
}
