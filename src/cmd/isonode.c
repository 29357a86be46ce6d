/* isonode.c — the operator's command line: arguments in, module calls, text
 * or JSON out.  Reads the same configuration file as the daemon so that it
 * finds the same data directory and peers.
 *
 *   isonode [-c FILE] status
 *   isonode [-c FILE] ls patients|studies|series|instances [KEYWORD=GLOB...] [--json]
 *   isonode [-c FILE] show UID
 *   isonode [-c FILE] verify
 *   isonode [-c FILE] echo PEER
 *   isonode [-c FILE] send PEER UID...
 *   isonode [-c FILE] vault lookup UID|PSEUDONYMOUS_PATIENT_ID
 *   isonode [-c FILE] outbox [list [--json] | retry ID|all | purge | add PEER FILE...]
 *   isonode [-c FILE] jobs [list [--json] | show ID | retry ID | cancel ID]
 *   isonode reconstruct SERIES_DIR --out DIR [options]   (reconstruct.c)
 */

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/reconstruct.h"
#include "anon/vault.h"
#include "deliver/commit_requests.h"
#include "deliver/commitments.h"
#include "retention/retention.h"
#include "store/store.h"
#include "deliver/outbox.h"
#include "net/peer.h"
#include "tls/tls.h"
#include "jobs/queue.h"
#include "config/config.h"
#include "dicom/dicom.h"
#include "store/index.h"
#include "store/verify.h"
#include "util/fsx.h"
#include "util/json.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: isonode [-c FILE] COMMAND [ARGS]\n"
                 "  status                                  counts, disk use, free space, uptime\n"
                 "  ls patients|studies|series|instances [KEYWORD=GLOB...] [--json]\n"
                 "  show UID                                a patient ID, study, series or "
                 "instance\n"
                 "  verify                                  index and files agree (exit 0) or "
                 "not (1)\n"
                 "  echo PEER                               C-ECHO to a [peer] section\n"
                 "  send PEER UID...                        C-STORE studies/series/instances\n"
                 "  outbox [list [--json]|retry ID|all|purge|add PEER FILE...]  delivery queue\n"
                 "  jobs [list [--json]|show ID|retry ID|cancel ID]  reconstruction and routing jobs\n"
                 "  purge [--dry-run] [--older-than DAYS|--study UID]  remove studies by the "
                 "[retention] rules\n"
                 "  vault lookup UID|PATIENT_ID             original identity behind a "
                 "de-identified UID or pseudonym\n"
                 "  key [FILE]                              the installation key's file and "
                 "fingerprint\n"
                 "  reconstruct SERIES_DIR --out DIR [...]  meshes, pictures and a report from a "
                 "series\n");
}

/* The store's index, read-only; NULL after printing why. */
static iso_index *open_index(const iso_config *cfg)
{
    iso_path path;
    iso_err err = {0};
    iso_index *idx = NULL;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &path, &err) != ISO_OK)
        ;
    else if (access(path.s, F_OK) != 0)
        iso_fail(&err, ISO_ENOTFOUND, "no index at %s (has isonoded run with this data_dir?)",
                 path.s);
    else
        iso_index_open(path.s, true, &idx, &err);
    if (idx == NULL)
        fprintf(stderr, "isonode: %s\n", err.msg);
    return idx;
}

/* isonode key [FILE]: where the installation key is and its fingerprint
 * (to compare a backup with the key in use without showing either). */
static int cmd_key(const iso_config *cfg, int argc, char **argv)
{
    if (argc > 1) {
        usage(stderr);
        return 2;
    }
    iso_path path;
    uint8_t key[ISO_KEY_LEN];
    iso_err err = {0};
    if ((argc == 1 ? iso_path_fmt(&path, &err, "%s", argv[0])
                   : iso_key_path(cfg->data_dir, cfg->an_key_path, &path, &err)) != ISO_OK ||
        iso_key_load(path.s, 0, key, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    char fp[72];
    iso_key_fingerprint(key, fp);
    printf("key file: %s\nfingerprint: %s\n", path.s, fp);
    return 0;
}

/* ---- ls / show ---- */

typedef struct print_ctx {
    bool json;
    bool first;
    int rows;
} print_ctx;

static int print_row(void *user, const iso_row *r)
{
    print_ctx *p = user;
    p->rows++;
    if (p->json) {
        fputs(p->first ? "[\n  {" : ",\n  {", stdout);
        p->first = false;
        for (int i = 0; i < r->n; i++) {
            if (i)
                fputs(", ", stdout);
            iso_json_string(stdout, r->names[i]);
            fputs(": ", stdout);
            if (r->is_number[i])
                fputs(r->values[i], stdout);
            else
                iso_json_string(stdout, r->values[i]);
        }
        fputs("}", stdout);
    } else {
        for (int i = 0; i < r->n; i++)
            printf("%s%s", i ? "\t" : "", r->values[i]);
        putchar('\n');
    }
    return 0;
}

static int cmd_ls(const iso_config *cfg, int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    iso_level level;
    if (iso_level_parse(argv[0], &level) != 0) {
        fprintf(stderr, "isonode ls: unknown level '%s'\n", argv[0]);
        return 2;
    }
    iso_filter filters[16];
    int nf = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (eq == NULL || nf == 16) {
            fprintf(stderr, "isonode ls: expected KEYWORD=GLOB, got '%s'\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        filters[nf++] = (iso_filter){argv[i], eq + 1, ISO_MATCH_GLOB, NULL};
    }
    iso_err err = {0};
    iso_index *idx = open_index(cfg);
    if (idx == NULL)
        return 1;
    if (!json) {
        const char *const *cols = iso_level_columns(level);
        for (int i = 0; cols[i]; i++)
            printf("%s%s", i ? "\t" : "", cols[i]);
        putchar('\n');
    }
    print_ctx p = {json, true, 0};
    iso_code rc = iso_index_list(idx, level, filters, nf, print_row, &p, &err);
    iso_index_close(idx);
    if (json)
        fputs(p.first ? "[]\n" : "\n]\n", stdout);
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return rc == ISO_EINVAL ? 2 : 1;
    }
    return 0;
}

static int cmd_show(const iso_config *cfg, int argc, char **argv)
{
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    iso_err err = {0};
    iso_index *idx = open_index(cfg);
    if (idx == NULL)
        return 1;
    static const struct {
        iso_level level;
        const char *key;
    } lookups[] = {{ISO_LEVEL_INSTANCE, "SOPInstanceUID"},
                   {ISO_LEVEL_SERIES, "SeriesInstanceUID"},
                   {ISO_LEVEL_STUDY, "StudyInstanceUID"},
                   {ISO_LEVEL_PATIENT, "PatientID"}};
    print_ctx p = {true, true, 0};
    iso_code rc = ISO_OK;
    for (size_t i = 0; i < 4 && p.rows == 0 && rc == ISO_OK; i++) {
        iso_filter f = {lookups[i].key, argv[0], ISO_MATCH_EXACT, NULL};
        rc = iso_index_list(idx, lookups[i].level, &f, 1, print_row, &p, &err);
    }
    iso_index_close(idx);
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    if (p.rows == 0) {
        fprintf(stderr, "isonode: nothing indexed under %s\n", argv[0]);
        return 1;
    }
    fputs("\n]\n", stdout);
    return 0;
}


/* The node's certificate: subject, days left, and a warning within 30. */
static void print_tls_status(const iso_config *cfg)
{
    if (cfg->tls_certificate[0] == '\0')
        return;
    long days = 0;
    char subject[256];
    iso_err e = {0};
    if (iso_tls_file_days(cfg->tls_certificate, &days, subject, sizeof subject, &e) != ISO_OK) {
        printf("tls certificate: %s\n", e.msg);
        return;
    }
    printf("tls certificate: %s, %s %ld day%s%s\n", subject, days < 0 ? "expired" : "expires in",
           days < 0 ? -days : days, (days == 1 || days == -1) ? "" : "s",
           days < 0 ? " ago: RENEW IT (peers refuse it)"
                    : days <= 30 ? ": WARNING, renew it (then SIGHUP isonoded)" : "");
    if (cfg->tls_port)
        printf("tls listener:    port %ld\n", cfg->tls_port);
}

/* ---- status ---- */

static int cmd_status(const iso_config *cfg)
{
    iso_err err = {0};
    iso_index *idx = open_index(cfg);
    if (idx == NULL)
        return 1;
    iso_counts c;
    char created[64] = "?", started[64] = "?";
    iso_code rc = iso_index_counts(idx, &c, &err);
    iso_err ignore = {0};
    iso_index_meta_get(idx, "created_at", created, sizeof created, &ignore);
    iso_index_meta_get(idx, "last_start", started, sizeof started, &ignore);
    iso_index_close(idx);
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    uint64_t free_mb = 0, du_bytes = 0, du_files = 0;
    iso_path objects, running, outbox_db;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_OBJECTS, &objects, &err) != ISO_OK ||
        iso_layout_path(cfg->data_dir, ISO_DATA_RUNNING, &running, &err) != ISO_OK ||
        iso_layout_path(cfg->data_dir, ISO_DATA_OUTBOX, &outbox_db, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    fsx_free_mb(cfg->data_dir, &free_mb, &err);
    fsx_du(objects.s, &du_bytes, &du_files, &err);
    bool is_running = access(running.s, F_OK) == 0;
    long uptime = -1;
    struct tm tm = {0};
    if (is_running && strptime(started, "%Y-%m-%dT%H:%M:%S", &tm) != NULL)
        uptime = (long)(time(NULL) - timegm(&tm));
    printf("data_dir:        %s\n", cfg->data_dir);
    printf("patients:        %lld\n", (long long)c.patients);
    printf("studies:         %lld\n", (long long)c.studies);
    printf("series:          %lld\n", (long long)c.series);
    printf("instances:       %lld\n", (long long)c.instances);
    printf("indexed bytes:   %lld (%.1f MiB)\n", (long long)c.bytes, (double)c.bytes / 1048576.0);
    printf("files on disk:   %llu, %.1f MiB\n", (unsigned long long)du_files,
           (double)du_bytes / 1048576.0);
    printf("free space:      %llu MiB (min_free_mb %ld)\n", (unsigned long long)free_mb,
           cfg->min_free_mb);
    printf("store created:   %s\n", created);
    printf("last start:      %s\n", started);
    if (uptime >= 0)
        printf("daemon:          running, up %ldd %02ld:%02ld:%02ld\n", uptime / 86400,
               uptime / 3600 % 24, uptime / 60 % 60, uptime % 60);
    else
        printf("daemon:          not running on this store\n");
    /* the queues exist once a daemon has run */
    char summary[256];
    iso_jobs *j = NULL;
    iso_outbox *o = NULL;
    iso_err qe = {0};
    if (iso_jobs_open(cfg->data_dir, 1, &j, NULL, &qe) == ISO_OK &&
        iso_jobs_summary(j, summary, sizeof summary, &qe) == ISO_OK)
        printf("jobs:            %s\n", summary);
    iso_jobs_close(j);
    if (access(outbox_db.s, F_OK) == 0 && iso_outbox_open(cfg->data_dir, &o, &qe) == ISO_OK &&
        iso_outbox_summary(o, summary, sizeof summary, &qe) == ISO_OK)
        printf("deliveries:      %s\n", summary);
    if (o != NULL && iso_commit_summary(o, summary, sizeof summary, &qe) == ISO_OK)
        printf("commitments:     %s (storage commitment reports owed and sent)\n", summary);
    if (o != NULL && iso_commit_requests_summary(o, summary, sizeof summary, &qe) == ISO_OK)
        printf("commit requests: %s (storage commitment the node asked of peers)\n", summary);
    iso_outbox_close(o);
    print_tls_status(cfg);
    return 0;
}

/* ---- verify ---- */

/* One stored series for the vault check: de-identified ones (received,
 * not the node's own results) must be re-identifiable. */
typedef struct vault_check {
    const iso_config *cfg;
    iso_index *idx;
    iso_vault *vault;
    unsigned long series, problems;
} vault_check;

static int check_series_in_vault(void *user, const char *series_uid, int64_t instances,
                                 const char *calling_ae)
{
    vault_check *vc = user;
    (void)instances;
    if (strcmp(calling_ae, vc->cfg->ae_title) == 0)
        return 0; /* the node's own results: their UIDs are derived, not mapped */
    iso_stored_file *files = NULL;
    size_t n = 0;
    iso_attrs a;
    iso_err e = {0};
    if (iso_index_series_files(vc->idx, vc->cfg->data_dir, series_uid, &files, &n, &e) != ISO_OK ||
        n == 0 || iso_dcm_read_attrs(files[0].path, &a, &e) != ISO_OK) {
        iso_index_files_free(files, n);
        return 0; /* the file check reports unreadable files */
    }
    iso_index_files_free(files, n);
    if (a.identity_removed[0] == '\0')
        return 0; /* stored as received */
    vc->series++;
    static const char *const kinds[] = {"uid", "study", "patient"};
    const char *keys[] = {a.series_uid, a.study_uid, a.patient_id};
    for (int k = 0; k < 3; k++) {
        char *value = NULL;
        iso_err ge = {0};
        iso_code rc = iso_vault_get(vc->vault, kinds[k], keys[k], &value, &ge);
        free(value);
        if (rc != ISO_OK) {
            printf("vault: series %s has no readable %s row for %s (%s)\n", series_uid,
                   kinds[k], keys[k], ge.msg);
            vc->problems++;
            break;
        }
    }
    return 0;
}

/* Every stored de-identified series has its re-identification rows. */
static iso_code verify_vault(const iso_config *cfg, unsigned long *series,
                             unsigned long *problems, iso_err *err)
{
    *series = *problems = 0;
    iso_path vpath, db, kpath;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_VAULT, &vpath, err) != ISO_OK ||
        iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &db, err) != ISO_OK ||
        iso_key_path(cfg->data_dir, cfg->an_key_path, &kpath, err) != ISO_OK)
        return err->code;
    if (access(vpath.s, F_OK) != 0 && !cfg->an_enabled)
        return ISO_OK; /* never de-identified here */
    uint8_t key[ISO_KEY_LEN];
    vault_check vc = {.cfg = cfg};
    if (iso_key_load(kpath.s, 0, key, err) != ISO_OK ||
        iso_vault_open(cfg->data_dir, key, &vc.vault, err) != ISO_OK ||
        iso_index_open(db.s, true, &vc.idx, err) != ISO_OK) {
        iso_vault_close(vc.vault);
        return err->code;
    }
    iso_code rc = iso_index_each_series(vc.idx, check_series_in_vault, &vc, err);
    iso_index_close(vc.idx);
    iso_vault_close(vc.vault);
    *series = vc.series;
    *problems = vc.problems;
    return rc;
}

static int cmd_verify(const iso_config *cfg)
{
    iso_err err = {0};
    iso_verify_report r;
    if (iso_store_verify(cfg->data_dir, stdout, &r, &err) != ISO_OK) {
        fprintf(stderr, "isonode verify: %s\n", err.msg);
        return 2;
    }
    unsigned long series = 0, vault_problems = 0;
    if (verify_vault(cfg, &series, &vault_problems, &err) != ISO_OK) {
        fprintf(stderr, "isonode verify: vault: %s\n", err.msg);
        return 2;
    }
    printf("verify: %lu index rows, %lu files, %lu problems\n", r.rows, r.files,
           r.problems + vault_problems);
    if (series > 0 || vault_problems > 0)
        printf("verify: %lu de-identified series, %lu without their vault rows\n", series,
               vault_problems);
    return r.problems + vault_problems == 0 ? 0 : 1;
}

/* ---- echo / send ---- */

static const iso_peer *find_peer(const iso_config *cfg, const char *name)
{
    const iso_peer *p = iso_config_peer_by_name(cfg, name);
    if (p == NULL)
        p = iso_config_peer_by_ae(cfg, name);
    if (p == NULL)
        fprintf(stderr, "isonode: no [peer %s] (nor a peer with that AE title) in %s\n", name,
                cfg->source[0] ? cfg->source : "the built-in configuration");
    return p;
}

/* How to reach p: its address and, when it wants TLS, contexts opened for
 * it (*tls, free with iso_tls_free). */
static iso_code reach(const iso_config *cfg, const iso_peer *p, iso_tls **tls, iso_scu_params *s,
                      iso_err *err)
{
    *tls = NULL;
    if (p->tls && iso_tls_open(cfg, tls, err) != ISO_OK)
        return err->code;
    return iso_peer_scu_params(cfg, p, *tls, s, err);
}

static int cmd_echo(const iso_config *cfg, int argc, char **argv)
{
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    const iso_peer *p = find_peer(cfg, argv[0]);
    if (p == NULL)
        return 2;
    iso_scu_params s;
    iso_tls *tls = NULL;
    iso_err err = {0};
    if (reach(cfg, p, &tls, &s, &err) != ISO_OK || iso_dcm_scu_echo(&s, &err) != ISO_OK) {
        fprintf(stderr, "isonode echo: %s\n", err.msg);
        iso_tls_free(tls);
        return 1;
    }
    iso_tls_free(tls);
    printf("C-ECHO %s (%s@%s:%ld%s): success\n", p->name, p->ae_title, p->host, p->port,
           p->tls ? ", TLS" : "");
    return 0;
}

static int cmd_send(const iso_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const iso_peer *p = find_peer(cfg, argv[0]);
    if (p == NULL)
        return 2;
    iso_err err = {0};
    iso_index *idx = open_index(cfg);
    if (idx == NULL)
        return 1;
    iso_path_list l = {cfg->data_dir, NULL, 0, 0, false};
    int status = 0;
    for (int i = 1; i < argc && status == 0; i++) {
        iso_level level;
        if (iso_index_files_under(idx, argv[i], iso_path_list_add, &l, &level, &err) != ISO_OK) {
            fprintf(stderr, "isonode send: %s\n", err.msg);
            status = 1;
        }
    }
    iso_index_close(idx);
    if (l.failed) {
        fprintf(stderr, "isonode send: out of memory\n");
        status = 1;
    }
    if (status == 0) {
        uint16_t *st = calloc(l.n ? l.n : 1, sizeof *st);
        iso_scu_params s;
        iso_tls *tls = NULL;
        if (st != NULL)
            (void)reach(cfg, p, &tls, &s, &err); /* err says why not */
        if (st == NULL || err.code != ISO_OK ||
            iso_dcm_scu_send_files(&s, (const char *const *)l.paths, l.n, st, &err) != ISO_OK) {
            fprintf(stderr, "isonode send: %s\n", st ? err.msg : "out of memory");
            status = 1;
        } else {
            size_t ok = 0;
            for (size_t i = 0; i < l.n; i++) {
                if (st[i] == 0)
                    ok++;
                else if (st[i] == 0xFFFF)
                    fprintf(stderr, "not sent (no accepted presentation context): %s\n",
                            l.paths[i]);
                else
                    fprintf(stderr, "status 0x%04x for %s\n", st[i], l.paths[i]);
            }
            printf("sent %zu of %zu instances to %s\n", ok, l.n, p->name);
            status = ok == l.n ? 0 : 1;
        }
        iso_tls_free(tls);
        free(st);
    }
    iso_path_list_free(&l);
    return status;
}

/* What the vault knows of a de-identified UID or pseudonymous Patient ID,
 * as one JSON object (the values are JSON already). */
static int cmd_vault(const iso_config *cfg, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "lookup") != 0) {
        usage(stderr);
        return 2;
    }
    const char *q = argv[1];
    uint8_t key[ISO_KEY_LEN];
    iso_err err = {0};
    iso_vault *v = NULL;
    iso_path path;
    if (iso_key_path(cfg->data_dir, cfg->an_key_path, &path, &err) != ISO_OK ||
        iso_key_load(path.s, 0, key, &err) != ISO_OK ||
        iso_vault_open(cfg->data_dir, key, &v, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    static const char *const kinds[] = {"uid", "study", "patient"};
    int found = 0;
    printf("{\"query\": ");
    iso_json_string(stdout, q);
    for (int i = 0; i < 3; i++) {
        char *val = NULL;
        iso_err e = {0};
        iso_code rc = iso_vault_get(v, kinds[i], q, &val, &e);
        if (rc == ISO_OK) {
            printf(", \"%s\": %s", kinds[i], val);
            found++;
        } else if (rc != ISO_ENOTFOUND) {
            fprintf(stderr, "isonode: %s\n", e.msg);
        }
        free(val);
    }
    printf("}\n");
    iso_vault_close(v);
    if (!found)
        fprintf(stderr, "isonode: %s is not in the vault\n", q);
    return found ? 0 : 1;
}

/* The delivery queue: what is waiting, sent or dead-lettered, and the
 * operator's hands on it. */
static int cmd_outbox(const iso_config *cfg, int argc, char **argv)
{
    iso_outbox *o = NULL;
    iso_err err = {0};
    if (iso_outbox_open(cfg->data_dir, &o, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 1;
    }
    const char *sub = argc > 0 ? argv[0] : "list";
    iso_code rc = ISO_OK;
    int status = 0;
    if (strcmp(sub, "list") == 0) {
        rc = iso_outbox_list(o, stdout, argc > 1 && strcmp(argv[1], "--json") == 0, &err);
    } else if (strcmp(sub, "retry") == 0 && argc == 2) {
        rc = iso_outbox_retry(o, strcmp(argv[1], "all") == 0 ? -1 : atol(argv[1]), &err);
    } else if (strcmp(sub, "purge") == 0 && argc == 1) {
        int removed = 0, dirs = 0;
        rc = iso_outbox_purge(o, &removed, &err);
        if (rc == ISO_OK)
            rc = iso_outbox_clean_results(o, cfg->data_dir, ISO_RESULTS_MIN_AGE_SECONDS,
                                          (long)time(NULL), &dirs, &err);
        if (rc == ISO_OK)
            printf("%d sent or dead item(s) removed, %d job result director%s\n", removed, dirs,
                   dirs == 1 ? "y" : "ies");
    } else if (strcmp(sub, "add") == 0 && argc >= 3) {
        if (iso_config_peer_by_name(cfg, argv[1]) == NULL) {
            fprintf(stderr, "isonode: no [peer %s] in the configuration\n", argv[1]);
            iso_outbox_close(o);
            return 2;
        }
        for (int i = 2; i < argc && rc == ISO_OK; i++) {
            iso_attrs a;
            char sha[65];
            uint64_t size;
            iso_path abs;
            if (realpath(argv[i], abs.s) == NULL) {
                rc = iso_fail(&err, ISO_ENOTFOUND, "%s: not found", argv[i]);
                break;
            }
            rc = iso_dcm_read_attrs(abs.s, &a, &err);
            if (rc == ISO_OK)
                rc = fsx_sha256_file(abs.s, sha, &size, &err);
            if (rc == ISO_OK)
                rc = iso_outbox_add(o, argv[1], abs.s, a.sop_instance_uid, sha, 0, &err);
        }
    } else {
        usage(stderr);
        status = 2;
    }
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        status = 1;
    }
    iso_outbox_close(o);
    return status;
}

/* Retention by hand: the [retention] rules, or --older-than DAYS, or one
 * --study; --dry-run says what would go.  Removing needs the store, so
 * the daemon must be stopped (its own [retention] does the same while it
 * runs); a dry run works any time. */
static int cmd_purge(const iso_config *cfg, int argc, char **argv)
{
    iso_retention_opts o = {.out = stdout, .watermarks = true};
    for (int i = 0; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--dry-run") == 0) {
            o.dry_run = true;
        } else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
            o.older_than_days = strtol(argv[++i], &end, 10);
            if (end == NULL || *end != '\0' || o.older_than_days <= 0) {
                fprintf(stderr, "isonode purge: --older-than takes a number of days\n");
                return 2;
            }
            o.watermarks = false;
        } else if (strcmp(argv[i], "--study") == 0 && i + 1 < argc) {
            o.study_uid = argv[++i];
            o.watermarks = false;
        } else {
            usage(stderr);
            return 2;
        }
    }
    iso_err err = {0};
    iso_jobs *jobs = NULL;
    iso_outbox *outbox = NULL;
    iso_store *store = NULL;
    iso_path ob;
    int status = 0;
    if (iso_jobs_open(cfg->data_dir, 1, &jobs, NULL, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s (has the daemon run on %s?)\n", err.msg, cfg->data_dir);
        return 1;
    }
    if (iso_layout_path(cfg->data_dir, ISO_DATA_OUTBOX, &ob, &err) == ISO_OK &&
        access(ob.s, F_OK) == 0 && iso_outbox_open(cfg->data_dir, &outbox, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        iso_jobs_close(jobs);
        return 1;
    }
    if (!o.dry_run) {
        iso_store_options so = {cfg->data_dir, cfg->duplicates, cfg->min_free_mb};
        iso_recovery_report rec;
        if (iso_store_open(&so, &store, &rec, &err) != ISO_OK) {
            fprintf(stderr, "isonode purge: %s; while isonoded runs its [retention] rules apply, "
                            "or stop it (--dry-run works any time)\n", err.msg);
            iso_outbox_close(outbox);
            iso_jobs_close(jobs);
            return 1;
        }
    }
    /* a de-identifying store's vault, for keep_vault_days */
    iso_vault *vault = NULL;
    iso_path vp;
    if (!o.dry_run && cfg->an_enabled && cfg->rt_keep_vault_days > 0 &&
        iso_layout_path(cfg->data_dir, ISO_DATA_VAULT, &vp, &err) == ISO_OK &&
        access(vp.s, F_OK) == 0) {
        uint8_t key[ISO_KEY_LEN];
        iso_path kp;
        if (iso_key_path(cfg->data_dir, cfg->an_key_path, &kp, &err) != ISO_OK ||
            iso_key_load(kp.s, 0, key, &err) != ISO_OK ||
            iso_vault_open(cfg->data_dir, key, &vault, &err) != ISO_OK) {
            fprintf(stderr, "isonode purge: %s\n", err.msg);
            iso_store_close(store);
            iso_outbox_close(outbox);
            iso_jobs_close(jobs);
            return 1;
        }
    }
    iso_retention_env env = {cfg, store, jobs, outbox, vault, NULL};
    iso_retention_report rep;
    if (iso_retention_run(&env, &o, (long)time(NULL), &rep, &err) != ISO_OK) {
        fprintf(stderr, "isonode purge: %s\n", err.msg);
        status = 1;
    } else {
        printf("%d stud%s %s (%.1f MB), %d kept because still needed; data_dir %.0f%% full\n",
               rep.removed, rep.removed == 1 ? "y" : "ies", o.dry_run ? "would go" : "removed",
               (double)rep.bytes / 1e6, rep.kept, rep.used_percent);
        if (o.study_uid != NULL && rep.removed == 0 && rep.kept == 0) {
            fprintf(stderr, "isonode purge: no study %s\n", o.study_uid);
            status = 1;
        }
    }
    iso_vault_close(vault);
    iso_store_close(store);
    iso_outbox_close(outbox);
    iso_jobs_close(jobs);
    return status;
}

/* A job's deliveries as the outbox sees them (its results folders). */
typedef struct job_note_ctx {
    iso_outbox *outbox;
    const char *data_dir;
} job_note_ctx;

static void job_delivery(void *ctx, long long job_id, char *out, size_t size)
{
    job_note_ctx *c = ctx;
    iso_err ignored = {0};
    if (iso_outbox_job_summary(c->outbox, c->data_dir, job_id, out, size, &ignored) != ISO_OK)
        out[0] = '\0';
}

/* The job queue: what each complete series became, and the operator's
 * hands on it (a retried job runs again at once, a cancelled one never). */
static int cmd_jobs(const iso_config *cfg, int argc, char **argv)
{
    iso_jobs *j = NULL;
    iso_err err = {0};
    if (iso_jobs_open(cfg->data_dir, 1, &j, NULL, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s (has the daemon run on %s?)\n", err.msg, cfg->data_dir);
        return 1;
    }
    const char *sub = argc > 0 ? argv[0] : "list";
    iso_code rc = ISO_OK;
    int status = 0;
    char *end = NULL;
    long long id = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
    int id_ok = argc == 2 && end != NULL && *end == '\0' && id > 0;
    if (strcmp(sub, "list") == 0 && argc <= 2) {
        /* with what became of each job's results, when there is an outbox */
        iso_outbox *o = NULL;
        iso_path ob;
        iso_err oe = {0};
        if (iso_layout_path(cfg->data_dir, ISO_DATA_OUTBOX, &ob, &oe) != ISO_OK ||
            access(ob.s, F_OK) != 0 || iso_outbox_open(cfg->data_dir, &o, &oe) != ISO_OK)
            o = NULL;
        job_note_ctx nc = {o, cfg->data_dir};
        rc = iso_jobs_list(j, stdout, argc > 1 && strcmp(argv[1], "--json") == 0,
                           o != NULL ? job_delivery : NULL, &nc, &err);
        iso_outbox_close(o);
    }
    else if (strcmp(sub, "show") == 0 && id_ok)
        rc = iso_jobs_show(j, id, stdout, &err);
    else if (strcmp(sub, "retry") == 0 && id_ok)
        rc = iso_jobs_retry(j, id, &err);
    else if (strcmp(sub, "cancel") == 0 && id_ok)
        rc = iso_jobs_cancel(j, id, &err);
    else {
        usage(stderr);
        status = 2;
    }
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        status = 1;
    }
    iso_jobs_close(j);
    return status;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        config_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
        printf("isonode %s\n", PACKAGE_VERSION);
        return 0;
    }
    iso_config cfg;
    iso_err err = {0};
    if (iso_config_init(&cfg, config_path, &err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        return 2;
    }
    iso_log_init(ISO_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    if (iso_dcm_init(&err) != ISO_OK) {
        fprintf(stderr, "isonode: %s\n", err.msg);
        iso_config_free(&cfg);
        return 1;
    }
    /* the daemon's parse limits; inflated copies go to $TMPDIR here */
    iso_dcm_limits limits = {(int)cfg.max_nesting, (unsigned long long)cfg.max_object_mb << 20,
                             cfg.max_inflate_ratio, NULL};
    (void)iso_dcm_set_limits(&limits, &err); /* no tmp_dir: cannot fail */
    const char *cmd = argv[i];
    int rest = argc - i - 1;
    char **args = argv + i + 1;
    int rc;
    if (strcmp(cmd, "status") == 0 && rest == 0)
        rc = cmd_status(&cfg);
    else if (strcmp(cmd, "ls") == 0)
        rc = cmd_ls(&cfg, rest, args);
    else if (strcmp(cmd, "show") == 0)
        rc = cmd_show(&cfg, rest, args);
    else if (strcmp(cmd, "verify") == 0 && rest == 0)
        rc = cmd_verify(&cfg);
    else if (strcmp(cmd, "echo") == 0)
        rc = cmd_echo(&cfg, rest, args);
    else if (strcmp(cmd, "send") == 0)
        rc = cmd_send(&cfg, rest, args);
    else if (strcmp(cmd, "outbox") == 0)
        rc = cmd_outbox(&cfg, rest, args);
    else if (strcmp(cmd, "purge") == 0)
        rc = cmd_purge(&cfg, rest, args);
    else if (strcmp(cmd, "jobs") == 0)
        rc = cmd_jobs(&cfg, rest, args);
    else if (strcmp(cmd, "vault") == 0)
        rc = cmd_vault(&cfg, rest, args);
    else if (strcmp(cmd, "key") == 0)
        rc = cmd_key(&cfg, rest, args);
    else if (strcmp(cmd, "reconstruct") == 0)
        rc = iso_cli_reconstruct(&cfg, rest, args);
    else {
        usage(stderr);
        rc = 2;
    }
    iso_config_free(&cfg);
    return rc;
}
