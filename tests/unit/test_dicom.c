/* test_dicom.c — the adapter's non-network pieces: the Part 10 meta header
 * we write is parsed back by DCMTK with the values we put in; data sets
 * parse from memory; a value whose declared length is far beyond the bytes
 * that hold it is refused without being allocated (the allocation cap:
 * glibc's peak of mmap'd bytes must not grow by it); transfer syntax
 * support matches the accepted list. */
#include <fcntl.h>
#include <malloc.h>
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

/* glibc's peak of bytes ever mmap'd at once (malloc_stats' "max mmap
 * bytes"): every large allocation is an mmap, touched or not. */
static long long max_mmap_bytes(void)
{
    char path[] = "/tmp/isonode-test-mstats-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    if (fd < 0 || saved < 0)
        return -1;
    fflush(stderr);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    long long got = -1;
    FILE *f = fopen(path, "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "max mmap bytes", 14) == 0)
            got = atoll(strchr(line, '=') + 1);
    if (f)
        fclose(f);
    unlink(path);
    return got;
}

/* An object whose last element declares 1 GiB and holds 16 bytes: parsed
 * from memory (where DCMTK allocates a value at its declared length before
 * it knows the bytes exist) and from a file, it is refused, and the peak of
 * mmap'd memory does not grow by anything near 1 GiB. */
static void test_lying_length(const char *cls, const char *inst)
{
    unsigned char buf[4096];
    size_t m = iso_dcm_meta_header(buf, sizeof buf, cls, inst, "1.2.840.10008.1.2.1", "CT1");
    m += el(buf + m, 0x0008, 0x0016, "UI", cls, 0);
    m += el(buf + m, 0x0008, 0x0018, "UI", inst, 0);
    /* (0042,0011) OB, reserved 2 bytes, then a 4-byte length of 1 GiB */
    static const unsigned char big[12] = {0x42, 0x00, 0x11, 0x00, 'O', 'B', 0, 0,
                                          0x00, 0x00, 0x00, 0x40};
    memcpy(buf + m, big, sizeof big);
    m += sizeof big;
    memset(buf + m, 0xab, 16);
    m += 16;
    long long before = max_mmap_bytes();
    CHECK(before >= 0);
    iso_err e = {0};
    iso_dcm_parsed *p = NULL;
    CHECK(iso_dcm_parse_buffer(buf, m, &p, &e) != ISO_OK && p == NULL);
    char path[] = "/tmp/isonode-test-dicom-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, m) == (ssize_t)m);
    close(fd);
    iso_attrs a;
    iso_err e2 = {0};
    CHECK(iso_dcm_read_attrs(path, &a, &e2) == ISO_EDICOM);
    unlink(path);
    long long after = max_mmap_bytes();
    if (after - before >= (64LL << 20))
        fprintf(stderr, "a 1 GiB declared length was allocated: max mmap %lld -> %lld bytes\n",
                before, after);
    CHECK(after >= 0 && after - before < (64LL << 20));
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
    test_lying_length(cls, inst);
    iso_err e2 = {0};
    CHECK(iso_dcm_read_attrs("/nonexistent/file.dcm", &a, &e2) == ISO_EDICOM);

    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2"));
    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2.4.90"));
    CHECK(iso_dcm_ts_supported("1.2.840.10008.1.2.5"));
    CHECK(!iso_dcm_ts_supported("1.2.3.4"));
    CHECK(!iso_dcm_ts_supported(NULL));
    return CHECK_DONE();
}
