/* test_anon.c — known answers for the de-identification helpers: date and
 * time shifting (pairs across midnight, partial precision, leap days, DT
 * with fraction and zone), UID replacement (format, determinism, standard
 * UIDs untouched), pseudonyms, and the vault (round trip, wrong key,
 * tampering, file modes). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "anon/anon.h"
#include "anon/e11_table.h"
#include "anon/vault.h"
#include "derive/derive.h"
#include "net/reidentify.h"
#include "check.h"
#include "util/uid.h"

static void shift(const char *vr, const char *v, const char *pd, const char *pt, long off,
                  const char *want)
{
    char out[64] = "";
    int ok = iso_anon_shift(vr, v, pd, pt, off, out, sizeof out);
    if (!ok || strcmp(out, want) != 0)
        fprintf(stderr, "shift %s %s (%s/%s) %+ld: got '%s' want '%s'\n", vr, v, pd ? pd : "-",
                pt ? pt : "-", off, ok ? out : "(refused)", want);
    CHECK(ok && strcmp(out, want) == 0);
}

static void test_dates(void)
{
    long day = 86400;
    shift("DA", "20240315", NULL, NULL, -10 * day, "20240305");
    shift("DA", "20240301", NULL, NULL, -1 * day, "20240229"); /* leap year */
    shift("DA", "20230301", NULL, NULL, -1 * day, "20230228");
    shift("DA", "20240101", NULL, NULL, -1 * day, "20231231");
    /* a pair: 23:15 plus 2 hours crosses midnight, date and time together */
    shift("DA", "20240315", NULL, "231500", 2 * 3600, "20240316");
    shift("TM", "231500", "20240315", NULL, 2 * 3600, "011500");
    shift("TM", "231500.25", "20240315", NULL, 2 * 3600, "011500.25");
    shift("TM", "23", "20240315", NULL, 2 * 3600 + 59, "01");
    shift("TM", "2315", "20240315", NULL, -30 * 60, "2245");
    shift("TM", "23:15:00", "20240315", NULL, 60, "231600"); /* old ACR-NEMA form */
    shift("DT", "20240315231500.123456", NULL, NULL, 2 * 3600, "20240316011500.123456");
    shift("DT", "202403", NULL, NULL, -2 * day, "202402");
    shift("DT", "2024", NULL, NULL, -2 * day, "2023");
    shift("DT", "20240315231500+0100", NULL, NULL, 3600, "20240316001500+0100");
    char out[64];
    CHECK(!iso_anon_shift("DA", "2024-03-15", NULL, NULL, 0, out, sizeof out));
    CHECK(!iso_anon_shift("TM", "25", NULL, NULL, 0, out, sizeof out));
}

static void test_identifiers(const char *dir)
{
    iso_anon_options o = {0};
    iso_anon *a = NULL;
    iso_err err = {0};
    CHECK(iso_anon_open(dir, &o, &a, &err) == ISO_OK);
    char u1[65], u2[65], u3[65];
    iso_anon_map_uid(a, "1.2.3.4.5.6", u1);
    iso_anon_map_uid(a, "1.2.3.4.5.6", u2);
    iso_anon_map_uid(a, "1.2.3.4.5.7", u3);
    CHECK(strcmp(u1, u2) == 0 && strcmp(u1, u3) != 0);
    CHECK(strncmp(u1, "2.25.", 5) == 0 && strlen(u1) <= 64 && iso_uid_valid(u1));
    iso_anon_map_uid(a, "1.2.840.10008.5.1.4.1.1.2", u1);
    CHECK(strcmp(u1, "1.2.840.10008.5.1.4.1.1.2") == 0);
    char id1[65], n1[65], id2[65], n2[65];
    iso_anon_pseudonym(a, "", "PID1", id1, n1);
    iso_anon_pseudonym(a, "", "PID1", id2, n2);
    CHECK(strcmp(id1, id2) == 0 && strcmp(n1, n2) == 0 && strlen(id1) <= 64);
    iso_anon_pseudonym(a, "HOSP2", "PID1", id2, n2);
    CHECK(strcmp(id1, id2) != 0); /* same ID, other issuer: another patient */
    long off = iso_anon_date_offset(a, "", "PID1");
    /* one to eleven years back: 365..4014 whole days, plus under a day of seconds */
    CHECK(off < -364L * 86400 && off > -4015L * 86400);
    CHECK(off == iso_anon_date_offset(a, "", "PID1"));
    /* over many patients every offset stays in that window and the window is used */
    long lo = 0, hi = -4015L * 86400;
    for (int i = 0; i < 4000; i++) {
        char pid[32];
        snprintf(pid, sizeof pid, "P%d", i);
        long o2 = iso_anon_date_offset(a, "", pid);
        CHECK(o2 < -364L * 86400 && o2 > -4015L * 86400);
        if (o2 < lo) lo = o2;
        if (o2 > hi) hi = o2;
    }
    CHECK(lo < -3900L * 86400 && hi > -500L * 86400);
    iso_anon_close(a);
    /* the same key after a restart: the same UIDs */
    CHECK(iso_anon_open(dir, &o, &a, &err) == ISO_OK);
    iso_anon_map_uid(a, "1.2.3.4.5.6", u3);
    CHECK(strcmp(u2, u3) == 0);
    iso_anon_close(a);
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == ISO_KEY_LEN);
}

static void test_vault(const char *dir)
{
    uint8_t key[ISO_KEY_LEN];
    iso_err err = {0};
    char key_file[512];
    snprintf(key_file, sizeof key_file, "%s/secret.key", dir);
    CHECK(iso_key_load(key_file, 1, key, &err) == ISO_OK);
    iso_vault *v = NULL;
    CHECK(iso_vault_open(dir, key, &v, &err) == ISO_OK);
    CHECK(iso_vault_put(v, "uid", "2.25.1", "{\"original\": \"1.2.3\"}", &err) == ISO_OK);
    /* a second put of the same row keeps the first value */
    CHECK(iso_vault_put(v, "uid", "2.25.1", "{\"original\": \"9.9.9\"}", &err) == ISO_OK);
    char *val = NULL;
    CHECK(iso_vault_get(v, "uid", "2.25.1", &val, &err) == ISO_OK && val != NULL &&
          strcmp(val, "{\"original\": \"1.2.3\"}") == 0);
    free(val);
    CHECK(iso_vault_get(v, "uid", "2.25.2", &val, &err) == ISO_ENOTFOUND);
    iso_vault_close(v);
    /* another key cannot open it (the key check value), nor read a row */
    uint8_t other[ISO_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[0] ^= 1;
    iso_err e2 = {0};
    CHECK(iso_vault_open(dir, other, &v, &e2) == ISO_ECONFIG && v == NULL);
    CHECK(strstr(e2.msg, "does not match this vault") != NULL);
    CHECK(iso_vault_open(dir, key, &v, &err) == ISO_OK);
    iso_vault_close(v);
    /* a vault from before the check value: the key is proved by a row */
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/vault.sqlite", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(vpath, &db) == SQLITE_OK &&
          sqlite3_exec(db, "DELETE FROM vault_meta", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    e2 = (iso_err){0};
    CHECK(iso_vault_open(dir, other, &v, &e2) == ISO_ECONFIG && v == NULL);
    CHECK(iso_vault_open(dir, key, &v, &err) == ISO_OK);
    iso_vault_close(v);
    uint8_t again[ISO_KEY_LEN];
    CHECK(iso_key_load(key_file, 0, again, &err) == ISO_OK && memcmp(again, key, sizeof key) == 0);
    char fp[72];
    iso_key_fingerprint(key, fp);
    CHECK(strncmp(fp, "SHA256:", 7) == 0 && strlen(fp) == 71);
    char path[512];
    snprintf(path, sizeof path, "%s/vault.sqlite", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* the plaintext is nowhere in the file: grep finds the pseudonym (stored
     * in clear, the control) and not the original (exit status 1, not an
     * error) */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat %s/vault.sqlite* | grep -q '2\\.25\\.1'", dir);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "cat %s/vault.sqlite* | grep -q '1\\.2\\.3'", dir);
    int st_grep = system(cmd);
    CHECK(WIFEXITED(st_grep) && WEXITSTATUS(st_grep) == 1);
}

/* Which objects may show burned-in text (PS3.3 C.7.6.1.1.1 Burned In
 * Annotation; the classes of PS3.4 B.5 where text is routinely burned in). */
static void test_burned_in(void)
{
    struct {
        const char *sop_class, *burned_in;
        int want;
    } cases[] = {
        {"1.2.840.10008.5.1.4.1.1.2", "", 0},          /* CT, silent */
        {"1.2.840.10008.5.1.4.1.1.2", "YES", 1},
        {"1.2.840.10008.5.1.4.1.1.2", "yes", 1},       /* not a valid CS, still yes */
        {"1.2.840.10008.5.1.4.1.1.2", "Yes ", 1},
        {"1.2.840.10008.5.1.4.1.1.2", "MAYBE", 1},     /* anything but NO */
        {"1.2.840.10008.5.1.4.1.1.2", "no", 0},
        {"1.2.840.10008.5.1.4.1.1.7", "", 1},          /* SC */
        {"1.2.840.10008.5.1.4.1.1.7.4", "", 1},        /* multi-frame true colour SC */
        {"1.2.840.10008.5.1.4.1.1.7", "NO", 0},        /* says so */
        {"1.2.840.10008.5.1.4.1.1.6.1", "", 1},        /* US */
        {"1.2.840.10008.5.1.4.1.1.3.1", "", 1},        /* US multi-frame */
        {"1.2.840.10008.5.1.4.1.1.12.1", "", 1},       /* XA */
        {"1.2.840.10008.5.1.4.1.1.12.2", "", 1},       /* XRF */
        {"1.2.840.10008.5.1.4.1.1.77.1.1", "", 1},     /* VL endoscopic */
        {"1.2.840.10008.5.1.4.1.1.77.1.4", "", 1},     /* VL photographic */
        {"1.2.840.10008.5.1.4.1.1.77.1.5.1", "", 1},   /* ophthalmic photography 8 bit */
        {"1.2.840.10008.5.1.4.1.1.77.1.5.4", "", 1},   /* ophthalmic tomography */
        {"1.2.840.10008.5.1.4.1.1.4", "", 0},          /* MR */
        {"1.2.840.10008.5.1.4.1.1.128", "", 0},        /* PET */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iso_attrs o;
        memset(&o, 0, sizeof o);
        snprintf(o.sop_class_uid, sizeof o.sop_class_uid, "%s", cases[i].sop_class);
        snprintf(o.burned_in_annotation, sizeof o.burned_in_annotation, "%s", cases[i].burned_in);
        int got = iso_anon_may_show_text(&o);
        if (got != cases[i].want)
            fprintf(stderr, "burned-in %s '%s': got %d\n", cases[i].sop_class, cases[i].burned_in,
                    got);
        CHECK(got == cases[i].want);
    }
}

/* Derived UIDs: keyed (two installations never mint the same UID for a
 * series), deterministic (a re-run delivers the same objects), and new for
 * a new version. */
static void test_derived_uids(void)
{
    uint8_t k1[ISO_KEY_LEN], k2[ISO_KEY_LEN];
    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    char a[65], b[65], c[65], d[65], e[65];
    iso_derive_uid(k1, "1.2.3.4", "v1", "sc", 1, a);
    iso_derive_uid(k1, "1.2.3.4", "v1", "sc", 1, b);
    iso_derive_uid(k2, "1.2.3.4", "v1", "sc", 1, c);
    iso_derive_uid(k1, "1.2.3.4", "v2", "sc", 1, d);
    iso_derive_uid(k1, "1.2.3.4", "v1", "sc", 2, e);
    CHECK(strcmp(a, b) == 0);
    CHECK(strcmp(a, c) != 0 && strcmp(a, d) != 0 && strcmp(a, e) != 0);
    CHECK(iso_uid_valid(a) && strncmp(a, "2.25.", 5) == 0);
}

static void test_table(void)
{
    CHECK(strcmp(iso_e11_edition, "2024b") == 0);
    CHECK(iso_e11_nrows == 620); /* 621 rows less the private-attributes row */
    int found = 0;
    for (size_t i = 0; i < iso_e11_nrows; i++)
        if (iso_e11_rows[i].group == 0x0010 && iso_e11_rows[i].element == 0x0010) {
            found = 1;
            CHECK(iso_e11_rows[i].basic == ISO_E11_Z);
        }
    CHECK(found);
}

/* Matching identity keys on original values (PS3.4 C.2.2.2), and a
 * hostile pattern that must not take exponential time. */
static void test_reid_match(void)
{
    CHECK(iso_reid_match("Doe^Jane", "Doe^J*", false));
    CHECK(iso_reid_match("Doe^Jane", "D?e^Jane", false));
    CHECK(!iso_reid_match("Doe^Jane", "Doe^Jim*", false));
    CHECK(iso_reid_match("Doe^Jane", "*", false));
    CHECK(iso_reid_match("Doe^Jane", "", false));
    CHECK(!iso_reid_match("Doe^Jane", "Doe", false));
    CHECK(iso_reid_match("M\xc3\xbcller", "M?ller", false)); /* a UTF-8 character is one '?' */
    CHECK(iso_reid_match("20190314", "20190101-20191231", true));
    CHECK(iso_reid_match("20190314", "20190314-", true));
    CHECK(iso_reid_match("20190314", "-20190314", true));
    CHECK(!iso_reid_match("20190314", "20190315-", true));
    CHECK(!iso_reid_match("", "20190101-20191231", true)); /* no value: not in a range */
    CHECK(iso_reid_match("2019-03", "2019-03", false)); /* not dated: a dash is a character */
    char value[501], pattern[64];
    memset(value, 'a', 500);
    value[500] = '\0';
    snprintf(pattern, sizeof pattern, "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
    CHECK(!iso_reid_match(value, pattern, false)); /* returns at once: linear, not 500^19 */
    value[499] = 'b';
    CHECK(iso_reid_match(value, pattern, false));
}

int main(void)
{
    char dir[] = "/tmp/isonode-anon-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_dates();
    test_identifiers(dir);
    test_vault(dir);
    test_table();
    test_burned_in();
    test_derived_uids();
    test_reid_match();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)system(cmd);
    return CHECK_DONE();
}
