/* test_assoc_rq.c — the A-ASSOCIATE-RQ check (net/assoc_rq.c) against
 * requests built here by PS3.8 9.3.2: a well-formed one passes with its AE
 * titles, contexts and maximum length read back; each rule broken once is
 * refused with a reason naming it; item lengths that overrun their parent
 * at every position are refused, never read past. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/assoc_rq.h"
#include "check.h"

typedef struct pdu {
    unsigned char b[70000];
    size_t n;
} pdu;

static void put(pdu *p, const void *bytes, size_t n)
{
    memcpy(p->b + p->n, bytes, n);
    p->n += n;
}

static void put_item(pdu *p, unsigned type, const void *body, size_t n)
{
    unsigned char h[4] = {(unsigned char)type, 0, (unsigned char)(n >> 8), (unsigned char)n};
    put(p, h, 4);
    put(p, body, n);
}

/* A presentation context: ID, one abstract syntax, n_ts transfer syntaxes. */
static void put_context(pdu *p, unsigned id, const char *abstract, int n_ts)
{
    pdu c = {.n = 0};
    unsigned char head[4] = {(unsigned char)id, 0, 0, 0};
    put(&c, head, 4);
    if (abstract != NULL)
        put_item(&c, 0x30, abstract, strlen(abstract));
    for (int i = 0; i < n_ts; i++)
        put_item(&c, 0x40, "1.2.840.10008.1.2", 17);
    put_item(p, 0x20, c.b, c.n);
}

static void start(pdu *p, const char *called, const char *calling)
{
    p->n = 0;
    unsigned char h[6] = {0x01, 0, 0, 0, 0, 0};
    put(p, h, 6);
    unsigned char fixed[68];
    memset(fixed, 0, sizeof fixed);
    fixed[1] = 1; /* protocol version 1 */
    memset(fixed + 4, ' ', 32);
    memcpy(fixed + 4, called, strlen(called));
    memcpy(fixed + 20, calling, strlen(calling));
    put(p, fixed, sizeof fixed);
}

static void finish(pdu *p)
{
    uint32_t len = (uint32_t)(p->n - 6);
    p->b[2] = (unsigned char)(len >> 24);
    p->b[3] = (unsigned char)(len >> 16);
    p->b[4] = (unsigned char)(len >> 8);
    p->b[5] = (unsigned char)len;
}

static void put_user_info(pdu *p, uint32_t max_pdu)
{
    pdu u = {.n = 0};
    unsigned char ml[4] = {(unsigned char)(max_pdu >> 24), (unsigned char)(max_pdu >> 16),
                           (unsigned char)(max_pdu >> 8), (unsigned char)max_pdu};
    put_item(&u, 0x51, ml, 4);
    put_item(&u, 0x52, "1.2.3.4", 7);
    put_item(&u, 0x55, "TEST_1", 6);
    put_item(p, 0x50, u.b, u.n);
}

/* A request with an application context and one presentation context. */
static void one_context(pdu *p, unsigned id, const char *abstract, int n_ts)
{
    start(p, "ISONODE", "M");
    put_item(p, 0x10, "1.2.840.10008.3.1.1.1", 21);
    put_context(p, id, abstract, n_ts);
    finish(p);
}

/* The well-formed request of the tests, with `contexts` contexts. */
static void good(pdu *p, int contexts)
{
    start(p, "ISONODE", "MODALITY1");
    put_item(p, 0x10, "1.2.840.10008.3.1.1.1", 21);
    for (int i = 0; i < contexts; i++)
        put_context(p, 2 * (unsigned)i + 1, "1.2.840.10008.5.1.4.1.1.2", 2);
    put_user_info(p, 16384);
    finish(p);
}

static int refused_with(const pdu *p, const char *word)
{
    iso_assoc_rq_summary s;
    char why[256] = "";
    bool ok = iso_assoc_rq_check(p->b, p->n, &s, why, sizeof why);
    if (!ok && strstr(why, word) == NULL)
        fprintf(stderr, "refused, but for '%s' (want '%s')\n", why, word);
    return !ok && strstr(why, word) != NULL;
}

int main(void)
{
    static pdu p;
    iso_assoc_rq_summary s;
    char why[256];

    good(&p, 3);
    CHECK(iso_assoc_rq_check(p.b, p.n, &s, why, sizeof why));
    CHECK(strcmp(s.called_ae, "ISONODE") == 0 && strcmp(s.calling_ae, "MODALITY1") == 0);
    CHECK(s.n_contexts == 3 && s.max_pdu == 16384);
    good(&p, 128);
    CHECK(iso_assoc_rq_check(p.b, p.n, &s, why, sizeof why) && s.n_contexts == 128);

    /* unknown items and sub-items are passed over (PS3.8 9.3.1) */
    good(&p, 1);
    put_item(&p, 0x7F, "future", 6);
    finish(&p);
    CHECK(iso_assoc_rq_check(p.b, p.n, &s, why, sizeof why));

    /* each rule, broken once */
    good(&p, 129);
    CHECK(refused_with(&p, "more than 128"));
    one_context(&p, 2, "1.2.840.10008.5.1.4.1.1.2", 1);
    CHECK(refused_with(&p, "ID 2 is not odd"));
    one_context(&p, 1, NULL, 1);
    CHECK(refused_with(&p, "no single abstract syntax"));
    one_context(&p, 1, "1.2.840.10008.5.1.4.1.1.2", 0);
    CHECK(refused_with(&p, "no transfer syntax"));
    one_context(&p, 1, "1.2.840.10008.5.1.4.1.1.2.999999999999999999999999999999999999999999999", 1);
    CHECK(refused_with(&p, "abstract syntax of 71 bytes"));
    start(&p, "ISONODE", "M");
    put_context(&p, 1, "1.2.840.10008.5.1.4.1.1.2", 1);
    finish(&p);
    CHECK(refused_with(&p, "0 application context items"));
    start(&p, "ISONODE", "M");
    put_item(&p, 0x10, "1.2.840.10008.3.1.1.1", 21);
    finish(&p);
    CHECK(refused_with(&p, "no presentation context"));
    good(&p, 1);
    put_item(&p, 0x21, "\x01\0\0\0", 4);
    finish(&p);
    CHECK(refused_with(&p, "A-ASSOCIATE-AC presentation context"));
    good(&p, 1);
    put_user_info(&p, 1);
    finish(&p);
    CHECK(refused_with(&p, "2 user information items"));
    good(&p, 1);
    p.b[6] = 0, p.b[7] = 2; /* protocol version without bit 0 */
    CHECK(refused_with(&p, "protocol version"));
    good(&p, 1);
    p.b[5] ^= 1; /* announced length off by one */
    CHECK(refused_with(&p, "announces"));
    good(&p, 1);
    p.b[0] = 0x02;
    CHECK(refused_with(&p, "is not A-ASSOCIATE-RQ"));
    CHECK(refused_with(&(pdu){.b = {1}, .n = 20}, "too short"));

    /* an overrunning length at every item header position: refused, and
     * (under the sanitizers) never read past the buffer */
    good(&p, 2);
    int refused = 0, tried = 0;
    for (size_t at = 74; at + 4 <= p.n; at++) {
        static pdu q;
        q = p;
        q.b[at + 2] = 0xFF, q.b[at + 3] = 0xFF;
        unsigned char *copy = malloc(q.n); /* exact size: a read past it is caught */
        if (copy == NULL)
            return 1;
        memcpy(copy, q.b, q.n);
        tried++;
        refused += !iso_assoc_rq_check(copy, q.n, &s, why, sizeof why);
        free(copy);
    }
    CHECK(tried > 100 && refused > 10);
    return CHECK_DONE();
}
