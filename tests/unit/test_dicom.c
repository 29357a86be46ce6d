/* test_dicom.c — the adapter's non-network pieces: the Part 10 meta header
 * we write is parsed back by DCMTK with the values we put in; data sets
 * parse from memory; transfer syntax support matches the accepted list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom/dicom.h"
#include "tests/unit/check.h"

/* Explicit VR little endian element with a 2-byte length. */
static size_t el(unsigned char *p, unsigned g, unsigned e, const char *vr, const char *v, char pad)
{
    size_t n = strlen(v), padded = n + (n & 1);
    p[0] = g & 0xff; p[1] = g >> 8; p[2] = e & 0xff; p[3] = e >> 8;
    p[4] = vr[0]; p[5] = vr[1]; p[6] = padded & 0xff; p[7] = padded >> 8;
    memcpy(p + 8, v, n);
    if (n & 1)
        p[8 + n] = pad;
    return 8 + padded;
}

int main(void)
{
    iso_err err = {0};
    CHECK(iso_dcm_init(&err) == ISO_OK);
    unsigned char buf[4096];
    const char *cls = "1.2.840.10008.5.1.4.1.1.2", *inst = "1.2.826.0.1.3680043.2.1.1";
    size_t n = iso_dcm_meta_header(buf, sizeof buf, cls, inst, "1.2.840.10008.1.2.1", "CT1");
    CHECK(n > 132 && memcmp(buf + 128, "DICM", 4) == 0);
    CHECK(iso_dcm_meta_header(buf, 100, cls, inst, "1.2.840.10008.1.2.1", "CT1") == 0);
    /* the group length covers exactly the rest of group 0002 */
    unsigned gl = buf[140] | buf[141] << 8 | buf[142] << 16 | (unsigned)buf[143] << 24;
    CHECK(132 + 12 + gl == n);
    size_t d = n;
    d += el(buf + d, 0x0008, 0x0016, "UI", cls, 0);
    d += el(buf + d, 0x0008, 0x0018, "UI", inst, 0);
    d += el(buf + d, 0x0008, 0x0005, "CS", "ISO_IR 100", ' ');
    d += el(buf + d, 0x0008, 0x0060, "CS", "CT", ' ');
    d += el(buf + d, 0x0010, 0x0010, "PN", "M\xfcller^J\xf6rg", ' ');
    d += el(buf + d, 0x0010, 0x0020, "LO", "PID-7", ' ');
    d += el(buf + d, 0x0020, 0x000D, "UI", "1.2.3", 0);
    d += el(buf + d, 0x0020, 0x000E, "UI", "1.2.3.4", 0);
    char path[] = "/tmp/isonode-test-dicom-XXXXXX";
    char path_template[] = "/tmp/isonode-test-dicom-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, d) == (ssize_t)d);
    close(fd);
    iso_attrs a;
    CHECK(iso_dcm_read_attrs(path, &a, &err) == ISO_OK);
    CHECK(strcmp(a.meta_sop_class_uid, cls) == 0);
    CHECK(strcmp(a.meta_sop_instance_uid, inst) == 0);
    CHECK(strcmp(a.transfer_syntax, "1.2.840.10008.1.2.1") == 0);
    CHECK(strcmp(a.sop_instance_uid, inst) == 0);
    CHECK(strcmp(a.patient_id, "PID-7") == 0);
    CHECK(strcmp(a.series_uid, "1.2.3.4") == 0);
    /* ISO_IR 100 text reaches the index as UTF-8 */
    CHECK(strcmp(a.patient_name, "M\xc3\xbcller^J\xc3\xb6rg") == 0);
    if (strcmp(a.patient_name, "M\xc3\xbcller^J\xc3\xb6rg") != 0)
        fprintf(stderr, "patient name: %s\n", a.patient_name);
    unlink(path);

    /* a lying element length fails cleanly, without allocating it */
    size_t m = iso_dcm_meta_header(buf, sizeof buf, cls, inst, "1.2.840.10008.1.2.1", "CT1");
    m += el(buf + m, 0x0008, 0x0018, "UI", inst, 0);
    m += el(buf + m, 0x0010, 0x0020, "LO", "X", ' ');
    buf[m - 2] = 0xff; /* length 0x7fff for a 2-byte value at the end of the file */
    buf[m - 1] = 0x7f;
    memcpy(buf + m - 2, (unsigned char[]){0xff, 0x7f}, 2);
    buf[m - 10 + 6] = 0xff;
    buf[m - 10 + 7] = 0x7f;
    memcpy(path, path_template, sizeof path);
    fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, m) == (ssize_t)m);
    close(fd);
    iso_err e2 = {0};
    CHECK(iso_dcm_read_attrs(path, &a, &e2) == ISO_EDICOM);
    unlink(path);
    CHECK(iso_dcm_read_attrs("/nonexistent/file.dcm", &a, &e2) == ISO_EDICOM);

    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2"));
    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2.4.90"));
    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2.5"));
    CHECK(!iso_dcm_ts_supported("1.2.3.4"));
    CHECK(!iso_dcm_ts_supported(NULL));
    return CHECK_DONE();
}
