/* nesting.c — the non-recursive nesting scanner (see nesting.h).
 *
 * Design note.  The scanner is a byte-driven state machine with three
 * states: collecting an element header (tag, VR, length: 8 or 12 bytes),
 * passing over a value (a count, so a value of any size costs O(1) and a
 * file reader can seek), and closing levels whose defined length is used
 * up.  Levels live on an explicit stack:
 *
 *   TOP     the data set (or command set)
 *   ITEM    an item of a sequence: elements until its length or (FFFE,E00D)
 *   SEQ     a sequence: items until its length or (FFFE,E0DD)
 *   PIXSEQ  encapsulated pixel data: fragments (items passed over) until
 *           (FFFE,E0DD)
 *
 * Depth is the number of SEQ and PIXSEQ levels open; opening one more than
 * max_depth fails at once, so the stack never holds more than
 * 2 * max_depth + 1 levels.  Invariants (asserted where cheap):
 *   1. a level's limit is the smallest end of it and every level around it;
 *   2. nothing is read past the current limit without failing;
 *   3. `depth` equals the number of SEQ/PIXSEQ levels on the stack.
 *
 * A guess: in implicit VR (and for defined-length UN) only a dictionary
 * knows whether a value is a sequence.  A value of 8 bytes or more is
 * followed as a *speculative* sequence; if its first header is not an item,
 * or anything inside does not fit, the scanner unwinds to it and passes
 * over the rest of its bytes as a plain value.  Nesting inside a guess
 * still counts: no value of real data looks like 32 nested sequences.
 */
#include "dicom/nesting.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNDEFINED_LENGTH 0xFFFFFFFFu
#define NO_END UINT64_MAX

enum level_kind { K_TOP, K_ITEM, K_SEQ, K_PIXSEQ };

typedef struct level {
    uint8_t kind;
    uint8_t explicit_vr, little; /* how the elements (or items) inside are encoded */
    uint8_t speculative;         /* a value followed as a sequence on a guess */
    uint8_t unconfirmed;         /* speculative, and no item seen yet */
    uint64_t end;                /* NO_END: undefined length */
    uint64_t limit;              /* min(end, the enclosing limit) */
} level;

struct iso_nest {
    int max_depth;
    int depth, deepest;
    int top, cap;
    level *stack;
    uint64_t off;  /* bytes consumed */
    uint64_t skip; /* value bytes still to pass over */
    unsigned char hdr[12];
    int hlen;
    iso_code failed;
    char why[160];
    uint8_t top_explicit, top_little;
};

iso_nest *iso_nest_new(int max_depth, int explicit_vr, int little_endian)
{
    if (max_depth < 1)
        max_depth = 1;
    iso_nest *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->cap = 2 * max_depth + 2;
    n->stack = calloc((size_t)n->cap, sizeof *n->stack);
    if (n->stack == NULL) {
        free(n);
        return NULL;
    }
    n->max_depth = max_depth;
    n->top_explicit = explicit_vr != 0;
    n->top_little = little_endian != 0;
    iso_nest_reset(n);
    return n;
}

void iso_nest_free(iso_nest *n)
{
    if (n == NULL)
        return;
    free(n->stack);
    free(n);
}

void iso_nest_reset(iso_nest *n)
{
    n->depth = n->deepest = 0;
    n->top = 0;
    n->stack[0] = (level){K_TOP, n->top_explicit, n->top_little, 0, 0, NO_END, NO_END};
    n->off = n->skip = 0;
    n->hlen = 0;
    n->failed = ISO_OK;
    n->why[0] = '\0';
}

int iso_nest_deepest(const iso_nest *n) { return n->deepest; }
uint64_t iso_nest_skippable(const iso_nest *n) { return n->failed ? 0 : n->skip; }

static uint16_t rd16(const unsigned char *p, int little)
{
    return little ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const unsigned char *p, int little)
{
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24
                  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* VRs whose explicit encoding has 2 reserved bytes and a 4-byte length.  A
 * VR DCMTK does not know is read the same way (DcmVR's "unknown" uses the
 * extended length encoding). */
static int long_vr(const unsigned char vr[2])
{
    static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                        "SV", "UC", "UN", "UR", "UT", "UV"};
    static const char *const shorts[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT",
                                         "FL", "FD", "IS", "LO", "LT", "PN", "SH",
                                         "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
        if (vr[0] == (unsigned char)longs[i][0] && vr[1] == (unsigned char)longs[i][1])
            return 1;
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++)
        if (vr[0] == (unsigned char)shorts[i][0] && vr[1] == (unsigned char)shorts[i][1])
            return 0;
    return 1;
}

static int is_vr(const unsigned char vr[2], const char *name)
{
    return vr[0] == (unsigned char)name[0] && vr[1] == (unsigned char)name[1];
}

static iso_code fail(iso_nest *n, iso_code code, const char *why)
{
    if (n->failed == ISO_OK) {
        n->failed = code;
        snprintf(n->why, sizeof n->why, "%s (at byte %llu)", why, (unsigned long long)n->off);
    }
    return code;
}

/* The structure cannot be followed: unwind to the innermost guess and pass
 * over the rest of it, or fail. */
static iso_code lost(iso_nest *n, const char *why)
{
    for (int i = n->top; i > 0; i--) {
        level *l = &n->stack[i];
        if (!l->speculative || n->off > l->end)
            continue;
        n->skip = l->end - n->off;
        n->top = i - 1;
        n->depth = 0;
        for (int k = 1; k <= n->top; k++)
            n->depth += n->stack[k].kind == K_SEQ || n->stack[k].kind == K_PIXSEQ;
        n->hlen = 0;
        return ISO_OK;
    }
    return fail(n, ISO_EDICOM, why);
}

static iso_code push(iso_nest *n, enum level_kind kind, uint64_t len, int explicit_vr,
                     int little, int speculative)
{
    level *cur = &n->stack[n->top];
    int opens_sequence = kind == K_SEQ || kind == K_PIXSEQ;
    if (opens_sequence && n->depth + 1 > n->max_depth) {
        char why[96];
        snprintf(why, sizeof why, "sequences nested deeper than %d", n->max_depth);
        return fail(n, ISO_ENESTING, why);
    }
    if (n->top + 1 >= n->cap) /* cannot happen: depth bounds the stack */
        return fail(n, ISO_ENESTING, "nesting stack full");
    uint64_t end = len == UNDEFINED_LENGTH ? NO_END : n->off + len;
    level *l = &n->stack[++n->top];
    *l = (level){(uint8_t)kind, (uint8_t)explicit_vr, (uint8_t)little, (uint8_t)speculative,
                 (uint8_t)speculative, end, end < cur->limit ? end : cur->limit};
    if (opens_sequence) {
        n->depth++;
        if (n->depth > n->deepest)
            n->deepest = n->depth;
    }
    return ISO_OK;
}

/* Pops every level whose defined length is used up. */
static void close_finished(iso_nest *n)
{
    while (n->top > 0 && n->stack[n->top].end != NO_END && n->off >= n->stack[n->top].end) {
        level *l = &n->stack[n->top--];
        if (l->kind == K_SEQ || l->kind == K_PIXSEQ)
            n->depth--;
    }
    assert(n->depth >= 0);
}

/* How many header bytes the element starting in hdr needs. */
static int header_need(const iso_nest *n)
{
    const level *cur = &n->stack[n->top];
    if (n->hlen < 4)
        return 4;
    if (rd16(n->hdr, cur->little) == 0xFFFE || !cur->explicit_vr)
        return 8;
    if (n->hlen < 6)
        return 6;
    return long_vr(n->hdr + 4) ? 12 : 8;
}

static int is_pixel_data(uint16_t g, uint16_t e)
{
    return g == 0x7FE0 && (e == 0x0010 || e == 0x0008 || e == 0x0009);
}

/* One complete header in hdr, already consumed (off is past it). */
static iso_code on_header(iso_nest *n)
{
    level *cur = &n->stack[n->top];
    int little = cur->little;
    uint16_t g = rd16(n->hdr, little), e = rd16(n->hdr + 2, little);
    n->hlen = 0;
    if (n->off > cur->limit)
        return lost(n, "element header runs past the end of its item");
    if (g == 0xFFFE) {
        uint32_t len = rd32(n->hdr + 4, little);
        if (e == 0xE000) {
            if (cur->kind == K_SEQ) {
                cur->unconfirmed = 0;
                if (len != UNDEFINED_LENGTH && n->off + len > cur->limit)
                    return lost(n, "item longer than its sequence");
                iso_code rc = push(n, K_ITEM, len, cur->explicit_vr, cur->little, 0);
                close_finished(n);
                return rc;
            }
            if (cur->kind == K_PIXSEQ) {
                if (len == UNDEFINED_LENGTH || n->off + len > cur->limit)
                    return lost(n, "pixel data fragment without a usable length");
                n->skip = len;
                if (len == 0)
                    close_finished(n);
                return ISO_OK;
            }
            return lost(n, "item outside a sequence");
        }
        if (e == 0xE00D && cur->kind == K_ITEM && cur->end == NO_END) {
            n->top--;
            close_finished(n);
            return ISO_OK;
        }
        if (e == 0xE0DD && (cur->kind == K_SEQ || cur->kind == K_PIXSEQ) && cur->end == NO_END) {
            if (cur->unconfirmed)
                return lost(n, "sequence delimiter where a value was guessed a sequence");
            n->top--;
            n->depth--;
            close_finished(n);
            return ISO_OK;
        }
        return lost(n, "item or delimiter out of place");
    }
    if (cur->kind == K_SEQ || cur->kind == K_PIXSEQ)
        return lost(n, "element where a sequence item must be");
    uint32_t len;
    const unsigned char *vr = n->hdr + 4;
    if (!cur->explicit_vr)
        len = rd32(n->hdr + 4, little);
    else if (long_vr(vr))
        len = rd32(n->hdr + 8, little);
    else
        len = rd16(n->hdr + 6, little);
    iso_code rc = ISO_OK;
    if (len == UNDEFINED_LENGTH) {
        if (is_pixel_data(g, e) && (!cur->explicit_vr || is_vr(vr, "OB") || is_vr(vr, "OW")))
            rc = push(n, K_PIXSEQ, len, cur->explicit_vr, little, 0);
        else if (cur->explicit_vr && is_vr(vr, "UN"))
            rc = push(n, K_SEQ, len, 0, 1, 0); /* CP-246: implicit VR LE inside */
        else /* SQ, or what DCMTK also reads as one */
            rc = push(n, K_SEQ, len, cur->explicit_vr, little, 0);
        return rc;
    }
    if (n->off + len > cur->limit)
        return lost(n, "element longer than its item");
    if (cur->explicit_vr && is_vr(vr, "SQ"))
        rc = push(n, K_SEQ, len, 1, little, 0);
    else if (cur->explicit_vr && is_vr(vr, "UN") && len >= 8)
        rc = push(n, K_SEQ, len, 0, 1, 1);
    else if (!cur->explicit_vr && len >= 8 && !(g == 0x7FE0))
        rc = push(n, K_SEQ, len, 0, little, 1);
    else
        n->skip = len;
    if (rc == ISO_OK && n->skip == 0)
        close_finished(n);
    return rc;
}

iso_code iso_nest_feed(iso_nest *n, const void *buf, size_t len, iso_err *err)
{
    const unsigned char *p = buf;
    while (len > 0 && n->failed == ISO_OK) {
        if (n->skip > 0) {
            size_t k = n->skip < len ? (size_t)n->skip : len;
            n->skip -= k;
            n->off += k;
            p += k;
            len -= k;
            if (n->skip == 0)
                close_finished(n);
            continue;
        }
        level *cur = &n->stack[n->top];
        /* A guessed sequence must start with an item; its first header
         * decides (and a value shorter than a header is no sequence). */
        if (cur->unconfirmed && n->hlen >= 4 &&
            !(rd16(n->hdr, cur->little) == 0xFFFE && rd16(n->hdr + 2, cur->little) == 0xE000)) {
            /* no sequence after all: pass over the rest of the value (a
             * guess is at least 8 bytes, so its end is not behind us) */
            assert(cur->speculative && cur->end >= n->off);
            n->hlen = 0;
            n->skip = cur->end - n->off;
            n->top--;
            n->depth--;
            if (n->skip == 0)
                close_finished(n);
            continue;
        }
        int need = header_need(n);
        while (n->hlen < need && len > 0) {
            n->hdr[n->hlen++] = *p++;
            len--;
            n->off++;
            need = header_need(n);
        }
        if (n->hlen == need && n->hlen >= 8)
            on_header(n);
    }
    if (n->failed != ISO_OK)
        return iso_fail(err, n->failed, "%s", n->why);
    return ISO_OK;
}

void iso_nest_skipped(iso_nest *n, uint64_t len)
{
    if (len > n->skip)
        len = n->skip;
    n->skip -= len;
    n->off += len;
    if (n->skip == 0)
        close_finished(n);
}

int iso_nest_encoding(const char *ts, int *explicit_vr, int *little_endian)
{
    *explicit_vr = 1;
    *little_endian = 1;
    if (strcmp(ts, "1.2.840.10008.1.2") == 0) {
        *explicit_vr = 0;
        return 0;
    }
    if (strcmp(ts, "1.2.840.10008.1.2.2") == 0) {
        *little_endian = 0;
        return 0;
    }
    if (strcmp(ts, "1.2.840.10008.1.2.1.99") == 0 || strncmp(ts, "1.2.840.10008.1.2", 17) != 0)
        return -1; /* deflated, or not a DICOM transfer syntax */
    return 0; /* explicit VR little endian and every encapsulated syntax */
}

/* The meta group of a Part 10 object: where the data set starts and its
 * transfer syntax.  Returns 0, or -1 if it is not Part 10. */
static int part10_meta(const unsigned char *p, size_t len, size_t *dataset_at, char ts[65])
{
    ts[0] = '\0';
    if (len < 132 || memcmp(p + 128, "DICM", 4) != 0)
        return -1;
    size_t at = 132;
    while (at + 8 <= len && p[at] == 0x02 && p[at + 1] == 0x00) {
        uint16_t e = rd16(p + at + 2, 1);
        size_t vlen, hdr;
        if (long_vr(p + at + 4)) {
            if (at + 12 > len)
                return -1;
            vlen = rd32(p + at + 8, 1);
            hdr = 12;
        } else {
            vlen = rd16(p + at + 6, 1);
            hdr = 8;
        }
        if (vlen > len - at - hdr)
            return -1;
        if (e == 0x0010 && vlen < 65) {
            memcpy(ts, p + at + hdr, vlen);
            ts[vlen] = '\0';
            for (size_t k = vlen; k > 0 && (ts[k - 1] == '\0' || ts[k - 1] == ' '); k--)
                ts[k - 1] = '\0';
        }
        at += hdr + vlen;
    }
    *dataset_at = at;
    return ts[0] ? 0 : -1;
}

static iso_nest *scanner_for(const char *ts, int max_depth, iso_err *err)
{
    int explicit_vr, little;
    if (iso_nest_encoding(ts, &explicit_vr, &little) != 0) {
        iso_fail(err, ISO_EDICOM, "transfer syntax %.64s is not scanned here (deflated data "
                                  "sets are inflated first)", ts);
        return NULL;
    }
    iso_nest *n = iso_nest_new(max_depth, explicit_vr, little);
    if (n == NULL)
        iso_fail(err, ISO_ENOMEM, "out of memory");
    return n;
}

iso_code iso_nest_check_part10(const void *buf, size_t len, int max_depth, iso_err *err)
{
    size_t at = 0;
    char ts[65];
    if (part10_meta(buf, len, &at, ts) != 0)
        return iso_fail(err, ISO_EDICOM, "not a Part 10 object (no usable meta information)");
    iso_nest *n = scanner_for(ts, max_depth, err);
    if (n == NULL)
        return err->code;
    iso_code rc = iso_nest_feed(n, (const unsigned char *)buf + at, len - at, err);
    iso_nest_free(n);
    return rc;
}

iso_code iso_nest_check_file(const char *path, int max_depth, iso_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return iso_fail(err, ISO_EIO, "cannot open %s", path);
    /* The meta group is small; 64 KiB holds it in any object we keep. */
    unsigned char buf[65536];
    size_t got = fread(buf, 1, sizeof buf, f);
    size_t at = 0;
    char ts[65];
    iso_code rc = ISO_OK;
    iso_nest *n = NULL;
    if (part10_meta(buf, got, &at, ts) != 0)
        rc = iso_fail(err, ISO_EDICOM, "%s: not a Part 10 file", path);
    else if ((n = scanner_for(ts, max_depth, err)) == NULL)
        rc = err->code;
    else
        rc = iso_nest_feed(n, buf + at, got - at, err);
    while (rc == ISO_OK && got == sizeof buf) {
        uint64_t s = iso_nest_skippable(n);
        if (s > sizeof buf) {
            if (fseek(f, (long)s, SEEK_CUR) != 0) {
                rc = iso_fail(err, ISO_EIO, "%s: seek failed", path);
                break;
            }
            iso_nest_skipped(n, s);
        }
        got = fread(buf, 1, sizeof buf, f);
        rc = iso_nest_feed(n, buf, got, err);
    }
    if (rc == ISO_OK && ferror(f))
        rc = iso_fail(err, ISO_EIO, "%s: read failed", path);
    iso_nest_free(n);
    fclose(f);
    return rc;
}
