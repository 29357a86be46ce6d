/* anon.c — the de-identification policy (see anon.h): what happens to each
 * attribute, the identifiers that replace the originals, dates, marking,
 * and the vault rows.  DCMTK's walk over the data set is in
 * dicom/dcm_rewrite.cc; this file decides.
 *
 * Decision order for one element:
 *   1. private (odd group): removed, unless Retain Safe Private and the
 *      (group, creator, element) is on the safe list (matched by creator);
 *   2. overlays (60xx) and curves (50xx): the whole group goes unless the
 *      Clean Graphics option keeps it;
 *   3. Patient ID and Patient's Name: stable pseudonyms;
 *   4. in Table E.1-1: an enabled option's K beats its C beats the basic
 *      code; combined codes take the form that keeps an object conformant
 *      without knowing its IOD (X/Z -> Z, X/D, Z/D, X/Z/D -> D, X/Z/U* ->
 *      clean the sequence);
 *   5. not in the table (default deny): sequences are walked, UIDs mapped
 *      (SOP Class-like ones kept), numbers, codes (CS) and binary values
 *      kept, UN removed, and text, names and dates removed unless they are
 *      on a short list of attributes known to carry no identity.
 */
#include "anon/anon.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <time.h>

#include "anon/e11_table.h"
#include "util/json.h"
#include "util/log.h"
#include "util/uid.h"
#include "util/hex.h"

enum { SEEN_SERIES = 64 };

struct iso_anon {
    iso_anon_options opt;
    /* series whose patient, study and series rows are in the vault already
     * (a ring of the most recent), so an instance adds one row, not five */
    pthread_mutex_t seen_mu;
    char seen[SEEN_SERIES][65];
    int seen_next;
    uint8_t key[ISO_KEY_LEN];
    iso_vault *vault;
    const iso_e11_row **exact; /* rows with exact tags, sorted */
    size_t n_exact;
    const iso_e11_row *patterns[8]; /* the masked rows (50xx, 60xx) */
    size_t n_patterns;
};

/* ---- options and life cycle ---- */

void iso_anon_options_from_config(const iso_config *cfg, iso_anon_options *o)
{
    memset(o, 0, sizeof *o);
    o->retain_safe_private = (int)cfg->an_retain_safe_private;
    o->retain_uids = (int)cfg->an_retain_uids;
    o->retain_device = (int)cfg->an_retain_device_identity;
    o->retain_institution = (int)cfg->an_retain_institution_identity;
    o->retain_patient_characteristics = (int)cfg->an_retain_patient_characteristics;
    o->dates = cfg->an_dates;
    o->clean_descriptors = (int)cfg->an_clean_descriptors;
    o->clean_structured = (int)cfg->an_clean_structured_content;
    o->clean_graphics = (int)cfg->an_clean_graphics;
    o->reject_burned_in = cfg->an_burned_in == ISO_BURNED_IN_REJECT;
    o->key_file = cfg->an_key_path;
}

iso_code iso_anon_open(const char *data_dir, const iso_anon_options *o, iso_anon **out,
                       iso_err *err)
{
    *out = NULL;
    iso_anon *a = calloc(1, sizeof *a);
    if (a == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    a->opt = *o;
    pthread_mutex_init(&a->seen_mu, NULL);
    a->exact = calloc(iso_e11_nrows, sizeof *a->exact);
    if (a->exact == NULL) {
        free(a);
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < iso_e11_nrows; i++) {
        if (iso_e11_rows[i].group_mask == 0xFFFF && iso_e11_rows[i].element_mask == 0xFFFF)
            a->exact[a->n_exact++] = &iso_e11_rows[i];
        else if (a->n_patterns < sizeof a->patterns / sizeof a->patterns[0])
            a->patterns[a->n_patterns++] = &iso_e11_rows[i];
    }
    /* The key is made at the first de-identifying start, together with the
     * vault.  Once a vault exists, a missing key is an error: a new one
     * would give returning patients new pseudonyms and leave the vault
     * unreadable. */
    iso_code rc = iso_key_for(data_dir, o->key_file, a->key, err);
    if (rc != ISO_OK) {
        iso_anon_close(a);
        return rc;
    }
    /* de-identifying without a place to record re-identification would
     * acknowledge objects whose results can never go back: refused */
    iso_err verr = {0};
    if (iso_vault_open(data_dir, a->key, &a->vault, &verr) != ISO_OK) {
        iso_fail(err, verr.code, "re-identification vault unavailable: %s", verr.msg);
        iso_anon_close(a);
        return err->code;
    }
    *out = a;
    return ISO_OK;
}

void iso_anon_close(iso_anon *a)
{
    if (a == NULL)
        return;
    iso_vault_close(a->vault);
    pthread_mutex_destroy(&a->seen_mu);
    free(a->exact);
    memset(a->key, 0, sizeof a->key);
    free(a);
}

iso_vault *iso_anon_vault(iso_anon *a) { return a->vault; }

/* ---- identifiers ---- */

void iso_anon_map_uid(const iso_anon *a, const char *uid, char out[65])
{
    if (a->opt.retain_uids || uid[0] == '\0' || strncmp(uid, "1.2.840.10008.", 14) == 0) {
        snprintf(out, 65, "%s", uid);
        return;
    }
    uint8_t h[32];
    iso_key_hmac(a->key, "uid:", uid, h);
    iso_uid_from_hash(h, out);
}

void iso_anon_pseudonym(const iso_anon *a, const char *issuer, const char *patient_id,
                        char id_out[65], char name_out[65])
{
    char in[600];
    snprintf(in, sizeof in, "%s\\%s", issuer, patient_id);
    uint8_t h[32];
    iso_key_hmac(a->key, "patient:", in, h);
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char code[13];
    for (int i = 0; i < 12; i++)
        code[i] = alphabet[h[i] % 32];
    code[12] = '\0';
    snprintf(id_out, 65, "ANON%s", code);
    snprintf(name_out, 65, "ANONYMOUS^%s", code);
}

long iso_anon_date_offset(const iso_anon *a, const char *issuer, const char *patient_id)
{
    char in[600];
    snprintf(in, sizeof in, "%s\\%s", issuer, patient_id);
    uint8_t h[32];
    iso_key_hmac(a->key, "date-offset:", in, h);
    unsigned long r = (unsigned long)h[0] << 24 | (unsigned long)h[1] << 16 | h[2] << 8 | h[3];
    long days = 365 + (long)(r % 3650);       /* one to eleven years back */
    long secs = (long)((h[4] << 8 | h[5]) % 86400);
    return -(days * 86400L) + secs;
}

/* ---- dates ---- */

static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* TM: HH[MM[SS[.F...]]] (also the old HH:MM:SS); returns the number of
 * components (1..3) and seconds, fraction text in frac. */
static int parse_tm(const char *t, long *secs, char *frac, size_t frac_size)
{
    char buf[32];
    size_t k = 0;
    for (const char *p = t; *p && k + 1 < sizeof buf; p++)
        if (*p != ':')
            buf[k++] = *p;
    buf[k] = '\0';
    frac[0] = '\0';
    char *dot = strchr(buf, '.');
    if (dot != NULL) {
        snprintf(frac, frac_size, "%s", dot);
        *dot = '\0';
    }
    size_t n = strlen(buf);
    if ((n != 2 && n != 4 && n != 6) || !digits(buf, (int)n))
        return 0;
    int hh = num(buf, 2), mm = n >= 4 ? num(buf + 2, 2) : 0, ss = n >= 6 ? num(buf + 4, 2) : 0;
    if (hh > 23 || mm > 59 || ss > 60)
        return 0;
    *secs = hh * 3600L + mm * 60L + ss;
    return (int)n / 2;
}

static void format_tm(long secs, int comps, const char *frac, char *out, size_t out_size)
{
    secs = ((secs % 86400) + 86400) % 86400;
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    if (comps == 1)
        snprintf(out, out_size, "%02d", hh);
    else if (comps == 2)
        snprintf(out, out_size, "%02d%02d", hh, mm);
    else
        snprintf(out, out_size, "%02d%02d%02d%s", hh, mm, ss, frac);
}

static long floor_div(long a, long b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int iso_anon_shift(const char *vr, const char *value, const char *pair_date,
                   const char *pair_time, long offset, char *out, size_t out_size)
{
    long day_part = floor_div(offset, 86400), sec_part = offset - day_part * 86400;
    if (strcmp(vr, "DA") == 0) {
        if (strlen(value) != 8 || !digits(value, 8))
            return 0;
        long days = days_from_civil(num(value, 4), (unsigned)num(value + 4, 2),
                                    (unsigned)num(value + 6, 2));
        long shift = day_part;
        long secs;
        char frac[16];
        if (pair_time != NULL && parse_tm(pair_time, &secs, frac, sizeof frac))
            shift = floor_div(secs + offset, 86400);
        long y;
        unsigned m, d;
        civil_from_days(days + shift, &y, &m, &d);
        snprintf(out, out_size, "%04ld%02u%02u", y, m, d);
        return 1;
    }
    if (strcmp(vr, "TM") == 0) {
        long secs;
        char frac[16];
        int comps = parse_tm(value, &secs, frac, sizeof frac);
        if (!comps)
            return 0;
        (void)pair_date;
        format_tm(secs + (pair_date != NULL ? offset : sec_part), comps, frac, out, out_size);
        return 1;
    }
    if (strcmp(vr, "DT") == 0) {
        /* YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX] */
        char v[64], tz[16] = "";
        snprintf(v, sizeof v, "%s", value);
        char *sign = strpbrk(v + 4 < v + strlen(v) ? v + 4 : v, "+-");
        if (sign != NULL) {
            snprintf(tz, sizeof tz, "%s", sign);
            *sign = '\0';
        }
        char frac[16] = "";
        char *dot = strchr(v, '.');
        if (dot != NULL) {
            snprintf(frac, sizeof frac, "%s", dot);
            *dot = '\0';
        }
        size_t n = strlen(v);
        if (n < 4 || n > 14 || n % 2 || !digits(v, (int)n))
            return 0;
        int y = num(v, 4), mo = n >= 6 ? num(v + 4, 2) : 1, d = n >= 8 ? num(v + 6, 2) : 1;
        int hh = n >= 10 ? num(v + 8, 2) : 0, mi = n >= 12 ? num(v + 10, 2) : 0,
            ss = n >= 14 ? num(v + 12, 2) : 0;
        if (mo < 1 || mo > 12 || d < 1 || d > 31)
            return 0;
        long t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400L + hh * 3600L + mi * 60L +
                 ss + offset;
        long days = floor_div(t, 86400), secs = t - days * 86400;
        long yy;
        unsigned mm, dd;
        civil_from_days(days, &yy, &mm, &dd);
        char full[32];
        snprintf(full, sizeof full, "%04ld%02u%02u%02ld%02ld%02ld", yy, mm, dd, secs / 3600,
                 secs / 60 % 60, secs % 60);
        full[n] = '\0'; /* the original precision */
        snprintf(out, out_size, "%s%s%s", full, n == 14 ? frac : "", tz);
        return 1;
    }
    return 0;
}

/* The TM that goes with a DA (and back): group 0008 xx2x/xx3x, and the
 * other date/time pairs of the standard. */
static const uint32_t date_time_pairs[][2] = {
    {0x00080012, 0x00080013}, {0x00080020, 0x00080030}, {0x00080021, 0x00080031},
    {0x00080022, 0x00080032}, {0x00080023, 0x00080033}, {0x00080024, 0x00080034},
    {0x00080025, 0x00080035}, {0x00100030, 0x00100032}, {0x00181012, 0x00181014},
    {0x00181200, 0x00181201}, {0x00321000, 0x00321001}, {0x00321010, 0x00321011},
    {0x00321040, 0x00321041}, {0x00321050, 0x00321051}, {0x00380020, 0x00380021},
    {0x0038001A, 0x0038001B}, {0x0038001C, 0x0038001D}, {0x00400002, 0x00400003},
    {0x00400004, 0x00400005}, {0x00400244, 0x00400245}, {0x00400250, 0x00400251},
    {0x00402004, 0x00402005}, {0x0040A121, 0x0040A122}, {0x30060008, 0x30060009},
    {0x300A0006, 0x300A0007},
};

static uint32_t paired_tag(uint32_t tag, int *tag_is_date)
{
    for (size_t i = 0; i < sizeof date_time_pairs / sizeof date_time_pairs[0]; i++) {
        if (date_time_pairs[i][0] == tag) {
            *tag_is_date = 1;
            return date_time_pairs[i][1];
        }
        if (date_time_pairs[i][1] == tag) {
            *tag_is_date = 0;
            return date_time_pairs[i][0];
        }
    }
    return 0;
}

/* ---- the safe lists ---- */

/* Standard attributes outside Table E.1-1 whose text carries no identity
 * and which images need (equipment model, coding, display, acquisition
 * technique); everything else outside the table with a text, name or date
 * VR is removed. */
static const uint32_t safe_text[] = {
    0x00080070, /* Manufacturer */
    0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080105, 0x00080106, 0x0008010F,
    0x00080117, 0x00080118, 0x00080119, 0x00080120, /* code sequence macro */
    0x00081090, /* Manufacturer's Model Name */
    0x00180023, 0x00180024, 0x00181020, 0x00181160, 0x00181210, 0x00181250, 0x00181251,
    0x00189005, 0x00200060, 0x00201040, 0x00209056, 0x00280301, 0x00281054, 0x00281055,
    0x00282114, 0x00283003, 0x00289001, 0x00400555, 0x00409210, 0x00181016, 0x00181018,
    0x00181019,
};

static int in_list(const uint32_t *list, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == tag)
            return 1;
    return 0;
}

/* UID attributes that name a class, a syntax or a coding scheme, not an
 * instance: kept as they are (private SOP classes must stay recognizable). */
static const uint32_t class_uids[] = {
    0x00080016, 0x00081150, 0x0008001A, 0x0008001B, 0x00080062, 0x0008010C, 0x0008010D,
    0x00041510, 0x00041512, 0x04000010, 0x04000510,
};

/* An excerpt of PS3.15 Table E.3.10-1 (Safe Private Attributes), matched by
 * private creator, group and element within the block. */
static const struct {
    uint16_t group;
    const char *creator;
    uint8_t element;
} safe_private[] = {
    {0x2001, "Philips Imaging DD 001", 0x03}, /* Diffusion B-Factor */
    {0x2001, "Philips Imaging DD 001", 0x04}, /* Diffusion Direction */
    {0x0019, "SIEMENS MR HEADER", 0x0C},      /* B_value */
    {0x0019, "SIEMENS MR HEADER", 0x0D},      /* DiffusionDirectionality */
    {0x0019, "SIEMENS MR HEADER", 0x0E},      /* DiffusionGradientDirection */
    {0x0019, "SIEMENS MR HEADER", 0x27},      /* B_matrix */
    {0x0043, "GEMS_PARM_01", 0x39},           /* slop_int_6..9 (b-value) */
    {0x0019, "GEMS_ACQU_01", 0x23},           /* Table Speed */
    {0x0019, "GEMS_ACQU_01", 0x24},           /* Mid Scan Time */
    {0x0019, "GEMS_ACQU_01", 0x27},           /* Rotation Speed */
};

static int safe_private_element(uint16_t group, const char *creator, uint8_t element)
{
    for (size_t i = 0; i < sizeof safe_private / sizeof safe_private[0]; i++)
        if (safe_private[i].group == group && safe_private[i].element == element &&
            strcmp(safe_private[i].creator, creator) == 0)
            return 1;
    return 0;
}

static int safe_private_creator(uint16_t group, const char *creator)
{
    for (size_t i = 0; i < sizeof safe_private / sizeof safe_private[0]; i++)
        if (safe_private[i].group == group && strcmp(safe_private[i].creator, creator) == 0)
            return 1;
    return 0;
}

/* ---- per object ---- */

typedef struct job {
    const iso_anon *a;
    const iso_attrs *orig;
    char pseudo_id[65], pseudo_name[65];
    long offset;
    char tokens[8][128]; /* identifying words to scrub from kept text */
    int n_tokens;
    int ours; /* the node's own output, proved by its mark: nothing is mapped again */
} job;

static const iso_e11_row *lookup(const iso_anon *a, uint16_t g, uint16_t e)
{
    size_t lo = 0, hi = a->n_exact;
    uint32_t want = (uint32_t)g << 16 | e;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t t = (uint32_t)a->exact[mid]->group << 16 | a->exact[mid]->element;
        if (t == want)
            return a->exact[mid];
        if (t < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < a->n_patterns; i++) {
        const iso_e11_row *r = a->patterns[i];
        if ((g & r->group_mask) == r->group && (e & r->element_mask) == r->element)
            return r;
    }
    return NULL;
}

/* The option columns a row has and the options enabled -> K, C or 0. */
static char option_action(const iso_anon_options *o, const iso_e11_row *r)
{
    int on[ISO_OPT_COUNT] = {
        o->retain_safe_private, o->retain_uids,       o->retain_device,
        o->retain_institution,  o->retain_patient_characteristics,
        o->dates == ISO_DATES_FULL, o->dates == ISO_DATES_MODIFIED,
        o->clean_descriptors,   o->clean_structured, o->clean_graphics};
    char best = 0;
    for (int k = 0; k < ISO_OPT_COUNT; k++)
        if (on[k] && r->opt[k]) {
            if (r->opt[k] == 'K')
                return 'K';
            best = r->opt[k];
        }
    return best;
}

static iso_el_action dummy(const iso_el *el, char *out, size_t n)
{
    const char *v = el->vr;
    if (strcmp(v, "SQ") == 0)
        return ISO_EL_RECURSE;
    if (strcmp(v, "DA") == 0)
        snprintf(out, n, "19000101");
    else if (strcmp(v, "TM") == 0)
        snprintf(out, n, "000000");
    else if (strcmp(v, "DT") == 0)
        snprintf(out, n, "19000101000000");
    else if (strcmp(v, "AS") == 0)
        snprintf(out, n, "000Y");
    else if (strcmp(v, "DS") == 0 || strcmp(v, "IS") == 0)
        snprintf(out, n, "0");
    else if (strcmp(v, "PN") == 0 || strcmp(v, "LO") == 0 || strcmp(v, "SH") == 0 ||
             strcmp(v, "LT") == 0 || strcmp(v, "ST") == 0 || strcmp(v, "UT") == 0 ||
             strcmp(v, "UC") == 0 || strcmp(v, "AE") == 0 || strcmp(v, "CS") == 0)
        snprintf(out, n, "ANONYMIZED");
    else
        return ISO_EL_EMPTY; /* numbers and binary values: empty is the safe dummy */
    return ISO_EL_REPLACE;
}

static iso_el_action map_uids(const job *j, const iso_el *el, char *out, size_t n)
{
    if (el->value == NULL || j->ours)
        return ISO_EL_KEEP;
    size_t k = 0;
    const char *p = el->value;
    out[0] = '\0';
    for (;;) {
        const char *bs = strchr(p, '\\');
        size_t len = bs ? (size_t)(bs - p) : strlen(p);
        char one[128], mapped[65];
        snprintf(one, sizeof one, "%.*s", (int)(len < 127 ? len : 127), p);
        iso_anon_map_uid(j->a, one, mapped);
        int w = snprintf(out + k, n - k, "%s%s", k ? "\\" : "", mapped);
        if (w < 0 || (size_t)w >= n - k)
            return ISO_EL_REMOVE; /* cannot happen with 64-char UIDs and a 64 KiB buffer */
        k += (size_t)w;
        if (!bs)
            break;
        p = bs + 1;
    }
    return ISO_EL_REPLACE;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 0;
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

/* C on free text: kept only if none of the object's identifying words
 * occurs in it (removing the words could split a multi-byte character or
 * an ISO 2022 escape; emptying cannot). */
static iso_el_action clean_text(const job *j, const iso_el *el)
{
    if (el->value == NULL)
        return ISO_EL_KEEP;
    /* compared as text, not bytes: the tokens are UTF-8, the value decoded
     * from its character set; a value that cannot be decoded cannot be
     * shown clean, so it goes */
    if (el->utf8 == NULL)
        return ISO_EL_EMPTY;
    for (int i = 0; i < j->n_tokens; i++)
        if (contains_ci(el->utf8, j->tokens[i]))
            return ISO_EL_EMPTY;
    return ISO_EL_KEEP;
}

static iso_el_action shift_date(const job *j, const iso_el *el, const iso_item_view *item,
                                char *out, size_t n)
{
    if (el->value == NULL || el->value[0] == '\0' || j->ours)
        return ISO_EL_KEEP; /* ours: shifted already */
    char pair[64];
    const char *pd = NULL, *pt = NULL;
    int is_date = 0;
    uint32_t other = paired_tag((uint32_t)el->group << 16 | el->element, &is_date);
    if (other != 0 && iso_item_get(item, (uint16_t)(other >> 16), (uint16_t)other, pair, sizeof pair) &&
        pair[0] != '\0') {
        if (is_date)
            pt = pair;
        else
            pd = pair;
    }
    /* multi-valued dates: each value alone */
    if (strchr(el->value, '\\') == NULL) {
        if (iso_anon_shift(el->vr, el->value, pd, pt, j->offset, out, n))
            return ISO_EL_REPLACE;
        return ISO_EL_EMPTY; /* unparsable: cannot be shifted, so it goes */
    }
    size_t k = 0;
    const char *p = el->value;
    for (;;) {
        const char *bs = strchr(p, '\\');
        char one[64], shifted[64];
        size_t len = bs ? (size_t)(bs - p) : strlen(p);
        snprintf(one, sizeof one, "%.*s", (int)(len < 63 ? len : 63), p);
        if (!iso_anon_shift(el->vr, one, NULL, NULL, j->offset, shifted, sizeof shifted))
            return ISO_EL_EMPTY;
        k += (size_t)snprintf(out + k, n - k, "%s%s", k ? "\\" : "", shifted);
        if (!bs || k >= n)
            break;
        p = bs + 1;
    }
    return ISO_EL_REPLACE;
}

static int is_date_vr(const char *vr)
{
    return strcmp(vr, "DA") == 0 || strcmp(vr, "TM") == 0 || strcmp(vr, "DT") == 0;
}

static int is_text_vr(const char *vr)
{
    static const char *const text[] = {"AE", "AS", "DA", "DT", "TM", "LO", "LT", "PN",
                                       "SH", "ST", "UC", "UR", "UT"};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (strcmp(vr, text[i]) == 0)
            return 1;
    return 0;
}

static iso_el_action decide(void *user, const iso_el *el, const iso_item_view *item, char *out,
                            size_t n)
{
    const job *j = user;
    const iso_anon_options *o = &j->a->opt;
    uint32_t tag = (uint32_t)el->group << 16 | el->element;
    /* 0. file meta elements inside the data set (PS3.10 puts them in the
     * meta header only, which the node writes itself): whatever they say
     * (a source AE title, private information) goes */
    if (el->group == 0x0002)
        return ISO_EL_REMOVE;
    /* 1. private */
    if (el->group & 1) {
        if (!o->retain_safe_private)
            return ISO_EL_REMOVE;
        if (el->element >= 0x0010 && el->element <= 0x00FF) {
            char creator[128];
            if (el->value == NULL)
                return ISO_EL_REMOVE;
            snprintf(creator, sizeof creator, "%s", el->value);
            return safe_private_creator(el->group, creator) ? ISO_EL_KEEP : ISO_EL_REMOVE;
        }
        return safe_private_element(el->group, el->creator, (uint8_t)(el->element & 0xFF))
                   ? ISO_EL_KEEP
                   : ISO_EL_REMOVE;
    }
    /* 2. overlays and curves: whole repeating groups */
    if ((el->group & 0xFF00) == 0x6000 || (el->group & 0xFF00) == 0x5000) {
        if (!o->clean_graphics)
            return ISO_EL_REMOVE;
        if (is_text_vr(el->vr))
            return clean_text(j, el);
        return ISO_EL_KEEP;
    }
    /* 3. the patient's identifiers: stable pseudonyms */
    if (tag == 0x00100020 || tag == 0x00100010) {
        snprintf(out, n, "%s", tag == 0x00100020 ? j->pseudo_id : j->pseudo_name);
        return ISO_EL_REPLACE;
    }
    /* marking attributes are written afterwards */
    if (tag == 0x00120062 || tag == 0x00120063 || tag == 0x00120064 || tag == 0x00280303)
        return ISO_EL_REMOVE;
    int is_sq = strcmp(el->vr, "SQ") == 0;
    int is_ui = strcmp(el->vr, "UI") == 0;
    /* 4. the table */
    const iso_e11_row *r = lookup(j->a, el->group, el->element);
    if (r != NULL) {
        char opt = option_action(o, r);
        if (opt == 'K')
            return is_sq ? ISO_EL_RECURSE : ISO_EL_KEEP;
        if (opt == 'C') {
            if (is_sq)
                return ISO_EL_RECURSE;
            if (is_date_vr(el->vr))
                return o->dates == ISO_DATES_MODIFIED ? shift_date(j, el, item, out, n)
                                                      : clean_text(j, el);
            if (is_ui)
                return map_uids(j, el, out, n);
            return clean_text(j, el);
        }
        switch (r->basic) {
        case ISO_E11_K:
            return is_sq ? ISO_EL_RECURSE : ISO_EL_KEEP;
        case ISO_E11_X:
            return ISO_EL_REMOVE;
        case ISO_E11_Z:
        case ISO_E11_XZ:
            return ISO_EL_EMPTY;
        case ISO_E11_U:
            return is_ui ? map_uids(j, el, out, n) : (is_sq ? ISO_EL_RECURSE : ISO_EL_REMOVE);
        case ISO_E11_XZU:
            return is_sq ? ISO_EL_RECURSE : (is_ui ? map_uids(j, el, out, n) : ISO_EL_EMPTY);
        case ISO_E11_D:
        case ISO_E11_XD:
        case ISO_E11_ZD:
        case ISO_E11_XZD:
            if (is_ui)
                return map_uids(j, el, out, n);
            return dummy(el, out, n);
        case ISO_E11_C:
            return is_sq ? ISO_EL_RECURSE : clean_text(j, el);
        }
        return ISO_EL_REMOVE;
    }
    /* 5. default deny */
    if (is_sq)
        return ISO_EL_RECURSE;
    if (is_ui) {
        if (in_list(class_uids, sizeof class_uids / sizeof class_uids[0], tag))
            return ISO_EL_KEEP;
        return map_uids(j, el, out, n);
    }
    if (strcmp(el->vr, "UN") == 0)
        return ISO_EL_REMOVE;
    if (is_text_vr(el->vr))
        return in_list(safe_text, sizeof safe_text / sizeof safe_text[0], tag) ? ISO_EL_KEEP
                                                                                : ISO_EL_REMOVE;
    return ISO_EL_KEEP; /* CS, numbers, binary data */
}

static void add_token(job *j, const char *t)
{
    if (strlen(t) >= 3 && j->n_tokens < 8)
        snprintf(j->tokens[j->n_tokens++], sizeof j->tokens[0], "%s", t);
}

/* SOP classes whose pixels routinely carry burned-in text when they do not
 * say otherwise: secondary captures of every kind, ultrasound, X-ray
 * angiography and fluoroscopy, and visible light (endoscopy, microscopy,
 * photography, ophthalmic photography and tomography, whole slide). */
static const char *const text_prone_classes[] = {
    "1.2.840.10008.5.1.4.1.1.7",     /* SC, multi-frame SC (.7.1 .. .7.4) */
    "1.2.840.10008.5.1.4.1.1.6.",    /* US, enhanced US */
    "1.2.840.10008.5.1.4.1.1.3.1",   /* US multi-frame */
    "1.2.840.10008.5.1.4.1.1.12.",   /* XA, enhanced XA, XRF, XA/XRF 3D */
    "1.2.840.10008.5.1.4.1.1.77.1.", /* VL: ES, microscopy, photography, ophthalmic, WSI */
};

int iso_anon_may_show_text(const iso_attrs *o)
{
    /* (0028,0301): YES or NO, read whatever its case and padding; any other
     * value counts as text */
    char v[16];
    size_t n = 0;
    for (const char *p = o->burned_in_annotation; *p != '\0' && n + 1 < sizeof v; p++)
        if (*p != ' ')
            v[n++] = *p;
    v[n] = '\0';
    if (n > 0)
        return strcasecmp(v, "NO") != 0;
    for (size_t i = 0; i < sizeof text_prone_classes / sizeof text_prone_classes[0]; i++)
        if (strncmp(o->sop_class_uid, text_prone_classes[i], strlen(text_prone_classes[i])) == 0)
            return 1;
    return 0;
}

#define METHOD_PREFIX "isonode PS3.15 E.1-1 "

static void json_field(FILE *f, const char *key, const char *value, int *first)
{
    fprintf(f, "%s", *first ? "{" : ", ");
    *first = 0;
    iso_json_string(f, key);
    fputs(": ", f);
    iso_json_string(f, value);
}

/* The Patient module as received, for the patient and series rows. */
static void patient_fields(FILE *f, const iso_attrs *o, int *first)
{
    json_field(f, "PatientID", o->patient_id, first);
    json_field(f, "IssuerOfPatientID", o->issuer, first);
    json_field(f, "PatientName", o->patient_name, first);
    json_field(f, "PatientBirthDate", o->birth_date, first);
    json_field(f, "PatientSex", o->sex, first);
}

/* The vault rows of one object.  Failing here fails the object: nothing
 * is acknowledged that could not be re-identified. */
static iso_code record(iso_anon *a, const job *j, const iso_attrs *o, const iso_attrs *after,
                       iso_err *err)
{
    if (a->vault == NULL)
        return iso_fail(err, ISO_EIO, "no re-identification vault");
    pthread_mutex_lock(&a->seen_mu);
    int seen = 0;
    for (int i = 0; i < SEEN_SERIES && !seen; i++)
        seen = strcmp(a->seen[i], after->series_uid) == 0;
    pthread_mutex_unlock(&a->seen_mu);
    if (seen && strcmp(o->sop_instance_uid, after->sop_instance_uid) != 0) {
        char *row = NULL;
        size_t n;
        FILE *f = open_memstream(&row, &n);
        if (f == NULL)
            return iso_fail(err, ISO_ENOMEM, "out of memory for a vault row");
        int first = 1;
        json_field(f, "original", o->sop_instance_uid, &first);
        json_field(f, "kind", "instance", &first);
        json_field(f, "StudyInstanceUID", after->study_uid, &first);
        fputs("}", f);
        fclose(f);
        iso_code rc = iso_vault_put(a->vault, "uid", after->sop_instance_uid, row, err);
        free(row);
        return rc;
    }
    char *patient = NULL, *study = NULL, *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL;
    size_t len;
    FILE *f = open_memstream(&patient, &len);
    if (f != NULL) {
        int first = 1;
        patient_fields(f, o, &first);
        fprintf(f, ", \"DateOffsetSeconds\": %ld}", j->offset);
        fclose(f);
    }
    f = open_memstream(&study, &len);
    if (f != NULL) {
        int first = 1;
        json_field(f, "StudyInstanceUID", o->study_uid, &first);
        json_field(f, "StudyDate", o->study_date, &first);
        json_field(f, "StudyTime", o->study_time, &first);
        json_field(f, "AccessionNumber", o->accession, &first);
        json_field(f, "StudyID", o->study_id, &first);
        json_field(f, "StudyDescription", o->study_description, &first);
        json_field(f, "ReferringPhysicianName", o->referring_physician, &first);
        /* Patient Study: what the patient was at this study */
        json_field(f, "PatientAge", o->patient_age, &first);
        json_field(f, "PatientSize", o->patient_size, &first);
        json_field(f, "PatientWeight", o->patient_weight, &first);
        json_field(f, "PatientID", j->pseudo_id, &first);
        fputs("}", f);
        fclose(f);
    }
    static const char *const kinds_all[] = {"patient", "study", "uid", "uid", "uid", "uid"};
    const char *kinds[6], *pseudos[6], *values[6];
    int n = 0;
    char **owned[] = {&u1, &u2, &u3, &u4};
    const char *orig_uid[] = {o->study_uid, o->series_uid, o->sop_instance_uid,
                              o->frame_of_reference_uid};
    const char *new_uid[] = {after->study_uid, after->series_uid, after->sop_instance_uid,
                             after->frame_of_reference_uid};
    static const char *const what[] = {"study", "series", "instance", "frame-of-reference"};
    if (patient != NULL) {
        kinds[n] = kinds_all[0];
        pseudos[n] = j->pseudo_id;
        values[n++] = patient;
    }
    if (study != NULL) {
        kinds[n] = kinds_all[1];
        pseudos[n] = after->study_uid;
        values[n++] = study;
    }
    for (int i = 0; i < 4; i++) {
        if (orig_uid[i][0] == '\0' || strcmp(orig_uid[i], new_uid[i]) == 0)
            continue;
        f = open_memstream(owned[i], &len);
        if (f == NULL)
            continue;
        int first = 1;
        json_field(f, "original", orig_uid[i], &first);
        json_field(f, "kind", what[i], &first);
        json_field(f, "StudyInstanceUID", after->study_uid, &first);
        if (i == 1) {
            /* the identity this series' own instances carried: its results
             * get this back, not whatever the first series of the same
             * Patient ID said (the patient row keeps the first) */
            patient_fields(f, o, &first);
            /* what those values (and the study row's) are in: UTF-8, or the
             * sender's bytes under its own set when they cannot be decoded */
            json_field(f, "SpecificCharacterSet", o->charset, &first);
        }
        fputs("}", f);
        fclose(f);
        kinds[n] = "uid";
        pseudos[n] = new_uid[i];
        values[n++] = *owned[i];
    }
    iso_code rc = ISO_OK;
    if (patient == NULL || study == NULL)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for vault rows");
    else if ((rc = iso_vault_put_many(a->vault, kinds, pseudos, values, n, err)) != ISO_OK) {
        /* the vault's message says it */
    } else {
        pthread_mutex_lock(&a->seen_mu);
        snprintf(a->seen[a->seen_next], sizeof a->seen[0], "%s", after->series_uid);
        a->seen_next = (a->seen_next + 1) % SEEN_SERIES;
        pthread_mutex_unlock(&a->seen_mu);
    }
    free(patient);
    free(study);
    free(u1);
    free(u2);
    free(u3);
    free(u4);
    return rc;
}

/* The mark of a de-identified object: 24 hex digits of an HMAC under the
 * key of the values that identify it and that only the node can mint. */
static void make_mark(const iso_anon *a, const char *sop, const char *study, const char *series,
                      const char *patient_id, const char *patient_name, char out[40])
{
    /* every byte of every value counts (the values fit iso_attrs): a
     * cut-off input would let text appended to a marked object's name keep
     * the mark */
    const iso_attrs *o = NULL;
    char in[sizeof o->sop_instance_uid + sizeof o->study_uid + sizeof o->series_uid +
            sizeof o->patient_id + sizeof o->patient_name];
    int n = snprintf(in, sizeof in, "%.64s\\%.64s\\%.64s\\%.255s\\%.511s", sop, study,
                     series, patient_id, patient_name);
    assert(n >= 0 && (size_t)n < sizeof in);
    uint8_t md[32];
    iso_key_hmac(a->key, "isonode mark v1:", in, md);
    iso_hex(md, 12, out);
}

iso_code iso_anon_object(iso_anon *a, const iso_anon_input *in, const iso_store_sink *sink,
                         iso_attrs *after, iso_anon_outcome *outcome, char *why, size_t why_size,
                         iso_err *err)
{
    const iso_attrs *o = in->attrs;
    why[0] = '\0';
    job j = {.a = a, .orig = o};
    /* The node's own output carries a mark: an HMAC under the key of its
     * identifying values.  A valid mark proves those values are already the
     * node's replacements, so they are kept (mapping them again would give
     * a new object); everything else goes through the whole policy again,
     * so text added to the object since is removed.  A marker any sender
     * can write (PatientIdentityRemoved, a method text) proves nothing. */
    char mark[40];
    make_mark(a, o->sop_instance_uid, o->study_uid, o->series_uid, o->patient_id, o->patient_name,
              mark);
    j.ours = o->anon_mark[0] != '\0' && strcmp(o->anon_mark, mark) == 0;
    int burned = iso_anon_may_show_text(o);
    if (burned && a->opt.reject_burned_in) {
        *outcome = ISO_ANON_REJECTED;
        snprintf(why, why_size, "burned-in annotation possible (%s)",
                 o->burned_in_annotation[0] ? "Burned In Annotation not NO"
                                            : "a class that often shows text");
        return ISO_OK;
    }
    if (j.ours) {
        /* the mark proves these are pseudonyms the node made: they fit */
        snprintf(j.pseudo_id, sizeof j.pseudo_id, "%.64s", o->patient_id);
        snprintf(j.pseudo_name, sizeof j.pseudo_name, "%.64s", o->patient_name);
        j.offset = 0;
    } else {
        iso_anon_pseudonym(a, o->issuer, o->patient_id, j.pseudo_id, j.pseudo_name);
        j.offset = iso_anon_date_offset(a, o->issuer, o->patient_id);
    }
    /* words that identify: name components, IDs, birth date, accession */
    char name[512];
    snprintf(name, sizeof name, "%s", o->patient_name);
    char *save = NULL; /* strtok_r: every connection thread runs this at once */
    for (char *tok = strtok_r(name, "^= ", &save); tok != NULL; tok = strtok_r(NULL, "^= ", &save))
        add_token(&j, tok);
    add_token(&j, o->patient_id);
    add_token(&j, o->birth_date);
    add_token(&j, o->accession);

    const iso_anon_options *op = &a->opt;
    char method[768]; /* the options' meanings (LO: 64 each), then the mark always fits */
    int mlen = snprintf(method, sizeof method, METHOD_PREFIX "%s Basic Profile", iso_e11_edition);
    struct {
        int on;
        const char *code, *meaning;
    } opts[] = {
        {1, "113100", "Basic Application Confidentiality Profile"},
        {op->clean_graphics, "113103", "Clean Graphics Option"},
        {op->clean_structured, "113104", "Clean Structured Content Option"},
        {op->clean_descriptors, "113105", "Clean Descriptors Option"},
        {op->dates == ISO_DATES_FULL, "113106",
         "Retain Longitudinal Temporal Information Full Dates Option"},
        {op->dates == ISO_DATES_MODIFIED, "113107",
         "Retain Longitudinal Temporal Information Modified Dates Option"},
        {op->retain_patient_characteristics, "113108", "Retain Patient Characteristics Option"},
        {op->retain_device, "113109", "Retain Device Identity Option"},
        {op->retain_uids, "113110", "Retain UIDs Option"},
        {op->retain_safe_private, "113111", "Retain Safe Private Option"},
        {op->retain_institution, "113112", "Retain Institution Identity Option"},
    };
    iso_code_item codes[16];
    int nc = 0;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (!opts[i].on)
            continue;
        codes[nc++] = (iso_code_item){opts[i].code, "DCM", opts[i].meaning};
        if (i > 0 && mlen < (int)sizeof method - 140) {
            /* one value per option: LO values are at most 64 characters */
            const char *m = opts[i].meaning;
            mlen += snprintf(method + mlen, sizeof method - (size_t)mlen, "\\%.64s", m);
        }
    }
    if (burned && mlen < (int)sizeof method - 140)
        mlen += snprintf(method + mlen, sizeof method - (size_t)mlen,
                         "\\Pixel data may show burned-in text");
    /* the mark of the output: over the values it will carry */
    char new_sop[65], new_study[65], new_series[65], out_mark[40];
    if (j.ours) {
        snprintf(out_mark, sizeof out_mark, "%s", mark);
    } else {
        iso_anon_map_uid(a, o->sop_instance_uid, new_sop);
        iso_anon_map_uid(a, o->study_uid, new_study);
        iso_anon_map_uid(a, o->series_uid, new_series);
        make_mark(a, new_sop, new_study, new_series, j.pseudo_id, j.pseudo_name, out_mark);
    }
    mlen += snprintf(method + mlen, sizeof method - (size_t)mlen, "\\isonode-mark %s", out_mark);
    const char *ltim = op->dates == ISO_DATES_FULL       ? "UNMODIFIED"
                       : op->dates == ISO_DATES_MODIFIED ? "MODIFIED"
                                                         : "REMOVED";
    iso_set_value set[] = {
        {0x0012, 0x0062, burned ? "NO" : "YES"},
        {0x0012, 0x0063, method},
        {0x0028, 0x0303, ltim},
        {0, 0, NULL},
    };
    iso_rewrite rw = {.user = &j, .decide = decide, .set = set, .codes = codes, .n_codes = nc,
                      .clean_unused_bits = 1};
    if (iso_dcm_parsed_rewrite(in->parsed, &rw, sink, after, err) != ISO_OK)
        return err->code;
    *outcome = burned ? ISO_ANON_FLAGGED : j.ours ? ISO_ANON_UNCHANGED : ISO_ANON_DONE;
    if (burned)
        snprintf(why, why_size, "burned-in annotation possible: stored flagged, "
                                "PatientIdentityRemoved NO");
    return j.ours ? ISO_OK : record(a, &j, o, after, err); /* ours: recorded the first time */
}
