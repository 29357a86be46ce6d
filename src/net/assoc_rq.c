/* assoc_rq.c — structural check of an A-ASSOCIATE-RQ (see assoc_rq.h).
 *
 * Layout (PS3.8 9.3.2, big-endian): type 0x01, reserved, length(4);
 * protocol version(2), reserved(2), called AE(16), calling AE(16),
 * reserved(32); then variable items, each type(1) reserved(1) length(2):
 *   0x10 application context name   (one)
 *   0x20 presentation context       (one or more): ID(1) reserved(3), then
 *        sub-items 0x30 abstract syntax (one), 0x40 transfer syntax (1+)
 *   0x50 user information           (at most one): sub-items, of which
 *        0x51 maximum length has exactly 4 bytes
 * Unknown items and sub-items are passed over, except 0x21 (an accepted
 * presentation context, which belongs in an A-ASSOCIATE-AC but which
 * DCMTK's parser would take as proposed: found by fuzz_assoc_rq).
 */
#include "net/assoc_rq.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { FIXED_FIELDS = 68, UID_MAX = 64 };

typedef struct cursor {
    const unsigned char *p;
    size_t left;
} cursor;

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* Takes the next item header off c: its type and its body (which must lie
 * inside c).  Returns false when the item does not fit. */
static bool next_item(cursor *c, unsigned *type, cursor *body)
{
    if (c->left < 4)
        return false;
    size_t len = get16(c->p + 2);
    if (len > c->left - 4)
        return false;
    *type = c->p[0];
    *body = (cursor){c->p + 4, len};
    c->p += 4 + len;
    c->left -= 4 + len;
    return true;
}

static void copy_ae(char out[17], const unsigned char *field)
{
    memcpy(out, field, 16);
    out[16] = '\0';
    for (int i = 15; i >= 0 && (out[i] == ' ' || out[i] == '\0'); i--)
        out[i] = '\0';
}

static bool fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return false;
}

static bool check_uid_item(const cursor *body, const char *what, char *why, size_t why_size)
{
    if (body->left == 0 || body->left > UID_MAX)
        return fail(why, why_size, "%s of %zu bytes (1..64)", what, body->left);
    return true;
}

static bool check_context(cursor body, char *why, size_t why_size)
{
    if (body.left < 4)
        return fail(why, why_size, "presentation context item of %zu bytes", body.left);
    unsigned id = body.p[0];
    if (id % 2 == 0)
        return fail(why, why_size, "presentation context ID %u is not odd", id);
    cursor c = {body.p + 4, body.left - 4};
    int abstract = 0, transfer = 0;
    while (c.left > 0) {
        unsigned type;
        cursor sub;
        if (!next_item(&c, &type, &sub))
            return fail(why, why_size, "sub-item of presentation context %u overruns it", id);
        if (type == 0x30) {
            if (!check_uid_item(&sub, "abstract syntax", why, why_size))
                return false;
            abstract++;
        } else if (type == 0x40) {
            if (!check_uid_item(&sub, "transfer syntax", why, why_size))
                return false;
            transfer++;
        }
    }
    if (abstract != 1)
        return fail(why, why_size, "presentation context %u has no single abstract syntax", id);
    if (transfer == 0)
        return fail(why, why_size, "presentation context %u proposes no transfer syntax", id);
    return true;
}

static bool check_user_info(cursor c, iso_assoc_rq_summary *sum, char *why, size_t why_size)
{
    while (c.left > 0) {
        unsigned type;
        cursor sub;
        if (!next_item(&c, &type, &sub))
            return fail(why, why_size, "user information sub-item overruns it");
        if (type == 0x51) {
            if (sub.left != 4)
                return fail(why, why_size, "maximum length item of %zu bytes (4)",
                            sub.left);
            sum->max_pdu = (unsigned long)sub.p[0] << 24 | (unsigned long)sub.p[1] << 16 |
                           (unsigned long)sub.p[2] << 8 | sub.p[3];
        } else if (type == 0x52) {
            if (!check_uid_item(&sub, "implementation class UID", why, why_size))
                return false;
        }
    }
    return true;
}

bool iso_assoc_rq_check(const unsigned char *pdu, size_t len, iso_assoc_rq_summary *sum,
                        char *why, size_t why_size)
{
    memset(sum, 0, sizeof *sum);
    if (len < 6 + FIXED_FIELDS)
        return fail(why, why_size, "A-ASSOCIATE-RQ of %zu bytes is too short", len);
    if (pdu[0] != 0x01)
        return fail(why, why_size, "PDU type 0x%02x is not A-ASSOCIATE-RQ", pdu[0]);
    uint32_t announced = (uint32_t)pdu[2] << 24 | (uint32_t)pdu[3] << 16 |
                         (uint32_t)pdu[4] << 8 | pdu[5];
    if (announced != len - 6)
        return fail(why, why_size, "A-ASSOCIATE-RQ announces %u bytes in a PDU of %zu",
                    (unsigned)announced, len - 6);
    const unsigned char *fixed = pdu + 6;
    if ((get16(fixed) & 1) == 0)
        return fail(why, why_size, "protocol version 0x%04x lacks version 1", get16(fixed));
    copy_ae(sum->called_ae, fixed + 4);
    copy_ae(sum->calling_ae, fixed + 20);
    cursor c = {fixed + FIXED_FIELDS, len - 6 - FIXED_FIELDS};
    int app_contexts = 0, user_infos = 0;
    while (c.left > 0) {
        unsigned type;
        cursor body;
        if (!next_item(&c, &type, &body))
            return fail(why, why_size, "an item overruns the A-ASSOCIATE-RQ");
        switch (type) {
        case 0x10:
            if (!check_uid_item(&body, "application context name", why, why_size))
                return false;
            app_contexts++;
            break;
        case 0x20:
            if (++sum->n_contexts > ISO_ASSOC_RQ_MAX_CONTEXTS)
                return fail(why, why_size, "more than %d presentation contexts",
                            ISO_ASSOC_RQ_MAX_CONTEXTS);
            if (!check_context(body, why, why_size))
                return false;
            break;
        case 0x21: /* DCMTK would read it as a proposed context too */
            return fail(why, why_size, "an A-ASSOCIATE-AC presentation context item in a request");
        case 0x50:
            user_infos++;
            if (!check_user_info(body, sum, why, why_size))
                return false;
            break;
        default:
            break;
        }
    }
    if (app_contexts != 1)
        return fail(why, why_size, "%d application context items (1)", app_contexts);
    if (sum->n_contexts == 0)
        return fail(why, why_size, "no presentation context proposed");
    if (user_infos > 1)
        return fail(why, why_size, "%d user information items (at most 1)", user_infos);
    return true;
}
