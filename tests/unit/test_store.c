/* test_store.c — the store's guarantees without the network: commit makes a
 * row and a file with the right checksum, whether written piecewise or
 * handed over whole to a writer thread (direct I/O from an aligned buffer,
 * buffered from an unaligned one); the objects of a series share one
 * directory; duplicates follow the policy; concurrent commits (distinct and
 * identical instances) give an exact index; recovery after a simulated crash
 * removes what no row names; free space below min_free_mb refuses; one
 * daemon per store. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/index.h"
#include "store/store.h"
#include "tests/unit/check.h"
#include "util/fsx.h"

static char dir[] = "/tmp/isonode-test-store-XXXXXX";

static void attrs_for(iso_attrs *a, const char *sop_uid, const char *series)
{
    memset(a, 0, sizeof *a);
    snprintf(a->sop_instance_uid, sizeof a->sop_instance_uid, "%s", sop_uid);
    snprintf(a->sop_class_uid, sizeof a->sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
    snprintf(a->study_uid, sizeof a->study_uid, "1.2.3");
    snprintf(a->series_uid, sizeof a->series_uid, "%s", series);
    snprintf(a->patient_id, sizeof a->patient_id, "P1");
    snprintf(a->transfer_syntax, sizeof a->transfer_syntax, "1.2.840.10008.1.2.1");
    snprintf(a->modality, sizeof a->modality, "CT");
    a->number_of_frames = 1;
}

/* Stores content as uid of series: written piecewise, or (whole) handed to
 * the store's writer threads in one piece from buf. */
static iso_code put_as(iso_store *s, const char *uid, const char *series, const void *content,
                       size_t len, bool whole, iso_store_outcome *out)
{
    iso_ingest *ing = NULL;
    iso_err err = {0};
    iso_code rc = iso_store_ingest_begin(s, &ing, &err);
    if (rc != ISO_OK)
        return rc;
    rc = whole ? iso_ingest_write_last(ing, content, len, &err)
               : iso_ingest_write(ing, content, len, &err);
    if (rc != ISO_OK) {
        iso_ingest_abort(ing);
        return rc;
    }
    iso_attrs a;
    attrs_for(&a, uid, series);
    return iso_ingest_commit(ing, &a, "TESTAE", out, &err);
}

/* Stores content as uid of series, sent by calling AE ae; replace: as a new
 * version of the node's own object whatever the duplicates policy. */
static iso_code put_from(iso_store *s, const char *uid, const char *series, const char *content,
                         const char *ae, bool replace, iso_store_outcome *out)
{
    iso_ingest *ing = NULL;
    iso_err err = {0};
    iso_code rc = iso_store_ingest_begin(s, &ing, &err);
    if (rc != ISO_OK)
        return rc;
    if (replace)
        iso_ingest_replace_existing(ing);
    rc = iso_ingest_write(ing, content, strlen(content), &err);
    if (rc != ISO_OK) {
        iso_ingest_abort(ing);
        return rc;
    }
    iso_attrs a;
    attrs_for(&a, uid, series);
    return iso_ingest_commit(ing, &a, ae, out, &err);
}

/* "AE n, AE n, ..." from the index's senders of series. */
static void senders_of(const char *series, char *out, size_t size)
{
    iso_index *idx = NULL;
    iso_err err = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/index.sqlite", dir);
    out[0] = '\0';
    iso_series_sender got[8];
    int n = 0;
    if (iso_index_open(p, true, &idx, &err) != ISO_OK ||
        iso_index_series_senders(idx, series, got, 8, &n, &err) != ISO_OK) {
        snprintf(out, size, "error: %.*s", (int)size - 8, err.msg);
        iso_index_close(idx);
        return;
    }
    iso_index_close(idx);
    size_t used = 0;
    for (int i = 0; i < n && i < 8 && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s %lld", i ? ", " : "", got[i].ae,
                                 (long long)got[i].instances);
}

static iso_code put(iso_store *s, const char *uid, const char *content, iso_store_outcome *out)
{
    return put_as(s, uid, "1.2.3.1", content, strlen(content), false, out);
}

/* The stored file of uid matches its row (size, SHA-256) and, if given,
 * the expected bytes; its directory goes to dir_out. */
static bool stored_matches(const char *uid, const void *expect, size_t len, char *dir_out,
                           size_t dir_size)
{
    iso_index *idx = NULL;
    iso_err err = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/index.sqlite", dir);
    if (iso_index_open(p, true, &idx, &err) != ISO_OK)
        return false;
    iso_instance_row row;
    bool ok = iso_index_find_instance(idx, uid, &row, &err) == ISO_OK;
    iso_index_close(idx);
    if (!ok)
        return false;
    char abs[700], hex[65];
    uint64_t size = 0;
    snprintf(abs, sizeof abs, "%s/%s", dir, row.path);
    if (fsx_sha256_file(abs, hex, &size, &err) != ISO_OK || strcmp(hex, row.sha256) != 0 ||
        (int64_t)size != row.size || size != len)
        return false;
    if (expect != NULL) {
        FILE *f = fopen(abs, "rb");
        unsigned char *got = malloc(len + 1);
        ok = f != NULL && got != NULL && fread(got, 1, len + 1, f) == len &&
             memcmp(got, expect, len) == 0;
        free(got);
        if (f)
            fclose(f);
    }
    /* objects/XX/S/H.dcm: XX is S's first two characters */
    const char *xx = row.path + strlen("objects/");
    const char *sdir = strchr(xx, '/');
    ok = ok && sdir != NULL && sdir - xx == 2 && strncmp(sdir + 1, xx, 2) == 0 &&
         strlen(sdir + 1) > 40 && sdir[41] == '/';
    snprintf(dir_out, dir_size, "%.*s", (int)(strrchr(row.path, '/') - row.path), row.path);
    return ok;
}

/* Series-level row of series_uid: its Modality, and how many rows match. */
typedef struct series_look {
    const char *uid;
    char modality[16];
    int rows;
} series_look;

static int look_series(void *user, const iso_row *row)
{
    series_look *l = user;
    bool mine = false;
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->names[i], "SeriesInstanceUID") == 0 && strcmp(row->values[i], l->uid) == 0)
            mine = true;
    if (!mine)
        return 0;
    l->rows++;
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->names[i], "Modality") == 0)
            snprintf(l->modality, sizeof l->modality, "%s", row->values[i]);
    return 0;
}

static iso_index *open_ro(void);

/* Stores a small object of series 1.2.3.77 with the given modality and
 * returns what the index then says of the series. */
static series_look put_modality(iso_store *s, const char *uid, const char *modality)
{
    series_look l = {"1.2.3.77", "", 0};
    iso_ingest *ing = NULL;
    iso_err err = {0};
    iso_store_outcome o;
    iso_attrs a;
    attrs_for(&a, uid, "1.2.3.77");
    snprintf(a.modality, sizeof a.modality, "%s", modality);
    if (iso_store_ingest_begin(s, &ing, &err) != ISO_OK)
        return l;
    if (iso_ingest_write(ing, uid, strlen(uid), &err) != ISO_OK ||
        iso_ingest_commit(ing, &a, "TESTAE", &o, &err) != ISO_OK) {
        if (err.code != ISO_OK)
            fprintf(stderr, "put_modality: %s\n", err.msg);
        return l;
    }
    iso_index *idx = open_ro();
    if (idx != NULL) {
        iso_index_list(idx, ISO_LEVEL_SERIES, NULL, 0, look_series, &l, &err);
        iso_index_close(idx);
    }
    return l;
}

static iso_index *open_ro(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/index.sqlite", dir);
    iso_index *idx = NULL;
    iso_err err = {0};
    iso_index_open(p, true, &idx, &err);
    return idx;
}

static int count_files(const char *sub)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "find %s/%s -type f | wc -l", dir, sub);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

typedef struct worker {
    iso_store *s;
    int id;
    int n;
    bool same_uid;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        char uid[64], content[128];
        if (w->same_uid)
            snprintf(uid, sizeof uid, "1.2.3.9.%d", i);
        else
            snprintf(uid, sizeof uid, "1.2.3.%d.%d", w->id + 100, i);
        snprintf(content, sizeof content, "object %s by %d", uid, w->id);
        iso_store_outcome o;
        /* half the threads hand objects over whole, through the writers */
        if (put_as(w->s, uid, "1.2.3.1", content, strlen(content), w->id % 2, &o) != ISO_OK)
            w->failures++;
    }
    return NULL;
}

/* Paths under data_dir are whole or an error, never cut short: a cut-off
 * name would be another file. */
static void paths_never_truncated(void)
{
    iso_path p;
    iso_err err = {0};
    CHECK(iso_layout_path("/srv/isonode", ISO_DATA_INDEX, &p, &err) == ISO_OK);
    CHECK(strcmp(p.s, "/srv/isonode/index.sqlite") == 0);
    CHECK(iso_layout_job_dir("/d", 12, 3, 99, &p, &err) == ISO_OK &&
          strcmp(p.s, "/d/results/J12.3.99") == 0);
    char rel[ISO_LAYOUT_REL_MAX];
    iso_layout_object("1.2.3", "1.2.3.4", 12345, rel);
    CHECK(strncmp(rel, "objects/", 8) == 0 && strstr(rel, ".v12345.dcm") != NULL);
    static char long_dir[PATH_MAX];
    memset(long_dir, 'a', sizeof long_dir - 8);
    long_dir[0] = '/';
    long_dir[sizeof long_dir - 8] = '\0';
    CHECK(iso_layout_path(long_dir, ISO_DATA_OUTBOX, &p, &err) == ISO_EINVAL);
    CHECK(p.s[0] == '\0' && strstr(err.msg, "path too long") != NULL);
    /* the store refuses such a data_dir rather than open a truncated one */
    iso_store_options opt = {long_dir, ISO_DUP_KEEP, 0};
    iso_store *s = NULL;
    iso_recovery_report rep;
    iso_err e2 = {0};
    CHECK(iso_store_open(&opt, &s, &rep, &e2) == ISO_EINVAL && s == NULL);
}

int main(void)
{
    paths_never_truncated();
    CHECK(mkdtemp(dir) != NULL);
    iso_store_options opt = {dir, ISO_DUP_KEEP, 0};
    iso_store *s = NULL;
    iso_recovery_report rep;
    iso_err err = {0};
    CHECK(iso_store_open(&opt, &s, &rep, &err) == ISO_OK);
    CHECK(!rep.was_unclean);

    /* one daemon per store */
    iso_store *s2 = NULL;
    iso_err err2 = {0};
    CHECK(iso_store_open(&opt, &s2, &rep, &err2) != ISO_OK);
    CHECK(strstr(err2.msg, "in use") != NULL);

    iso_store_outcome o;
    CHECK(put(s, "1.2.3.4.1", "first", &o) == ISO_OK && o == ISO_STORED_NEW);
    CHECK(put(s, "1.2.3.4.1", "second", &o) == ISO_OK && o == ISO_STORED_KEPT_EXISTING);
    iso_index *idx = open_ro();
    CHECK(idx != NULL);
    iso_instance_row row;
    CHECK(iso_index_find_instance(idx, "1.2.3.4.1", &row, &err) == ISO_OK);
    char abs[600], hex[65];
    uint64_t size = 0;
    snprintf(abs, sizeof abs, "%s/%s", dir, row.path);
    CHECK(fsx_sha256_file(abs, hex, &size, &err) == ISO_OK);
    CHECK(strcmp(hex, row.sha256) == 0 && size == 5); /* "first" kept */
    CHECK(strncmp(row.path, "objects/", 8) == 0 && strstr(row.path, "1.2.3") == NULL);
    iso_index_close(idx);
    CHECK(count_files("objects") == 1 && count_files("tmp") == 0);
    iso_ingest *ing = NULL;

    /* who sent what: a kept duplicate counts for its sender; new content
     * (a replaced instance) counts only for the AE that sent it */
    char who[200];
    CHECK(put_from(s, "1.2.9.1", "1.2.9", "one", "MODA", false, &o) == ISO_OK);
    CHECK(put_from(s, "1.2.9.2", "1.2.9", "two", "MODA", false, &o) == ISO_OK);
    senders_of("1.2.9", who, sizeof who);
    CHECK(strcmp(who, "MODA 2") == 0);
    CHECK(put_from(s, "1.2.9.2", "1.2.9", "two", "MODB", false, &o) == ISO_OK &&
          o == ISO_STORED_KEPT_EXISTING);
    CHECK(put_from(s, "1.2.9.2", "1.2.9", "two", "MODB", false, &o) == ISO_OK);
    senders_of("1.2.9", who, sizeof who);
    CHECK(strcmp(who, "MODA 2, MODB 1") == 0);
    CHECK(put_from(s, "1.2.9.1", "1.2.9", "one", "MODB", false, &o) == ISO_OK);
    senders_of("1.2.9", who, sizeof who);
    CHECK(strcmp(who, "MODA 2, MODB 2") == 0);
    CHECK(put_from(s, "1.2.9.1", "1.2.9", "one, changed", "MODC", true, &o) == ISO_OK &&
          o == ISO_STORED_REPLACED);
    senders_of("1.2.9", who, sizeof who);
    CHECK(strcmp(who, "MODA 1, MODB 1, MODC 1") == 0);
    /* the same bytes again, as the node's own replacement: kept, and its
     * sender counts without the others being forgotten */
    CHECK(put_from(s, "1.2.9.1", "1.2.9", "one, changed", "MODA", true, &o) == ISO_OK &&
          o == ISO_STORED_KEPT_EXISTING);
    senders_of("1.2.9", who, sizeof who);
    CHECK(strcmp(who, "MODA 2, MODB 1, MODC 1") == 0);
    idx = open_ro();
    int64_t sent = -1;
    CHECK(idx != NULL && iso_index_series_sent_by(idx, "1.2.9", "MODA", &sent, &err) == ISO_OK &&
          sent == 2);
    CHECK(iso_index_series_sent_by(idx, "1.2.9", "MODX", &sent, &err) == ISO_OK && sent == 0);
    iso_index_close(idx);

    /* handed over whole: 1 MB + 123 bytes from an aligned buffer (direct
     * I/O for the aligned part where the file system takes it) and from an
     * unaligned one; same series, same directory; another series, another */
    size_t big = (1u << 20) + 123;
    unsigned char *aligned = NULL;
    CHECK(posix_memalign((void **)&aligned, ISO_INGEST_ALIGN, big + 1) == 0);
    for (size_t i = 0; i < big + 1; i++)
        aligned[i] = (unsigned char)(i * 7 + 3);
    char d1[300], d2[300], d3[300], d4[300];
    CHECK(put_as(s, "1.2.3.5.1", "1.2.3.1", aligned, big, true, &o) == ISO_OK);
    CHECK(put_as(s, "1.2.3.5.2", "1.2.3.1", aligned + 1, big, true, &o) == ISO_OK);
    CHECK(put_as(s, "1.2.3.5.3", "1.2.3.2", aligned, 4096, true, &o) == ISO_OK);
    CHECK(stored_matches("1.2.3.5.1", aligned, big, d1, sizeof d1));
    CHECK(stored_matches("1.2.3.5.2", aligned + 1, big, d2, sizeof d2));
    CHECK(stored_matches("1.2.3.5.3", aligned, 4096, d3, sizeof d3));
    CHECK(stored_matches("1.2.3.4.1", "first", 5, d4, sizeof d4));
    CHECK(strcmp(d1, d2) == 0 && strcmp(d1, d4) == 0 && strcmp(d1, d3) != 0);
    /* handed over in parts while "receiving" (as the association does),
     * then the last part; and parts, then taken back and finished with
     * ordinary writes (an object that outgrew the association's memory) */
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, 3 * ISO_INGEST_ALIGN, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, 3 * ISO_INGEST_ALIGN, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, 100 * ISO_INGEST_ALIGN, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, 10, &err) != ISO_OK); /* backwards */
    CHECK(iso_ingest_write_last(ing, aligned, big, &err) == ISO_OK);
    iso_attrs a6;
    attrs_for(&a6, "1.2.3.5.6", "1.2.3.1");
    CHECK(iso_ingest_commit(ing, &a6, "TESTAE", &o, &err) == ISO_OK);
    CHECK(stored_matches("1.2.3.5.6", aligned, big, d3, sizeof d3));
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, 2 * ISO_INGEST_ALIGN, &err) == ISO_OK);
    CHECK(iso_ingest_take_back(ing, aligned, &err) == ISO_OK);
    CHECK(iso_ingest_write(ing, aligned + 2 * ISO_INGEST_ALIGN, big - 2 * ISO_INGEST_ALIGN,
                           &err) == ISO_OK);
    attrs_for(&a6, "1.2.3.5.7", "1.2.3.1");
    CHECK(iso_ingest_commit(ing, &a6, "TESTAE", &o, &err) == ISO_OK);
    CHECK(stored_matches("1.2.3.5.7", aligned, big, d3, sizeof d3));
    /* an empty last part is still waited for before the ingest goes */
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write_last(ing, aligned, 0, &err) == ISO_OK);
    iso_ingest_abort(ing);
    /* parts but never the last: refused at commit, nothing stays */
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write_ahead(ing, aligned, ISO_INGEST_ALIGN, &err) == ISO_OK);
    attrs_for(&a6, "1.2.3.5.8", "1.2.3.1");
    CHECK(iso_ingest_commit(ing, &a6, "TESTAE", &o, &err) != ISO_OK);
    free(aligned);
    /* handed over, then abandoned: the writer is waited for, nothing stays */
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write_last(ing, "abandoned", 9, &err) == ISO_OK);
    CHECK(iso_ingest_write(ing, "x", 1, &err) != ISO_OK); /* nothing after the last */
    iso_ingest_abort(ing);
    CHECK(count_files("objects") == 6 + 2 && count_files("tmp") == 0);

    /* parent rows: a repeated series is found again, a changed one updated */
    series_look l1 = put_modality(s, "1.2.3.7.1", "CT");
    series_look l2 = put_modality(s, "1.2.3.7.2", "CT");
    series_look l3 = put_modality(s, "1.2.3.7.3", "MR");
    series_look l4 = put_modality(s, "1.2.3.7.4", "MR");
    CHECK(l1.rows == 1 && strcmp(l1.modality, "CT") == 0);
    CHECK(l2.rows == 1 && strcmp(l2.modality, "CT") == 0);
    CHECK(l3.rows == 1 && strcmp(l3.modality, "MR") == 0);
    CHECK(l4.rows == 1 && strcmp(l4.modality, "MR") == 0);

    /* abort leaves nothing */
    CHECK(iso_store_ingest_begin(s, &ing, &err) == ISO_OK);
    CHECK(iso_ingest_write(ing, "xyz", 3, &err) == ISO_OK);
    iso_ingest_abort(ing);
    CHECK(count_files("tmp") == 0);

    /* concurrency: 8 threads x 40 distinct, then 8 threads racing on 20 uids */
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){s, i, 40, false, 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++) {
        CHECK(w[i].failures == 0);
        w[i] = (worker){s, i, 20, true, 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        CHECK(w[i].failures == 0);
    idx = open_ro();
    iso_counts c;
    CHECK(iso_index_counts(idx, &c, &err) == ISO_OK);
    CHECK(c.instances == 10 + 320 + 20 + 2);
    iso_index_close(idx);
    CHECK(count_files("objects") == 10 + 320 + 20 + 2);
    iso_store_close(s);
    CHECK(access("RUNNING", F_OK) != 0);

    /* replace policy */
    opt.duplicates = ISO_DUP_REPLACE;
    CHECK(iso_store_open(&opt, &s, &rep, &err) == ISO_OK);
    CHECK(!rep.was_unclean);
    CHECK(put(s, "1.2.3.4.1", "replacement", &o) == ISO_OK && o == ISO_STORED_REPLACED);
    idx = open_ro();
    CHECK(iso_index_find_instance(idx, "1.2.3.4.1", &row, &err) == ISO_OK);
    CHECK(row.version == 2 && strstr(row.path, ".v2.dcm") != NULL && row.size == 11);
    iso_index_close(idx);
    CHECK(count_files("objects") == 10 + 320 + 20 + 2);
    iso_store_close(s);

    /* simulated crash: RUNNING left, an orphan object and a partial tmp file */
    char p[600];
    snprintf(p, sizeof p, "%s/RUNNING", dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/objects/aa", dir);
    mkdir(p, 0750);
    snprintf(p, sizeof p, "%s/objects/aa/bb", dir);
    mkdir(p, 0750);
    snprintf(p, sizeof p, "%s/objects/aa/bb/orphan.dcm", dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/tmp/1-1.part", dir);
    fclose(fopen(p, "w"));
    CHECK(iso_store_open(&opt, &s, &rep, &err) == ISO_OK);
    CHECK(rep.was_unclean && rep.orphans_removed == 1 && rep.tmp_removed == 1);
    CHECK(count_files("objects") == 10 + 320 + 20 + 2 && count_files("tmp") == 0);
    iso_store_close(s);

    /* below min_free_mb */
    opt.min_free_mb = 1L << 40;
    CHECK(iso_store_open(&opt, &s, &rep, &err) == ISO_OK);
    iso_err e3 = {0};
    CHECK(iso_store_ingest_begin(s, &ing, &e3) == ISO_ENOSPC);
    CHECK(strstr(e3.msg, "min_free_mb") != NULL);
    iso_store_close(s);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_DONE();
}
