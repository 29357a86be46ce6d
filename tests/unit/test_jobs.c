/* test_jobs.c — known answers for the job layer without a network: route
 * decisions (first match wins, globs, bounds, the built-in default), series
 * completion (settle time, open associations, Images in Acquisition,
 * restart), and the persistent queue's states (coalescing, covering counts,
 * one running job per series, back-off then dead, crash recovery, retry and
 * cancel, re-send jobs, result versions), the outbox's re-delivery rule,
 * plus the config errors routes can make. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "deliver/commit_requests.h"
#include "deliver/outbox.h"
#include "deliver/outbox_db.h"
#include "jobs/completion.h"
#include "jobs/queue.h"
#include "jobs/routes.h"
#include "util/uid.h"

static char conf_path[] = "/tmp/isonode-test-jobs-XXXXXX";

static iso_code load_text(iso_config *cfg, const char *text, iso_err *err)
{
    FILE *f = fopen(conf_path, "w");
    fputs(text, f);
    fclose(f);
    iso_config_defaults(cfg);
    iso_err_clear(err);
    return iso_config_load(cfg, conf_path, err);
}

static void test_routes(void)
{
    iso_config cfg;
    iso_err err = {0};
    iso_route_decision d;
    iso_config_defaults(&cfg);
    iso_series_facts ct = {"CT", "HEAD", "Bone 1.0 axial", "1.2.840.10008.5.1.4.1.1.2", "CT1", 140,
                           1.0};
    iso_series_facts us = {"US", "", "", "1.2.840.10008.5.1.4.1.1.6.1", "US1", 1, 0};
    iso_route_decide(&cfg, &ct, &d);
    CHECK(strcmp(d.rule, "default") == 0 && d.reconstruct && d.return_results);
    iso_route_decide(&cfg, &us, &d);
    CHECK(strcmp(d.rule, "default") == 0 && !d.reconstruct && !d.return_results);

    CHECK(load_text(&cfg,
                    "[anonymize]\nenabled = yes\nkeep_originals = yes\n[peer pacs]\nae_title = PACS\nhost = h\nport = 104\n"
                    "[peer research]\nae_title = RES\nhost = h\nport = 104\nidentity = anonymized\n"
                    "[route scouts]\nmax_images = 3\nignore = yes\n"
                    "[route thin-bone]\nmodality = CT\ndescription = *bone*\nmax_slice_mm = 1.5\n"
                    "forward_to = pacs\nforward_anonymized_to = research\n"
                    "[route other-ct]\nmodality = c?\nreconstruct = no\nreturn_results = no\n",
                    &err) == ISO_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(cfg.n_routes == 3 && cfg.peers[1].identity == ISO_IDENTITY_ANONYMIZED &&
          cfg.peers[0].identity == ISO_IDENTITY_ORIGINAL);
    iso_route_decide(&cfg, &ct, &d);
    CHECK(strcmp(d.rule, "route thin-bone") == 0 && d.reconstruct && d.return_results &&
          strcmp(d.forward_to, "pacs") == 0 && strcmp(d.forward_anonymized_to, "research") == 0);
    ct.slice_thickness = 5.0; /* too thick for thin-bone: the next rule (glob c?, any case) */
    iso_route_decide(&cfg, &ct, &d);
    CHECK(strcmp(d.rule, "route other-ct") == 0 && !d.reconstruct && !d.return_results);
    ct.slice_thickness = 0; /* unknown thickness never meets a bound */
    iso_route_decide(&cfg, &ct, &d);
    CHECK(strcmp(d.rule, "route other-ct") == 0);
    ct.images = 2; /* the first rule catches scouts of any modality */
    iso_route_decide(&cfg, &ct, &d);
    CHECK(strcmp(d.rule, "route scouts") == 0 && d.ignore && !d.reconstruct &&
          d.forward_to[0] == '\0');
    us.images = 10; /* routes configured, none matches: stored only */
    iso_route_decide(&cfg, &us, &d);
    CHECK(strcmp(d.rule, "no route") == 0 && !d.reconstruct && !d.return_results);
    iso_config_free(&cfg);

    /* mistakes a route can make are refused at start-up */
    CHECK(load_text(&cfg, "[route r]\nforward_to = nobody\n", &err) == ISO_ECONFIG &&
          strstr(err.msg, "nobody") != NULL);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[route r]\nsurfaces = bone\n", &err) == ISO_ECONFIG &&
          strstr(err.msg, "surface") != NULL);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg,
                    "[anonymize]\nenabled = yes\n[peer p]\nae_title = P\nhost = h\nport = 1\n"
                    "[route r]\nforward_to = p\n",
                    &err) == ISO_ECONFIG &&
          strstr(err.msg, "keep_originals") != NULL);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[route r]\nmin_images = 5\nmax_images = 2\n", &err) == ISO_ECONFIG);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[route r]\nmodality = CT\nmodality = MR\n", &err) == ISO_ECONFIG &&
          strstr(err.msg, "twice") != NULL);
    iso_config_free(&cfg);
}

static void test_completion(void)
{
    iso_completion *c = NULL;
    iso_err err = {0};
    CHECK(iso_completion_new(&c, &err) == ISO_OK);
    iso_ready_series r[8];
    /* series A over associations 1 and 2; B on association 3 with 4 expected */
    CHECK(iso_completion_stored(c, 1, "1.1", "CT1", 0, 0, 100.0, &err) == ISO_OK);
    CHECK(iso_completion_stored(c, 2, "1.1", "CT1", 0, 0, 101.0, &err) == ISO_OK);
    CHECK(iso_completion_stored(c, 3, "1.2", "CT2", 4, 0, 101.0, &err) == ISO_OK);
    CHECK(iso_completion_take_ready(c, 200.0, 5, r, 8) == 0); /* associations still open */
    iso_completion_assoc_end(c, 1);
    CHECK(iso_completion_take_ready(c, 200.0, 5, r, 8) == 0); /* 2 is still open */
    iso_completion_assoc_end(c, 2);
    CHECK(iso_completion_take_ready(c, 104.0, 5, r, 8) == 0); /* not settled */
    CHECK(iso_completion_take_ready(c, 106.5, 5, r, 8) == 1 && strcmp(r[0].series_uid, "1.1") == 0 &&
          strcmp(r[0].calling_ae, "CT1") == 0);
    CHECK(iso_completion_take_ready(c, 300.0, 5, r, 8) == 0); /* taken once */
    /* B: all four there, ready at once although its association is open */
    for (int i = 0; i < 3; i++)
        CHECK(iso_completion_stored(c, 3, "1.2", "CT2", 4, 0, 102.0, &err) == ISO_OK);
    CHECK(iso_completion_take_ready(c, 102.0, 5, r, 8) == 1 && strcmp(r[0].series_uid, "1.2") == 0);
    /* an instance after a series was taken starts tracking it again */
    CHECK(iso_completion_stored(c, 4, "1.1", "CT1", 0, 0, 110.0, &err) == ISO_OK);
    CHECK(iso_completion_count(c) == 1);
    iso_completion_assoc_end(c, 4);
    CHECK(iso_completion_take_ready(c, 115.0, 5, r, 8) == 1);
    /* after a restart: pending series settle from now */
    CHECK(iso_completion_pending(c, "1.3", "MR1", 500.0, &err) == ISO_OK);
    CHECK(iso_completion_take_ready(c, 504.0, 5, r, 8) == 0);
    CHECK(iso_completion_take_ready(c, 505.0, 5, r, 8) == 1 && strcmp(r[0].calling_ae, "MR1") == 0);
    /* nine associations at once: the ninth is not remembered, so the series
     * waits until the known ones have ended and the settle time passed */
    for (uint64_t a = 10; a < 19; a++)
        CHECK(iso_completion_stored(c, a, "1.4", "CT1", 0, 0, 600.0, &err) == ISO_OK);
    for (uint64_t a = 10; a < 17; a++)
        iso_completion_assoc_end(c, a);
    CHECK(iso_completion_take_ready(c, 700.0, 5, r, 8) == 0);
    iso_completion_assoc_end(c, 17);
    CHECK(iso_completion_take_ready(c, 700.0, 5, r, 8) == 1);
    /* a re-send of a series expecting 4: duplicates keep it open and name
     * their sender, but two new ones and two duplicates are not all four */
    CHECK(iso_completion_stored(c, 20, "1.5", "CT1", 4, 0, 800.0, &err) == ISO_OK);
    CHECK(iso_completion_stored(c, 20, "1.5", "CT1", 4, 0, 800.0, &err) == ISO_OK);
    CHECK(iso_completion_stored(c, 21, "1.5", "CT9", 4, 1, 801.0, &err) == ISO_OK);
    CHECK(iso_completion_stored(c, 21, "1.5", "CT9", 4, 1, 801.0, &err) == ISO_OK);
    iso_completion_assoc_end(c, 20);
    CHECK(iso_completion_take_ready(c, 900.0, 5, r, 8) == 0); /* 21 still open */
    iso_completion_assoc_end(c, 21);
    CHECK(iso_completion_take_ready(c, 805.0, 5, r, 8) == 0); /* settles from the duplicates */
    CHECK(iso_completion_take_ready(c, 806.0, 5, r, 8) == 1 && strcmp(r[0].calling_ae, "CT9") == 0);
    iso_completion_free(c);
}

static void test_queue(const char *dir)
{
    iso_jobs *j = NULL;
    iso_err err = {0};
    int recovered = -1;
    CHECK(iso_jobs_open(dir, 0, &j, &recovered, &err) == ISO_OK && recovered == 0);
    int64_t id = 0, id2 = 0, covered = 0;
    CHECK(iso_jobs_add(j, "1.1", "CT1", 10, 1000, &id, &err) == ISO_OK && id == 1);
    /* more instances before it started: the same job takes them */
    CHECK(iso_jobs_add(j, "1.1", "CT1", 12, 1001, &id2, &err) == ISO_OK && id2 == 0);
    CHECK(iso_jobs_covered(j, "1.1", &covered, &err) == ISO_OK && covered == 12);
    /* nothing new: no job */
    CHECK(iso_jobs_add(j, "1.1", "CT1", 12, 1002, &id2, &err) == ISO_OK && id2 == 0);
    iso_job job, job2;
    CHECK(iso_jobs_claim(j, 1003, &job, &err) == ISO_OK && job.id == 1 && job.instances == 12 &&
          job.attempts == 1 && job.created == 1000 && strcmp(job.calling_ae, "CT1") == 0);
    /* a late instance while it runs: a second job, which waits for the first */
    CHECK(iso_jobs_add(j, "1.1", "CT1", 13, 1004, &id2, &err) == ISO_OK && id2 == 2);
    CHECK(iso_jobs_claim(j, 1005, &job2, &err) == ISO_ENOTFOUND);
    CHECK(iso_jobs_done(j, 1, "default", "reconstructed", 1.5, 1006, &err) == ISO_OK);
    CHECK(iso_jobs_claim(j, 1007, &job2, &err) == ISO_OK && job2.id == 2 && job2.instances == 13);
    /* a crash now: the next open puts job 2 back */
    iso_jobs_close(j);
    CHECK(iso_jobs_open(dir, 0, &j, &recovered, &err) == ISO_OK && recovered == 1);
    CHECK(iso_jobs_claim(j, 1008, &job2, &err) == ISO_OK && job2.id == 2 && job2.attempts == 2);
    /* failures back off, then the job is dead */
    CHECK(iso_jobs_failed(j, &job2, "disk", 3, 1009, &err) == ISO_OK);
    CHECK(iso_jobs_claim(j, 1010, &job2, &err) == ISO_ENOTFOUND);
    CHECK(iso_jobs_claim(j, 1009 + 60, &job2, &err) == ISO_OK && job2.attempts == 3);
    CHECK(iso_jobs_failed(j, &job2, "disk again", 3, 1100, &err) == ISO_OK);
    CHECK(iso_jobs_claim(j, 999999, &job2, &err) == ISO_ENOTFOUND); /* dead */
    CHECK(iso_jobs_cancel(j, 1, &err) == ISO_ENOTFOUND);          /* done: nothing to cancel */
    CHECK(iso_jobs_retry(j, 2, &err) == ISO_OK);
    CHECK(iso_jobs_claim(j, 1200, &job2, &err) == ISO_OK && job2.id == 2 && job2.attempts == 1);
    CHECK(iso_jobs_done(j, 2, "default", "ok", 1, 1201, &err) == ISO_OK);
    /* the series sent again (nothing new): a re-send job for its sender,
     * one while it has still to run, another for another AE */
    CHECK(iso_jobs_add(j, "1.1", "CT2", 13, 1202, &id, &err) == ISO_OK && id == 3);
    CHECK(iso_jobs_add(j, "1.1", "CT2", 13, 1203, &id2, &err) == ISO_OK && id2 == 0);
    CHECK(iso_jobs_add(j, "1.1", "CT1", 13, 1204, &id2, &err) == ISO_OK && id2 == 4);
    CHECK(iso_jobs_claim(j, 1205, &job2, &err) == ISO_OK && job2.id == 3 && job2.resend == 1 &&
          strcmp(job2.calling_ae, "CT2") == 0 && job2.created == 1202);
    /* versions: the first job that made one dates it */
    long created = 0;
    CHECK(iso_jobs_version_created(j, "1.1", "v1", &created, &err) == ISO_ENOTFOUND);
    CHECK(iso_jobs_note_version(j, 2, "v1", &err) == ISO_OK);
    CHECK(iso_jobs_note_version(j, 3, "v1", &err) == ISO_OK);
    CHECK(iso_jobs_version_created(j, "1.1", "v1", &created, &err) == ISO_OK && created == 1004);
    CHECK(iso_jobs_version_created(j, "1.9", "v1", &created, &err) == ISO_ENOTFOUND);
    CHECK(iso_jobs_done(j, 3, "default", "returned again", 1, 1206, &err) == ISO_OK);
    /* CT1's re-send job still waits; new instances turn it into a new job */
    CHECK(iso_jobs_add(j, "1.1", "CT1", 14, 1207, &id2, &err) == ISO_OK && id2 == 0);
    CHECK(iso_jobs_claim(j, 1208, &job2, &err) == ISO_OK && job2.id == 4 && job2.resend == 0 &&
          job2.instances == 14);
    CHECK(iso_jobs_done(j, 4, "default", "ok", 1, 1209, &err) == ISO_OK);
    CHECK(iso_jobs_add(j, "1.2", "CT1", 5, 1300, &id, &err) == ISO_OK && id == 5);
    CHECK(iso_jobs_cancel(j, 5, &err) == ISO_OK);
    CHECK(iso_jobs_claim(j, 1400, &job2, &err) == ISO_ENOTFOUND);
    /* a cancelled job still covers its series: a restart does not bring it back */
    CHECK(iso_jobs_covered(j, "1.2", &covered, &err) == ISO_OK && covered == 5);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    CHECK(iso_jobs_list(j, mem, 1, NULL, NULL, &err) == ISO_OK);
    fclose(mem);
    CHECK(buf != NULL && strstr(buf, "\"state\": \"cancelled\"") != NULL &&
          strstr(buf, "\"route\": \"default\"") != NULL &&
          strstr(buf, "\"kind\": \"resend\"") != NULL &&
          strstr(buf, "\"version\": \"v1\"") != NULL);
    free(buf);
    iso_jobs_close(j);
}

/* Marks every outbox item sent at the given UTC time (as a round would). */
static void mark_sent(const char *dir, const char *when)
{
    char path[512], sql[200];
    snprintf(path, sizeof path, "%s/outbox.sqlite", dir);
    snprintf(sql, sizeof sql, "UPDATE outbox SET state='sent', sent_at='%s'", when);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static void outbox_states(iso_outbox *o, const char *expect)
{
    char got[200];
    iso_err err = {0};
    CHECK(iso_outbox_summary(o, got, sizeof got, &err) == ISO_OK);
    if (strcmp(got, expect) != 0)
        fprintf(stderr, "outbox: %s, expected %s\n", got, expect);
    CHECK(strcmp(got, expect) == 0);
}

/* An object is queued once per destination; a re-send job asks for it
 * again, which queues it again only if it was sent before the job. */
static void test_outbox(const char *dir)
{
    iso_outbox *o = NULL;
    iso_err err = {0};
    CHECK(iso_outbox_open(dir, &o, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "a", "/r/J1/x.dcm", "1.2.3", "abc", 0, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "a", "/r/J1/x.dcm", "1.2.3", "abc", 0, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "b", "/r/J1/x.dcm", "1.2.3", "abc", 0, &err) == ISO_OK);
    outbox_states(o, "queued 2");
    iso_outbox_close(o);
    mark_sent(dir, "2026-01-01T00:00:00Z");
    CHECK(iso_outbox_open(dir, &o, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "a", "/r/J2/x.dcm", "1.2.3", "abc", 0, &err) == ISO_OK);
    outbox_states(o, "sent 2"); /* a re-run: not again */
    /* 1767225601 = 2026-01-01T00:00:01Z: a re-send job made after the delivery */
    CHECK(iso_outbox_add(o, "a", "/r/J3/x.dcm", "1.2.3", "abc", 1767225601L, &err) == ISO_OK);
    outbox_states(o, "queued 1, sent 1");
    CHECK(iso_outbox_add(o, "a", "/r/J3/x.dcm", "1.2.3", "abc", 1767225601L, &err) == ISO_OK);
    outbox_states(o, "queued 1, sent 1");
    iso_outbox_close(o);
    /* sent by that job, then the job re-runs after a crash: not a third time */
    mark_sent(dir, "2026-01-01T00:00:05Z");
    CHECK(iso_outbox_open(dir, &o, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "a", "/r/J3/x.dcm", "1.2.3", "abc", 1767225601L, &err) == ISO_OK);
    outbox_states(o, "sent 2");
    /* other content under the UID is another item */
    CHECK(iso_outbox_add(o, "a", "/r/J4/x.dcm", "1.2.3", "def", 0, &err) == ISO_OK);
    outbox_states(o, "queued 1, sent 2");
    iso_outbox_close(o);
}

static void sql(const char *dir, const char *statement)
{
    char path[512];
    snprintf(path, sizeof path, "%s/outbox.sqlite", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, statement, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

/* Deliveries awaiting a storage commitment: nothing of theirs is removed
 * (their results folder, their rows), they are not queued twice, and a
 * report moves them on -- only a report on a transaction asked of that
 * peer. */
static void test_outbox_commitment(const char *parent)
{
    char dir[400], j1[460], j2[460], f1[480], f2[480];
    snprintf(dir, sizeof dir, "%s/commit", parent);
    snprintf(j1, sizeof j1, "%s/results/J1", dir);
    snprintf(j2, sizeof j2, "%s/results/J2", dir);
    snprintf(f1, sizeof f1, "%s/x.dcm", j1);
    snprintf(f2, sizeof f2, "%s/y.dcm", j2);
    char cmd[2048];
    CHECK(snprintf(cmd, sizeof cmd, "mkdir -p %s %s && touch %s %s", j1, j2, f1, f2) <
          (int)sizeof cmd);
    CHECK(system(cmd) == 0);
    iso_outbox *o = NULL;
    iso_err err = {0};
    CHECK(iso_outbox_open(dir, &o, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "pacs", f1, "1.2.3.1", "aaa", 0, &err) == ISO_OK);
    CHECK(iso_outbox_add(o, "pacs", f2, "1.2.3.2", "bbb", 0, &err) == ISO_OK);
    sqlite3_int64 req = 0;
    char txn[65];
    sqlite3 *db = iso_outbox_db_lock(o);
    CHECK(iso_commit_request_new(db, "pacs", 1000, &req, txn, &err) == ISO_OK);
    iso_outbox_db_unlock(o);
    CHECK(iso_uid_valid(txn) && strncmp(txn, "2.25.", 5) == 0);
    char q[300];
    snprintf(q, sizeof q, "UPDATE outbox SET state='awaiting', attempts=1, commit_request=%lld",
             (long long)req);
    sql(dir, q);
    outbox_states(o, "awaiting 2");
    /* the same object again (a re-send job) does not queue it twice */
    CHECK(iso_outbox_add(o, "pacs", f1, "1.2.3.1", "aaa", 1999999999L, &err) == ISO_OK);
    outbox_states(o, "awaiting 2");
    iso_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ob_max_attempts = 2;
    cfg.ob_retry_base_seconds = 10;
    cfg.ob_retry_max_seconds = 60;
    cfg.ob_commitment_timeout_seconds = 100;
    char comment[128] = "";
    iso_commit_item items[2] = {{"1.2.840.10008.5.1.4.1.1.2", "1.2.3.1", 0},
                                {"1.2.840.10008.5.1.4.1.1.2", "1.2.3.2", 0x0112}};
    /* another peer, or a transaction never asked: refused, nothing moves */
    CHECK(iso_commit_report_received(o, &cfg, "other", txn, items, 2, 1001, comment,
                                     sizeof comment) == 0x0110);
    CHECK(iso_commit_report_received(o, &cfg, "pacs", "1.2.3.999", items, 2, 1001, comment,
                                     sizeof comment) == 0x0110);
    outbox_states(o, "awaiting 2");
    /* nothing awaiting is removed: neither results folder nor rows */
    int removed = 0;
    CHECK(iso_outbox_clean_results(o, dir, 0, 2000000000L, &removed, &err) == ISO_OK);
    CHECK(removed == 0 && access(f1, F_OK) == 0 && access(f2, F_OK) == 0);
    CHECK(iso_outbox_purge(o, &removed, &err) == ISO_OK && removed == 0);
    /* not expired before the timeout */
    int expired = -1;
    CHECK(iso_commit_requests_expire(o, &cfg, 1099, &expired, &err) == ISO_OK && expired == 0);
    /* the report: one committed, one failed (queued again, attempt 1 of 2) */
    CHECK(iso_commit_report_received(o, &cfg, "pacs", txn, items, 2, 1001, comment,
                                     sizeof comment) == 0);
    outbox_states(o, "committed 1, queued 1");
    CHECK(iso_outbox_clean_results(o, dir, 0, 2000000000L, &removed, &err) == ISO_OK);
    CHECK(removed == 1 && access(f1, F_OK) != 0 && access(f2, F_OK) == 0); /* J1 went */
    CHECK(iso_outbox_purge(o, &removed, &err) == ISO_OK && removed == 1);
    outbox_states(o, "queued 1");
    /* sent again, no report within the timeout: attempt 2 of 2, dead */
    db = iso_outbox_db_lock(o);
    CHECK(iso_commit_request_new(db, "pacs", 2000, &req, txn, &err) == ISO_OK);
    iso_outbox_db_unlock(o);
    snprintf(q, sizeof q, "UPDATE outbox SET state='awaiting', attempts=2, commit_request=%lld",
             (long long)req);
    sql(dir, q);
    CHECK(iso_commit_requests_expire(o, &cfg, 2100, &expired, &err) == ISO_OK && expired == 1);
    outbox_states(o, "dead 1");
    char summary[200];
    CHECK(iso_commit_requests_summary(o, summary, sizeof summary, &err) == ISO_OK);
    CHECK(strcmp(summary, "expired 1, reported 1") == 0);
    iso_outbox_close(o);
}

int main(void)
{
    int fd = mkstemp(conf_path);
    CHECK(fd >= 0);
    close(fd);
    char dir[] = "/tmp/isonode-jobs-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_routes();
    test_completion();
    test_queue(dir);
    test_outbox(dir);
    test_outbox_commitment(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, conf_path);
    (void)system(cmd);
    return CHECK_DONE();
}
