/* store.c — files and index committed together (design note in store.h).
 *
 * Threads: any number of association threads call ingest_begin/write/commit
 * concurrently; each object has its own file and fdatasync (the file system
 * merges concurrent journal commits).  An object held in the caller's
 * memory is handed over in parts (iso_ingest_write_ahead, _last) to
 * SYNC_THREADS writer threads, which write it while the rest arrives and
 * fdatasync it after the last part while the association thread parses and
 * hashes it, so the disk wait overlaps the network and the CPU work.  Those writes bypass the page cache
 * (O_DIRECT, where the file system allows it): the object is already in the
 * caller's memory, and copying it into fresh page-cache pages cost more than
 * the disk write itself on the virtual machines we measured (doc/DESIGN.md).
 * One committer thread owns the index handle and does rename, directory
 * fsync and COMMIT for whole batches.  The two queues are the only shared
 * state, both under one mutex, each with a condition for "queued" and one
 * for "done".
 */
#include "store/store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"
#include "store/layout.h"
#include "util/fsx.h"
#include "util/log.h"
#include "util/hex.h"

enum { MAX_BATCH = 512, WRITEBACK_CHUNK = 128 * 1024, SYNC_THREADS = 4 };

/* A part of an object for a writer thread (iso_ingest_write_ahead, _last):
 * write len bytes from p at offset at; the last part then fdatasyncs, once
 * the object's earlier parts are written. */
typedef struct write_req {
    iso_ingest *ing;
    const unsigned char *p;
    size_t len;
    off_t at;
    bool last;
    struct write_req *next;
} write_req;

typedef struct pending {
    iso_ingest *ing;
    const iso_attrs *attrs;
    const char *calling_ae;
    /* or, instead of an object, a study to remove (iso_store_remove_study) */
    const char *remove_study;
    const char *not_after;
    iso_removal *removal;
    iso_store_outcome outcome;
    iso_code rc;
    iso_err err;
    bool done;
    struct pending *next;
} pending;

typedef struct batch_state {
    iso_path dirs[2 * MAX_BATCH]; /* each object's directory and maybe a new one's parent */
    int n_dirs;
    iso_path renamed[MAX_BATCH];  /* absolute final paths made in this batch */
    iso_path obsolete[MAX_BATCH]; /* old versions to delete after COMMIT */
    int n_renamed, n_obsolete;
} batch_state;

struct iso_store {
    iso_path data_dir;
    iso_path objects_dir;
    iso_path tmp_dir;
    iso_path running_path;
    iso_dup_policy duplicates;
    long min_free_mb;
    int lock_fd;
    iso_index *idx; /* used only by the committer thread once it runs */
    pthread_t committer;
    bool committer_started;
    pthread_t writers[SYNC_THREADS];
    int n_writers;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    pthread_cond_t write_cv;      /* a write request queued */
    pthread_cond_t write_done_cv; /* a write request done */
    pending *head, *tail;
    write_req *write_head, *write_tail;
    bool writers_stopping;
    bool stopping;
    atomic_ulong tmp_seq;
    batch_state *batch; /* the committer's scratch (several MiB) */
};

struct iso_ingest {
    iso_store *store;
    int fd;
    EVP_MD_CTX *md;
    uint64_t size;
    uint64_t flushed; /* bytes already handed to writeback */
    iso_code write_rc;
    bool replace; /* replace a stored object of the same UID whatever the policy */
    bool durable; /* step 3 done: fdatasync'd and closed (make_durable) */
    iso_path tmp_path;
    char sha256[65];
    /* parts handed to writer threads (iso_ingest_write_ahead, _last) */
    int direct_fd;             /* the file opened with O_DIRECT; -1 not yet, -2 none */
    uint64_t handed;           /* bytes handed over so far */
    const unsigned char *whole; /* after write_last: the object, hashed at commit */
    const void *base;          /* the caller's buffer of the last hand-over */
    bool handed_last;
    int inflight;              /* parts queued or being written (under mu) */
    int failed_errno;          /* first failed write or fdatasync (under mu) */
    const char *failed_call;
    write_req last_req;
};

static void utc_now(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* ---- recovery ---- */

static iso_code empty_dir(const char *dir, unsigned *removed, iso_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return iso_fail(err, ISO_EIO, "opendir %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        iso_path p;
        iso_err e = {0};
        if (iso_path_fmt(&p, &e, "%s/%s", dir, de->d_name) != ISO_OK)
            ISO_WARN("recovery: %s", e.msg);
        else if (unlink(p.s) == 0)
            (*removed)++;
        else
            ISO_WARN("recovery: cannot remove %s: %s", p.s, strerror(errno));
    }
    closedir(d);
    return ISO_OK;
}

/* Removes a file under objects/ that has no index row (invariant I2). */
typedef struct sweep_ctx {
    iso_store *s;
    unsigned *removed;
} sweep_ctx;

static iso_code sweep_one(void *user, const char *rel, const char *abs, iso_err *err)
{
    sweep_ctx *sw = user;
    /* I2 holds only while nothing commits: recovery runs before the
     * committer starts */
    assert(!sw->s->committer_started);
    bool has = false;
    iso_code rc = iso_index_has_path(sw->s->idx, rel, &has, err);
    if (rc == ISO_OK && !has) {
        ISO_WARN("recovery: removing %s (no index row: commit was interrupted, never "
                 "acknowledged)",
                 rel);
        if (unlink(abs) == 0)
            (*sw->removed)++;
    }
    return rc;
}

/* Removes a kept original whose object has no index row: its object was
 * never acknowledged (the original is kept before the object commits), or
 * its study was removed by retention and a crash came before the unlinks.
 * Originals hold the identity the node removes: none may outlive its object. */
static iso_code sweep_original(void *user, const char *rel, const char *abs, iso_err *err)
{
    sweep_ctx *sw = user;
    assert(!sw->s->committer_started);
    char prefix[ISO_LAYOUT_REL_MAX];
    if (!iso_layout_object_prefix(rel, prefix))
        return ISO_OK; /* not an original's name: not ours to judge */
    bool has = false;
    iso_code rc = iso_index_has_path_prefix(sw->s->idx, prefix, &has, err);
    if (rc == ISO_OK && !has) {
        ISO_WARN("recovery: removing %s (a kept original whose object has no index row)", rel);
        if (unlink(abs) == 0)
            (*sw->removed)++;
    }
    return rc;
}

static iso_code sweep_orphans(iso_store *s, unsigned *removed, unsigned *originals, iso_err *err)
{
    sweep_ctx sw = {s, removed}, so = {s, originals};
    iso_code rc = iso_layout_walk(s->data_dir.s, sweep_one, &sw, err);
    if (rc == ISO_OK)
        rc = iso_layout_walk_originals(s->data_dir.s, sweep_original, &so, err);
    return rc;
}

/* ---- committer ---- */

static void unlink_quietly(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        ISO_WARN("cannot remove %s: %s", path, strerror(errno));
}


/* Notes the directory holding path, to be fsync'd before the COMMIT. */
static void note_parent_dir(batch_state *b, const iso_path *path)
{
    iso_path dir = *path;
    char *slash = strrchr(dir.s, '/');
    if (slash)
        *slash = '\0';
    for (int i = 0; i < b->n_dirs; i++)
        if (strcmp(b->dirs[i].s, dir.s) == 0)
            return;
    assert(b->n_dirs < 2 * MAX_BATCH); /* at most a directory and its parent per object */
    b->dirs[b->n_dirs++] = dir;
}

/* Decides and performs steps 4 (rename) and the row write for one object,
 * inside the batch transaction. */
static iso_code commit_one(iso_store *s, pending *p, batch_state *b, iso_err *err)
{
    iso_ingest *ing = p->ing;
    const iso_attrs *a = p->attrs;
    iso_instance_row old;
    iso_code found = iso_index_find_instance(s->idx, a->sop_instance_uid, &old, err);
    if (found != ISO_OK && found != ISO_ENOTFOUND)
        return found;
    bool exists = found == ISO_OK;
    /* the same bytes again replace nothing, whatever the policy */
    if (exists && ((s->duplicates == ISO_DUP_KEEP && !ing->replace) ||
                   strcmp(old.sha256, ing->sha256) == 0)) {
        /* the stored copy stays; whoever sent it again counts as its sender */
        char now[40];
        utc_now(now, sizeof now);
        iso_code rc = iso_index_note_sender(s->idx, old.id, p->calling_ae, now, err);
        if (rc != ISO_OK)
            return rc;
        p->outcome = ISO_STORED_KEPT_EXISTING;
        unlink_quietly(ing->tmp_path.s);
        return ISO_OK;
    }
    /* I1: a name is given only to bytes already synced and closed */
    assert(ing->durable && ing->fd == -1 && strlen(ing->sha256) == 64);
    int version = exists ? old.version + 1 : 1;
    char rel[ISO_LAYOUT_REL_MAX];
    iso_path abs, dir;
    iso_layout_object(a->series_uid, a->sop_instance_uid, version, rel);
    iso_code rc = iso_layout_abs(s->data_dir.s, rel, &abs, err);
    if (rc != ISO_OK)
        return rc;
    dir = abs;
    *strrchr(dir.s, '/') = '\0';
    /* Usually the series directory exists and one mkdir says so (EEXIST).
     * A new one's entry in its parent is synced with the batch's
     * directories, before the COMMIT. */
    if (mkdir(dir.s, 0750) == 0) {
        note_parent_dir(b, &dir);
    } else if (errno == ENOENT) {
        rc = fsx_mkdir_p(dir.s, err); /* creates and syncs missing parents */
    } else if (errno != EEXIST) {
        int e = errno;
        rc = iso_fail(err, fsx_errno_code(e), "mkdir %s: %s", dir.s, strerror(e));
    }
    if (rc != ISO_OK)
        return rc;
    char now[40];
    utc_now(now, sizeof now);
    iso_instance_file f = {rel, ing->sha256, (int64_t)ing->size, p->calling_ae, now, version};
    iso_path obsolete;
    if (exists && (rc = iso_layout_abs(s->data_dir.s, old.path, &obsolete, err)) != ISO_OK)
        return rc;
    rc = iso_index_savepoint(s->idx, err);
    if (rc != ISO_OK)
        return rc;
    rc = iso_index_put_instance(s->idx, a, &f, exists ? old.id : 0, err);
    if (rc != ISO_OK) {
        iso_index_rollback_savepoint(s->idx);
        return rc;
    }
    if (rename(ing->tmp_path.s, abs.s) != 0) {
        int e = errno;
        iso_index_rollback_savepoint(s->idx);
        return iso_fail(err, fsx_errno_code(e), "rename %s -> %s: %s", ing->tmp_path.s, abs.s,
                        strerror(e));
    }
    rc = iso_index_release(s->idx, err);
    if (rc != ISO_OK) {
        /* The row is gone with the savepoint; the file must go too. */
        unlink_quietly(abs.s);
        return rc;
    }
    assert(b->n_renamed < MAX_BATCH && b->n_obsolete < MAX_BATCH);
    b->renamed[b->n_renamed++] = abs;
    note_parent_dir(b, &abs);
    if (exists) {
        b->obsolete[b->n_obsolete++] = obsolete;
        p->outcome = ISO_STORED_REPLACED;
    } else {
        p->outcome = ISO_STORED_NEW;
    }
    return ISO_OK;
}

static void commit_batch(iso_store *s, pending **items, int n)
{
    batch_state *b = s->batch;
    b->n_dirs = b->n_renamed = b->n_obsolete = 0;
    iso_err err = {0};
    iso_code rc = iso_index_begin(s->idx, &err);
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        pending *p = items[i];
        p->rc = commit_one(s, p, b, &p->err);
        if (p->rc != ISO_OK) {
            ISO_WARN("store: %s not committed: %s", p->attrs->sop_instance_uid, p->err.msg);
            unlink_quietly(p->ing->tmp_path.s);
        }
    }
    for (int i = 0; rc == ISO_OK && i < b->n_dirs; i++)
        rc = fsx_fsync_dir(b->dirs[i].s, &err);
    /* I1: every renamed file's directory entry is synced before the rows
     * naming it commit */
    assert(rc != ISO_OK || b->n_dirs >= (b->n_renamed > 0 ? 1 : 0));
    if (rc == ISO_OK)
        rc = iso_index_commit(s->idx, &err);
    if (rc != ISO_OK) {
        /* Nothing of this batch is acknowledged: undo the renames. */
        iso_index_rollback(s->idx);
        ISO_ERROR("store: batch of %d not committed: %s", n, err.msg);
        for (int i = 0; i < b->n_renamed; i++)
            unlink_quietly(b->renamed[i].s);
        for (int i = 0; i < n; i++)
            if (items[i]->rc == ISO_OK) {
                items[i]->rc = err.code;
                iso_fail(&items[i]->err, err.code, "%s", err.msg);
                unlink_quietly(items[i]->ing->tmp_path.s);
            }
        return;
    }
    for (int i = 0; i < b->n_obsolete; i++)
        unlink_quietly(b->obsolete[i].s);
}

/* ---- removal (retention) ---- */

typedef struct doomed {
    iso_path *files; /* objects and originals */
    size_t n, cap;
    bool failed;
    const char *data_dir;
} doomed;

static bool doom(doomed *d, const char *rel)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 256;
        iso_path *f = realloc(d->files, nc * sizeof *f);
        if (f == NULL)
            return false;
        d->files = f;
        d->cap = nc;
    }
    iso_err e = {0};
    if (iso_layout_abs(d->data_dir, rel, &d->files[d->n], &e) != ISO_OK)
        return false;
    d->n++;
    return true;
}

static int doom_instance(void *user, const char *rel, const char *series_uid, const char *sop_uid,
                         const char *calling_ae)
{
    (void)calling_ae;
    doomed *d = user;
    char orig[ISO_LAYOUT_REL_MAX];
    iso_layout_original(series_uid, sop_uid, orig);
    if (!doom(d, rel) || !doom(d, orig)) {
        d->failed = true;
        return 1;
    }
    return 0;
}

/* On the committer thread, so no object of the study commits meanwhile:
 * its rows go in one transaction, then its files.  Rows first: a crash in
 * between leaves files without rows, which recovery sweeps (I2) -- never a
 * row without its file (I1). */
static void remove_study(iso_store *s, pending *p)
{
    iso_removal *out = p->removal;
    memset(out, 0, sizeof *out);
    doomed d = {NULL, 0, 0, false, s->data_dir.s};
    bool deleted = false;
    iso_code rc = iso_index_begin(s->idx, &p->err);
    if (rc == ISO_OK)
        rc = iso_index_study_instances(s->idx, p->remove_study, doom_instance, &d, &p->err);
    if (rc == ISO_OK && d.failed)
        rc = iso_fail(&p->err, ISO_ENOMEM, "out of memory listing the study's files");
    if (rc == ISO_OK)
        rc = iso_index_delete_study(s->idx, p->remove_study, p->not_after, &deleted, &p->err);
    if (rc == ISO_OK && deleted)
        rc = iso_index_commit(s->idx, &p->err);
    else
        iso_index_rollback(s->idx);
    p->rc = rc;
    if (rc == ISO_OK && deleted) {
        out->removed = true;
        for (size_t i = 0; i < d.n; i++) {
            struct stat st;
            if (lstat(d.files[i].s, &st) != 0)
                continue; /* an original that was not kept */
            if (unlink(d.files[i].s) == 0) {
                out->bytes += st.st_size;
                out->files++;
            } else {
                ISO_WARN("store: cannot remove %s: %s (recovery sweeps it)", d.files[i].s,
                         strerror(errno));
            }
        }
    }
    free(d.files);
}

/* Queues p for the committer and waits until it is done; false (nothing
 * queued) when the store is closing. */
static bool submit_and_wait(iso_store *s, pending *p)
{
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    if (s->tail)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    pthread_cond_signal(&s->work_cv);
    while (!p->done)
        pthread_cond_wait(&s->done_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return true;
}

iso_code iso_store_remove_study(iso_store *s, const char *study_uid, const char *not_after,
                                iso_removal *out, iso_err *err)
{
    pending p = {.remove_study = study_uid, .not_after = not_after, .removal = out};
    if (!submit_and_wait(s, &p))
        return iso_fail(err, ISO_ESTOPPED, "store is closing");
    return p.rc == ISO_OK ? ISO_OK : iso_fail(err, p.rc, "%s", p.err.msg);
}

static void *committer_main(void *arg)
{
    iso_store *s = arg;
    pending *items[MAX_BATCH];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->head == NULL && s->stopping)
            break;
        int n = 0;
        /* a removal goes alone; objects in batches up to the next one */
        bool removal = s->head->remove_study != NULL;
        while (s->head != NULL && n < MAX_BATCH && (removal ? n == 0 : s->head->remove_study == NULL)) {
            items[n++] = s->head;
            s->head = s->head->next;
        }
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        if (removal)
            remove_study(s, items[0]);
        else
            commit_batch(s, items, n);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++)
            items[i]->done = true;
        pthread_cond_broadcast(&s->done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- writer threads (iso_ingest_write_last) ---- */

static int pwrite_all(int fd, const unsigned char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return ENOSPC;
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Writes one part: the aligned bytes through the O_DIRECT descriptor when
 * there is one, the rest (and everything, where the file system refuses
 * direct I/O after all) through the page cache.  Returns 0 or an errno. */
static int write_part(const write_req *r)
{
    iso_ingest *ing = r->ing;
    const unsigned char *p = r->p;
    size_t len = r->len, direct = 0;
    off_t at = r->at;
    if (ing->direct_fd >= 0 && ((uintptr_t)p % ISO_INGEST_ALIGN) == 0 &&
        (at % ISO_INGEST_ALIGN) == 0)
        direct = len - len % ISO_INGEST_ALIGN;
    if (direct > 0) {
        int e = pwrite_all(ing->direct_fd, p, direct, at);
        if (e == 0) {
            p += direct;
            at += (off_t)direct;
            len -= direct;
        } else if (e != EINVAL) {
            return e; /* EINVAL: no direct I/O here after all; write it all below */
        }
    }
    return pwrite_all(ing->fd, p, len, at);
}

static void *writer_main(void *arg)
{
    iso_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->write_head == NULL && !s->writers_stopping)
            pthread_cond_wait(&s->write_cv, &s->mu);
        if (s->write_head == NULL)
            break;
        write_req *r = s->write_head;
        s->write_head = r->next;
        if (s->write_head == NULL)
            s->write_tail = NULL;
        iso_ingest *ing = r->ing;
        bool skip = ing->failed_errno != 0;
        pthread_mutex_unlock(&s->mu);
        int e = skip ? 0 : write_part(r);
        pthread_mutex_lock(&s->mu);
        if (e != 0 && ing->failed_errno == 0) {
            ing->failed_errno = e;
            ing->failed_call = "write";
        }
        if (r->last) {
            /* Parts are taken in order, so the earlier ones are written or
             * being written by other threads: wait for them, then sync. */
            while (ing->inflight > 1)
                pthread_cond_wait(&s->write_done_cv, &s->mu);
            if (ing->failed_errno == 0) {
                pthread_mutex_unlock(&s->mu);
                e = fdatasync(ing->fd) == 0 ? 0 : errno;
                pthread_mutex_lock(&s->mu);
                if (e != 0) {
                    ing->failed_errno = e;
                    ing->failed_call = "fdatasync";
                }
            }
        }
        ing->inflight--;
        if (!r->last)
            free(r);
        pthread_cond_broadcast(&s->write_done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues one part of ing for the writer threads. */
static void queue_part(iso_ingest *ing, write_req *r)
{
    iso_store *s = ing->store;
    pthread_mutex_lock(&s->mu);
    ing->inflight++;
    if (s->write_tail)
        s->write_tail->next = r;
    else
        s->write_head = r;
    s->write_tail = r;
    pthread_cond_signal(&s->write_cv);
    pthread_mutex_unlock(&s->mu);
}

void iso_ingest_wait_writes(iso_ingest *ing)
{
    if (ing == NULL || ing->direct_fd == -1)
        return; /* nothing was ever handed over (check_handover sets it) */
    iso_store *s = ing->store;
    pthread_mutex_lock(&s->mu);
    while (ing->inflight > 0)
        pthread_cond_wait(&s->write_done_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

/* The first part handed over opens the file for direct I/O as well. */
static iso_code check_handover(iso_ingest *ing, const void *whole, size_t upto, iso_err *err)
{
    if (ing->write_rc != ISO_OK)
        return iso_fail(err, ing->write_rc, "earlier write failed");
    if (ing->size != 0 || ing->handed_last || upto < ing->handed)
        return iso_fail(err, ISO_EINVAL, "object parts handed over out of order");
    if (whole != ing->base && ing->base != NULL) {
        /* the caller's buffer moved: only after the parts from the old one
         * are written */
        pthread_mutex_lock(&ing->store->mu);
        int inflight = ing->inflight;
        pthread_mutex_unlock(&ing->store->mu);
        if (inflight > 0)
            return iso_fail(err, ISO_EINVAL, "object buffer moved while parts of it were "
                            "being written");
    }
    ing->base = whole;
    if (ing->direct_fd == -1) {
        ing->direct_fd = open(ing->tmp_path.s, O_WRONLY | O_DIRECT | O_CLOEXEC);
        if (ing->direct_fd < 0)
            ing->direct_fd = -2; /* tried: this file system has no direct I/O */
    }
    return ISO_OK;
}

iso_code iso_ingest_write_ahead(iso_ingest *ing, const void *whole, size_t upto, iso_err *err)
{
    if (check_handover(ing, whole, upto, err) != ISO_OK)
        return err->code;
    if (upto == ing->handed)
        return ISO_OK;
    write_req *r = malloc(sizeof *r);
    if (r == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    *r = (write_req){.ing = ing, .p = (const unsigned char *)whole + ing->handed,
                     .len = upto - ing->handed, .at = (off_t)ing->handed};
    ing->handed = upto;
    queue_part(ing, r);
    return ISO_OK;
}

iso_code iso_ingest_write_last(iso_ingest *ing, const void *whole, size_t len, iso_err *err)
{
    if (check_handover(ing, whole, len, err) != ISO_OK)
        return err->code;
    ing->last_req = (write_req){.ing = ing, .p = (const unsigned char *)whole + ing->handed,
                                .len = len - ing->handed, .at = (off_t)ing->handed,
                                .last = true};
    ing->whole = whole;
    ing->handed = len;
    ing->handed_last = true;
    queue_part(ing, &ing->last_req);
    return ISO_OK;
}

/* ---- open / close ---- */

/* objects/00 .. objects/ff exist from the start, so storing an object never
 * creates more than its series directory. */
static iso_code make_fan_dirs(iso_store *s, iso_err *err)
{
    bool made = false;
    for (unsigned i = 0; i < 256; i++) {
        char rel[ISO_LAYOUT_REL_MAX];
        iso_path abs;
        iso_layout_fan_dir(i, rel);
        if (iso_layout_abs(s->data_dir.s, rel, &abs, err) != ISO_OK)
            return err->code;
        if (mkdir(abs.s, 0750) == 0)
            made = true;
        else if (errno != EEXIST)
            return iso_fail(err, fsx_errno_code(errno), "mkdir %s: %s", abs.s, strerror(errno));
    }
    return made ? fsx_fsync_dir(s->objects_dir.s, err) : ISO_OK;
}

/* Releases what open acquired; the committer must not be running. */
static void store_free(iso_store *s)
{
    iso_index_close(s->idx);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_cond_destroy(&s->write_cv);
    pthread_cond_destroy(&s->write_done_cv);
    free(s->batch);
    free(s);
}

/* Ends the writer threads and the committer once their queues are empty. */
static void stop_threads(iso_store *s)
{
    pthread_mutex_lock(&s->mu);
    s->writers_stopping = true;
    pthread_cond_broadcast(&s->write_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_writers; i++)
        pthread_join(s->writers[i], NULL);
    s->n_writers = 0;
    if (s->committer_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->work_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer, NULL);
        s->committer_started = false;
    }
}

iso_code iso_store_open(const iso_store_options *o, iso_store **out, iso_recovery_report *report,
                        iso_err *err)
{
    *out = NULL;
    memset(report, 0, sizeof *report);
    iso_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    s->lock_fd = -1;
    s->batch = malloc(sizeof *s->batch);
    if (s->batch == NULL) {
        free(s);
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    }
    s->duplicates = o->duplicates;
    s->min_free_mb = o->min_free_mb;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    pthread_cond_init(&s->write_cv, NULL);
    pthread_cond_init(&s->write_done_cv, NULL);
    iso_path lock_path, index_path;
    if (iso_path_fmt(&s->data_dir, err, "%s", o->data_dir) != ISO_OK ||
        iso_layout_path(o->data_dir, ISO_DATA_OBJECTS, &s->objects_dir, err) != ISO_OK ||
        iso_layout_path(o->data_dir, ISO_DATA_TMP, &s->tmp_dir, err) != ISO_OK ||
        iso_layout_path(o->data_dir, ISO_DATA_RUNNING, &s->running_path, err) != ISO_OK ||
        iso_layout_path(o->data_dir, ISO_DATA_LOCK, &lock_path, err) != ISO_OK ||
        iso_layout_path(o->data_dir, ISO_DATA_INDEX, &index_path, err) != ISO_OK)
        goto fail;
    if (fsx_mkdir_p(s->data_dir.s, err) != ISO_OK ||
        fsx_mkdir_durable(s->objects_dir.s, err) != ISO_OK ||
        fsx_mkdir_durable(s->tmp_dir.s, err) != ISO_OK || make_fan_dirs(s, err) != ISO_OK)
        goto fail;

    /* One daemon per store. */
    s->lock_fd = open(lock_path.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0) {
        iso_fail(err, ISO_EIO, "open %s: %s", lock_path.s, strerror(errno));
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        iso_fail(err, ISO_EIO, "%s is in use by another isonoded", s->data_dir.s);
        goto fail;
    }

    if (iso_index_open(index_path.s, false, &s->idx, err) != ISO_OK)
        goto fail;

    report->was_unclean = access(s->running_path.s, F_OK) == 0;
    if (report->was_unclean) {
        ISO_WARN("store: previous run did not stop cleanly; recovering %s", s->data_dir.s);
        if (empty_dir(s->tmp_dir.s, &report->tmp_removed, err) != ISO_OK ||
            sweep_orphans(s, &report->orphans_removed, &report->originals_removed, err) != ISO_OK)
            goto fail;
    } else {
        /* A clean stop leaves tmp/ empty; anything there is stale. */
        if (empty_dir(s->tmp_dir.s, &report->tmp_removed, err) != ISO_OK)
            goto fail;
    }
    int rfd = open(s->running_path.s, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (rfd < 0) {
        iso_fail(err, ISO_EIO, "create %s: %s", s->running_path.s, strerror(errno));
        goto fail;
    }
    close(rfd);
    if (fsx_fsync_dir(s->data_dir.s, err) != ISO_OK)
        goto fail;

    char now[40], existing[64];
    utc_now(now, sizeof now);
    iso_err meta_err = {0};
    if (iso_index_meta_get(s->idx, "created_at", existing, sizeof existing, &meta_err) ==
        ISO_ENOTFOUND)
        if (iso_index_meta_set(s->idx, "created_at", now, err) != ISO_OK)
            goto fail;
    if (iso_index_meta_set(s->idx, "last_start", now, err) != ISO_OK)
        goto fail;

    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        iso_fail(err, ISO_ENOMEM, "cannot start store committer thread");
        goto fail;
    }
    s->committer_started = true;
    for (; s->n_writers < SYNC_THREADS; s->n_writers++)
        if (pthread_create(&s->writers[s->n_writers], NULL, writer_main, s) != 0) {
            iso_fail(err, ISO_ENOMEM, "cannot start store writer threads");
            stop_threads(s);
            goto fail;
        }
    *out = s;
    return ISO_OK;
fail:
    store_free(s);
    return err->code ? err->code : ISO_EIO;
}

void iso_store_close(iso_store *s)
{
    if (s == NULL)
        return;
    stop_threads(s);
    /* the committer drains its queue before it ends: no waiting sender is
     * left without an answer, and tmp/ is empty (I3) */
    assert(s->head == NULL && s->write_head == NULL);
    iso_index_close(s->idx);
    s->idx = NULL;
    if (unlink(s->running_path.s) == 0) {
        iso_err e = {0};
        if (fsx_fsync_dir(s->data_dir.s, &e) != ISO_OK)
            ISO_WARN("store: %s", e.msg);
    }
    store_free(s);
}

/* ---- ingest ---- */

iso_code iso_store_ingest_begin(iso_store *s, iso_ingest **out, iso_err *err)
{
    *out = NULL;
    uint64_t free_mb = 0;
    if (fsx_free_mb(s->data_dir.s, &free_mb, err) != ISO_OK)
        return err->code;
    if ((long)free_mb < s->min_free_mb)
        return iso_fail(err, ISO_ENOSPC, "only %llu MiB free in %s (min_free_mb = %ld)",
                        (unsigned long long)free_mb, s->data_dir.s, s->min_free_mb);
    iso_ingest *ing = calloc(1, sizeof *ing);
    if (ing == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    ing->store = s;
    ing->direct_fd = -1;
    ing->md = EVP_MD_CTX_new();
    if (ing->md == NULL || EVP_DigestInit_ex(ing->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ing->md);
        free(ing);
        return iso_fail(err, ISO_ENOMEM, "sha256 init failed");
    }
    unsigned long seq = atomic_fetch_add(&s->tmp_seq, 1);
    ing->fd = -1;
    if (iso_path_fmt(&ing->tmp_path, err, "%s/%ld-%lu.part", s->tmp_dir.s, (long)getpid(), seq) ==
        ISO_OK) {
        ing->fd = open(ing->tmp_path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (ing->fd < 0)
            iso_fail(err, fsx_errno_code(errno), "create %s: %s", ing->tmp_path.s,
                     strerror(errno));
    }
    if (ing->fd < 0) {
        EVP_MD_CTX_free(ing->md);
        free(ing);
        return err->code;
    }
    *out = ing;
    return ISO_OK;
}

iso_code iso_ingest_write(iso_ingest *ing, const void *buf, size_t len, iso_err *err)
{
    if (ing->write_rc != ISO_OK)
        return iso_fail(err, ing->write_rc, "earlier write failed");
    if (ing->handed != 0)
        return iso_fail(err, ISO_EINVAL, "write after parts were handed over");
    iso_code rc = fsx_write_all(ing->fd, buf, len, ing->tmp_path.s, err);
    if (rc == ISO_OK && EVP_DigestUpdate(ing->md, buf, len) != 1)
        rc = iso_fail(err, ISO_EIO, "sha256 update failed");
    if (rc != ISO_OK) {
        ing->write_rc = rc;
        return rc;
    }
    ing->size += len;
    /* Start writeback while the rest arrives, so the fdatasync before the
     * commit mostly waits for the journal, not for the data. */
    if (ing->size - ing->flushed >= WRITEBACK_CHUNK) {
        (void)sync_file_range(ing->fd, (off_t)ing->flushed, (off_t)(ing->size - ing->flushed),
                              SYNC_FILE_RANGE_WRITE);
        ing->flushed = ing->size;
    }
    return ISO_OK;
}

iso_code iso_ingest_take_back(iso_ingest *ing, const void *whole, iso_err *err)
{
    if (ing->handed == 0)
        return ISO_OK;
    if (ing->handed_last)
        return iso_fail(err, ISO_EINVAL, "object already handed over whole");
    iso_ingest_wait_writes(ing);
    iso_code rc = ISO_OK;
    if (ing->failed_errno != 0)
        rc = iso_fail(err, fsx_errno_code(ing->failed_errno), "%s: %s", ing->failed_call,
                      strerror(ing->failed_errno));
    else if (EVP_DigestUpdate(ing->md, whole, ing->handed) != 1)
        rc = iso_fail(err, ISO_EIO, "sha256 update failed");
    else if (lseek(ing->fd, (off_t)ing->handed, SEEK_SET) < 0) /* parts used pwrite */
        rc = iso_fail(err, ISO_EIO, "lseek %s: %s", ing->tmp_path.s, strerror(errno));
    if (rc != ISO_OK) {
        ing->write_rc = rc;
        return rc;
    }
    ing->size = ing->flushed = ing->handed;
    ing->handed = 0;
    return ISO_OK;
}

const char *iso_ingest_tmp_path(const iso_ingest *ing) { return ing->tmp_path.s; }

static void ingest_free(iso_ingest *ing)
{
    iso_ingest_wait_writes(ing); /* a writer thread may still use fd and ing */
    if (ing->fd >= 0)
        close(ing->fd);
    if (ing->direct_fd >= 0)
        close(ing->direct_fd);
    EVP_MD_CTX_free(ing->md);
    free(ing);
}

void iso_ingest_abort(iso_ingest *ing)
{
    if (ing == NULL)
        return;
    iso_ingest_wait_writes(ing);
    unlink_quietly(ing->tmp_path.s);
    ingest_free(ing);
}

/* Step 3, whichever way the object was written: its bytes are on disk (the
 * writers' fdatasync after a hand-over, our own after iso_ingest_write). */
static iso_code make_durable(iso_ingest *ing, iso_err *err)
{
    if (ing->write_rc != ISO_OK)
        return iso_fail(err, ing->write_rc, "object was not written completely");
    if (ing->handed != 0 && !ing->handed_last)
        return iso_fail(err, ISO_EINVAL, "object not handed over completely");
    if (!ing->handed_last) {
        if (fdatasync(ing->fd) == 0)
            return ISO_OK;
        int e = errno;
        return iso_fail(err, fsx_errno_code(e), "fdatasync: %s", strerror(e));
    }
    iso_ingest_wait_writes(ing);
    if (ing->failed_errno != 0)
        return iso_fail(err, fsx_errno_code(ing->failed_errno), "%s: %s", ing->failed_call,
                        strerror(ing->failed_errno));
    ing->size = ing->handed;
    return ISO_OK;
}

/* make_durable, and the mark commit_one asserts (I1). */
static iso_code make_durable_marked(iso_ingest *ing, iso_err *err)
{
    iso_code rc = make_durable(ing, err);
    if (rc == ISO_OK) {
        assert(ing->inflight == 0); /* no writer thread still holds a part */
        ing->durable = true;
    }
    return rc;
}

iso_code iso_ingest_commit(iso_ingest *ing, const iso_attrs *attrs, const char *calling_ae,
                           iso_store_outcome *outcome, iso_err *err)
{
    iso_store *s = ing->store;
    /* An object handed to the writer threads is hashed here, while they
     * write and sync it. */
    unsigned char md[32];
    unsigned int mdlen = 0;
    if ((ing->handed_last && EVP_DigestUpdate(ing->md, ing->whole, ing->handed) != 1) ||
        EVP_DigestFinal_ex(ing->md, md, &mdlen) != 1) {
        iso_ingest_abort(ing);
        return iso_fail(err, ISO_EIO, "sha256 failed");
    }
    iso_hex(md, 32, ing->sha256);
    /* The data is on disk before any name points at it. */
    iso_code rc = make_durable_marked(ing, err);
    if (rc != ISO_OK) {
        iso_ingest_abort(ing);
        return rc;
    }
    if (close(ing->fd) != 0) {
        int e = errno;
        ing->fd = -1;
        iso_ingest_abort(ing);
        return iso_fail(err, fsx_errno_code(e), "close: %s", strerror(e));
    }
    ing->fd = -1;

    pending p = {.ing = ing, .attrs = attrs, .calling_ae = calling_ae ? calling_ae : ""};
    if (!submit_and_wait(s, &p)) {
        iso_ingest_abort(ing);
        return iso_fail(err, ISO_ESTOPPED, "store is closing");
    }
    ingest_free(ing);
    if (p.rc != ISO_OK)
        return iso_fail(err, p.rc, "%s", p.err.msg);
    *outcome = p.outcome;
    return ISO_OK;
}

void iso_store_drop_original(iso_store *store, const char *new_series_uid,
                             const char *new_sop_uid)
{
    char rel[ISO_LAYOUT_REL_MAX];
    iso_path path;
    iso_err e = {0};
    iso_layout_original(new_series_uid, new_sop_uid, rel);
    if (iso_layout_abs(store->data_dir.s, rel, &path, &e) == ISO_OK)
        unlink_quietly(path.s);
}

iso_code iso_ingest_keep_original(iso_ingest *ing, const char *new_series_uid,
                                  const char *new_sop_uid, bool *created, iso_err *err)
{
    iso_store *s = ing->store;
    *created = false;
    iso_code rc = ISO_OK;
    char rel[ISO_LAYOUT_REL_MAX];
    iso_path path, dir;
    if ((rc = make_durable_marked(ing, err)) != ISO_OK)
        goto fail;
    iso_layout_original(new_series_uid, new_sop_uid, rel);
    if ((rc = iso_layout_abs(s->data_dir.s, rel, &path, err)) != ISO_OK)
        goto fail;
    dir = path;
    *strrchr(dir.s, '/') = '\0';
    if ((rc = fsx_mkdir_p(dir.s, err)) != ISO_OK)
        goto fail;
    *created = access(path.s, F_OK) != 0;
    if (rename(ing->tmp_path.s, path.s) != 0) {
        rc = iso_fail(err, fsx_errno_code(errno), "rename to %s: %s", path.s, strerror(errno));
        goto fail;
    }
    if ((rc = fsx_fsync_dir(dir.s, err)) != ISO_OK)
        goto fail_renamed;
    ingest_free(ing);
    return ISO_OK;
fail_renamed:
    unlink_quietly(path.s);
fail:
    iso_ingest_abort(ing);
    return rc;
}

void iso_ingest_replace_existing(iso_ingest *ing)
{
    ing->replace = true;
}

iso_code iso_store_put_file(iso_store *store, const char *path, const char *calling_ae,
                            iso_store_outcome *outcome, iso_err *err)
{
    iso_attrs attrs;
    if (iso_dcm_read_attrs(path, &attrs, err) != ISO_OK)
        return err->code;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iso_fail(err, fsx_errno_code(errno), "open %s: %s", path, strerror(errno));
    iso_ingest *ing = NULL;
    iso_code rc = iso_store_ingest_begin(store, &ing, err);
    unsigned char buf[65536];
    while (rc == ISO_OK) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = iso_fail(err, fsx_errno_code(errno), "read %s: %s", path, strerror(errno));
        else if (n == 0)
            break;
        else
            rc = iso_ingest_write(ing, buf, (size_t)n, err);
    }
    close(fd);
    if (rc != ISO_OK) {
        iso_ingest_abort(ing);
        return rc;
    }
    ing->replace = true;
    return iso_ingest_commit(ing, &attrs, calling_ae, outcome, err);
}
