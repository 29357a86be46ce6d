/* test_nesting.c — the nesting scanner (src/dicom/nesting.c) against data
 * sets built here with a known depth, in every plain encoding, fed whole
 * and byte by byte; and DCMTK's parse behind it: an object at the limit
 * parses on a connection-sized (512 KiB) stack, deeper ones are refused
 * before DCMTK sees them. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "dicom/nesting.h"
#include "tests/unit/check.h"

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *v, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put16(buf *b, unsigned v, int le)
{
    unsigned char x[2] = {le ? v & 0xff : v >> 8, le ? v >> 8 : v & 0xff};
    put(b, x, 2);
}

static void put32(buf *b, uint32_t v, int le)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = le ? (v >> (8 * i)) & 0xff : (v >> (8 * (3 - i))) & 0xff;
    put(b, x, 4);
}

static void tag(buf *b, unsigned g, unsigned e, int le)
{
    put16(b, g, le);
    put16(b, e, le);
}

/* A short text element (explicit: VR LO) */
static void text(buf *b, unsigned g, unsigned e, const char *v, int ex, int le)
{
    size_t n = strlen(v);
    tag(b, g, e, le);
    if (ex) {
        put(b, "LO", 2);
        put16(b, (unsigned)(n + (n & 1)), le);
    } else {
        put32(b, (uint32_t)(n + (n & 1)), le);
    }
    put(b, v, n);
    if (n & 1)
        put(b, " ", 1);
}

/* depth sequences, one inside the other, each with one item holding a
 * text element and the next sequence; defined or undefined lengths. */
static void nest(buf *b, int depth, int ex, int le, int undefined, const char *vr)
{
    if (depth == 0)
        return;
    buf inner = {0};
    text(&inner, 0x0010, 0x0020, "X1", ex, le);
    nest(&inner, depth - 1, ex, le, undefined, vr);
    tag(b, 0x0040, 0xA730, le); /* Content Sequence */
    if (ex) {
        put(b, vr, 2);
        put16(b, 0, le);
    }
    if (undefined) {
        put32(b, 0xFFFFFFFF, le);
        tag(b, 0xFFFE, 0xE000, le);
        put32(b, 0xFFFFFFFF, le);
        put(b, inner.p, inner.len);
        tag(b, 0xFFFE, 0xE00D, le);
        put32(b, 0, le);
        tag(b, 0xFFFE, 0xE0DD, le);
        put32(b, 0, le);
    } else {
        put32(b, (uint32_t)(inner.len + 8), le);
        tag(b, 0xFFFE, 0xE000, le);
        put32(b, (uint32_t)inner.len, le);
        put(b, inner.p, inner.len);
    }
    free(inner.p);
}

static iso_code scan(const buf *b, int max, int ex, int le, int bytewise, int *deepest)
{
    iso_nest *n = iso_nest_new(max, ex, le);
    iso_err err = {0};
    iso_code rc = ISO_OK;
    if (bytewise) {
        for (size_t i = 0; i < b->len && rc == ISO_OK; i++)
            rc = iso_nest_feed(n, b->p + i, 1, &err);
    } else {
        rc = iso_nest_feed(n, b->p, b->len, &err);
    }
    if (deepest)
        *deepest = iso_nest_deepest(n);
    iso_nest_free(n);
    return rc;
}

static void encodings(void)
{
    static const struct {
        int ex, le, undefined;
        const char *vr;
    } cases[] = {
        {1, 1, 1, "SQ"}, {1, 1, 0, "SQ"}, {0, 1, 1, NULL}, {0, 1, 0, NULL},
        {1, 0, 1, "SQ"}, {1, 0, 0, "SQ"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            buf b = {0};
            text(&b, 0x0008, 0x0060, "CT", cases[c].ex, cases[c].le);
            nest(&b, 20, cases[c].ex, cases[c].le, cases[c].undefined, cases[c].vr);
            text(&b, 0x0040, 0xA731, "after", cases[c].ex, cases[c].le);
            int deepest = -1;
            CHECK(scan(&b, 32, cases[c].ex, cases[c].le, bytewise, &deepest) == ISO_OK);
            CHECK(deepest == 20);
            if (deepest != 20)
                fprintf(stderr, "case %zu bytewise %d: deepest %d\n", c, bytewise, deepest);
            CHECK(scan(&b, 19, cases[c].ex, cases[c].le, bytewise, NULL) == ISO_ENESTING);
            CHECK(scan(&b, 20, cases[c].ex, cases[c].le, bytewise, NULL) == ISO_OK);
            free(b.p);
        }
    }
}

/* Undefined-length UN (CP-246): implicit VR little endian inside. */
static void undefined_un(void)
{
    buf inner = {0};
    nest(&inner, 40, 0, 1, 1, NULL);
    buf b = {0};
    tag(&b, 0x0029, 0x1010, 1);
    put(&b, "UN", 2);
    put16(&b, 0, 1);
    put32(&b, 0xFFFFFFFF, 1);
    tag(&b, 0xFFFE, 0xE000, 1);
    put32(&b, 0xFFFFFFFF, 1);
    put(&b, inner.p, inner.len);
    tag(&b, 0xFFFE, 0xE00D, 1);
    put32(&b, 0, 1);
    tag(&b, 0xFFFE, 0xE0DD, 1);
    put32(&b, 0, 1);
    int deepest = 0;
    CHECK(scan(&b, 64, 1, 1, 0, &deepest) == ISO_OK && deepest == 41);
    CHECK(scan(&b, 32, 1, 1, 0, NULL) == ISO_ENESTING);
    free(inner.p);
    free(b.p);
}

/* Encapsulated pixel data: fragments are passed over whatever they hold
 * (here bytes that look like nested items); depth 1. */
static void encapsulated(void)
{
    buf frag = {0};
    nest(&frag, 50, 1, 1, 1, "SQ");
    buf b = {0};
    text(&b, 0x0028, 0x0004, "MONOCHROME2", 1, 1);
    tag(&b, 0x7FE0, 0x0010, 1);
    put(&b, "OB", 2);
    put16(&b, 0, 1);
    put32(&b, 0xFFFFFFFF, 1);
    tag(&b, 0xFFFE, 0xE000, 1); /* Basic Offset Table */
    put32(&b, 4, 1);
    put32(&b, 0, 1);
    tag(&b, 0xFFFE, 0xE000, 1);
    put32(&b, (uint32_t)frag.len, 1);
    put(&b, frag.p, frag.len);
    tag(&b, 0xFFFE, 0xE0DD, 1);
    put32(&b, 0, 1);
    int deepest = 0;
    CHECK(scan(&b, 4, 1, 1, 0, &deepest) == ISO_OK && deepest == 1);
    CHECK(scan(&b, 4, 1, 1, 1, &deepest) == ISO_OK && deepest == 1);
    free(frag.p);
    free(b.p);
}

/* Implicit VR: a defined-length value that starts like an item but is no
 * sequence is passed over (the guess unwinds); one that is not an item at
 * all costs nothing. */
static void guesses(void)
{
    buf b = {0};
    text(&b, 0x0008, 0x0060, "MR", 0, 1);
    tag(&b, 0x0029, 0x1020, 1);
    put32(&b, 24, 1);
    tag(&b, 0xFFFE, 0xE000, 1);
    put32(&b, 100, 1); /* an "item" longer than the value holding it */
    put(&b, "0123456789abcdef", 16);
    tag(&b, 0x0029, 0x1030, 1);
    put32(&b, 12, 1);
    put(&b, "not an item!", 12);
    text(&b, 0x0040, 0xA731, "after", 0, 1);
    int deepest = -1;
    CHECK(scan(&b, 4, 0, 1, 0, &deepest) == ISO_OK);
    CHECK(scan(&b, 4, 0, 1, 1, &deepest) == ISO_OK);
    free(b.p);
}

/* Structure that cannot be followed is refused, as DCMTK refuses it. */
static void broken(void)
{
    buf b = {0};
    tag(&b, 0x0040, 0xA730, 1);
    put(&b, "SQ", 2);
    put16(&b, 0, 1);
    put32(&b, 16, 1);
    tag(&b, 0xFFFE, 0xE000, 1);
    put32(&b, 8, 1);
    text(&b, 0x0010, 0x0020, "TOO-LONG-FOR-ITS-ITEM", 1, 1);
    CHECK(scan(&b, 32, 1, 1, 0, NULL) == ISO_EDICOM);
    free(b.p);
    buf c = {0};
    tag(&c, 0xFFFE, 0xE000, 1); /* an item at the top level */
    put32(&c, 0, 1);
    CHECK(scan(&c, 32, 1, 1, 0, NULL) == ISO_EDICOM);
    free(c.p);
}

/* ---- DCMTK behind the scanner ---- */

static buf part10(int depth)
{
    buf b = {0};
    unsigned char meta[1024];
    const char *cls = "1.2.840.10008.5.1.4.1.1.88.11", *inst = "1.2.826.0.1.3680043.2.1.7";
    size_t n = iso_dcm_meta_header(meta, sizeof meta, cls, inst, "1.2.840.10008.1.2.1", "T");
    put(&b, meta, n);
    tag(&b, 0x0008, 0x0016, 1);
    put(&b, "UI", 2);
    put16(&b, (unsigned)(strlen(cls) + 1), 1);
    put(&b, cls, strlen(cls) + 1);
    tag(&b, 0x0008, 0x0018, 1);
    put(&b, "UI", 2);
    put16(&b, (unsigned)(strlen(inst) + 1), 1);
    put(&b, inst, strlen(inst) + 1);
    nest(&b, depth, 1, 1, 1, "SQ");
    return b;
}

typedef struct parse_job {
    buf b;
    iso_code rc;
} parse_job;

static void *parse_on_small_stack(void *arg)
{
    parse_job *j = arg;
    iso_dcm_parsed *p = NULL;
    iso_err err = {0};
    j->rc = iso_dcm_parse_buffer(j->b.p, j->b.len, &p, &err);
    iso_dcm_parsed_free(p);
    return NULL;
}

static iso_code parse_in_thread(int depth)
{
    parse_job j = {part10(depth), ISO_EINVAL};
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 512 * 1024); /* as net/scp.c gives a connection */
    CHECK(pthread_create(&t, &a, parse_on_small_stack, &j) == 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&a);
    free(j.b.p);
    return j.rc;
}

static void dcmtk_behind(void)
{
    iso_dcm_limits lim = {32, 1ull << 30, 200, NULL};
    iso_err lim_err = {0};
    CHECK(iso_dcm_set_limits(&lim, &lim_err) == ISO_OK);
    CHECK(parse_in_thread(32) == ISO_OK);
    CHECK(parse_in_thread(33) == ISO_ENESTING);
    CHECK(parse_in_thread(5000) == ISO_ENESTING); /* kills DCMTK's stack unguarded */
    /* the same object from a file: refused before loading */
    buf b = part10(5000);
    char path[] = "/tmp/test-nesting-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, b.p, b.len) == (ssize_t)b.len);
    close(fd);
    iso_attrs a;
    iso_err err = {0};
    CHECK(iso_dcm_read_attrs(path, &a, &err) == ISO_ENESTING);
    CHECK(strstr(err.msg, "nested deeper than 32") != NULL);
    iso_dcm_image_info info;
    iso_err e2 = {0};
    CHECK(iso_dcm_read_image_info(path, &info, &e2) == ISO_ENESTING);
    iso_dcm_image_info_free(&info);
    iso_dcm_parsed *p = NULL;
    iso_err e3 = {0};
    CHECK(iso_dcm_parse_file(path, &p, &e3) == ISO_ENESTING && p == NULL);
    CHECK(iso_nest_check_file(path, 32, &e3) == ISO_ENESTING);
    unlink(path);
    free(b.p);
}

int main(void)
{
    iso_err err = {0};
    CHECK(iso_dcm_init(&err) == ISO_OK);
    encodings();
    undefined_un();
    encapsulated();
    guesses();
    broken();
    dcmtk_behind();
    return CHECK_DONE();
}
