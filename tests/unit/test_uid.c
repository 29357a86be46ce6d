/* test_uid.c — UID and AE title rules against PS3.5 9.1 and 6.2. */
#include "tests/unit/check.h"
#include "util/uid.h"

#include <string.h>

int main(void)
{
    /* valid */
    CHECK(iso_uid_valid("1.2.840.10008.1.2.1"));
    CHECK(iso_uid_valid("0"));
    CHECK(iso_uid_valid("1.0.2"));
    CHECK(iso_uid_valid("2.25.136833058356961116694371467829624465205"));
    CHECK(iso_uid_valid("1.2345678901234567890123456789012345678901234567890123456789012"));
    /* invalid */
    CHECK(!iso_uid_valid(NULL));
    CHECK(!iso_uid_valid(""));
    CHECK(!iso_uid_valid("1.02.3"));                 /* leading zero */
    CHECK(!iso_uid_valid("1..2"));                   /* empty component */
    CHECK(!iso_uid_valid(".1.2"));
    CHECK(!iso_uid_valid("1.2."));
    CHECK(!iso_uid_valid("1.2.a"));
    CHECK(!iso_uid_valid("1.2.3 "));                 /* padding is not part of a UID */
    CHECK(!iso_uid_valid("../../etc/passwd"));
    CHECK(!iso_uid_valid("1.234567890123456789012345678901234567890123456789012345678901234")); /* 65 */
    /* AE titles */
    CHECK(iso_ae_valid("ISONODE"));
    CHECK(iso_ae_valid("CT 1"));
    CHECK(iso_ae_valid("SIXTEEN_CHARS_AE"));
    CHECK(!iso_ae_valid("SEVENTEEN_CHARS_A"));
    CHECK(!iso_ae_valid("    "));
    CHECK(!iso_ae_valid("BAD\\AE"));
    CHECK(!iso_ae_valid("TAB\tAE"));
    CHECK(!iso_ae_valid(""));
    CHECK(iso_ae_equal("CT1", "CT1"));
    CHECK(iso_ae_equal(" CT1  ", "CT1"));
    CHECK(!iso_ae_equal("CT1", "CT 1"));
    CHECK(!iso_ae_equal("CT1", "CT12"));
    CHECK(iso_ae_equal("", "   "));
    /* 2.25 UIDs from a hash: bit 126 set, bit 127 clear */
    unsigned char zero[16] = {0}, ones[16];
    memset(ones, 0xFF, sizeof ones);
    char u[65];
    iso_uid_from_hash(zero, u);
    CHECK(strcmp(u, "2.25.85070591730234615865843651857942052864") == 0); /* 2^126 */
    iso_uid_from_hash(ones, u);
    CHECK(strcmp(u, "2.25.170141183460469231731687303715884105727") == 0); /* 2^127 - 1 */
    CHECK(iso_uid_valid(u) && strlen(u) <= 64);
    return CHECK_DONE();
}
