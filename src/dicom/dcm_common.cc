/* dcm_common.cc — adapter pieces shared by SCP and SCU: start-up checks,
 * reading index attributes from a file or buffer, the Part 10 meta header,
 * the transfer syntaxes we store, and a transport layer that turns Nagle's
 * algorithm off on every socket DCMTK opens for us.
 *
 * No C++ exception leaves this file: DCMTK reports through OFCondition, and
 * allocation failures inside DCMTK abort the process as they would in C.
 */
#include "dicom/dcm_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcspchrs.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/dcmlayer.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/oflog/oflog.h"

#include "dicom/nesting.h"

/* Transfer syntaxes whose data sets we accept and store as received. */
static const char *const supported_ts[] = {
    UID_LittleEndianImplicitTransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax,
    UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG2MainProfileAtHighLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For2DVideoTransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For3DVideoTransferSyntax,
    UID_MPEG4StereoHighProfileLevel4_2TransferSyntax,
    UID_HEVCMainProfileLevel5_1TransferSyntax,
    UID_HEVCMain10ProfileLevel5_1TransferSyntax,
};

extern "C" int iso_dcm_ts_supported(const char *ts_uid)
{
    if (ts_uid == NULL)
        return 0;
    for (size_t i = 0; i < sizeof supported_ts / sizeof supported_ts[0]; i++)
        if (strcmp(ts_uid, supported_ts[i]) == 0)
            return 1;
    return 0;
}

extern "C" iso_code iso_dcm_init(iso_err *err)
{
    /* DCMTK logs through oflog; our own log lines say what matters. */
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    if (!dcmDataDict.isDictionaryLoaded())
        return iso_fail(err, ISO_EDICOM,
                        "DCMTK data dictionary not loaded (is libdcmtk's dicom.dic installed? "
                        "DCMDICTPATH=%s)",
                        getenv("DCMDICTPATH") ? getenv("DCMDICTPATH") : "(unset)");
    return ISO_OK;
}

void iso_dcm_copy_str(DcmItem *ds, const DcmTagKey &tag, char *out, size_t outsz)
{
    OFString v;
    out[0] = '\0';
    if (ds->findAndGetOFStringArray(tag, v).good()) {
        /* Trailing padding is not part of the value. */
        size_t n = v.length();
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
            n--;
        if (n >= outsz)
            n = outsz - 1;
        memcpy(out, v.c_str(), n);
        out[n] = '\0';
    }
}

void iso_dcm_fill_attrs(DcmItem *ds, iso_attrs *a)
{
    iso_dcm_copy_str(ds, DCM_SpecificCharacterSet, a->charset, sizeof a->charset);
    iso_dcm_copy_str(ds, DCM_SOPClassUID, a->sop_class_uid, sizeof a->sop_class_uid);
    iso_dcm_copy_str(ds, DCM_SOPInstanceUID, a->sop_instance_uid, sizeof a->sop_instance_uid);
    iso_dcm_copy_str(ds, DCM_StudyInstanceUID, a->study_uid, sizeof a->study_uid);
    iso_dcm_copy_str(ds, DCM_SeriesInstanceUID, a->series_uid, sizeof a->series_uid);
    iso_dcm_copy_str(ds, DCM_PatientID, a->patient_id, sizeof a->patient_id);
    iso_dcm_copy_str(ds, DCM_IssuerOfPatientID, a->issuer, sizeof a->issuer);
    iso_dcm_copy_str(ds, DCM_PatientName, a->patient_name, sizeof a->patient_name);
    iso_dcm_copy_str(ds, DCM_PatientBirthDate, a->birth_date, sizeof a->birth_date);
    iso_dcm_copy_str(ds, DCM_PatientSex, a->sex, sizeof a->sex);
    iso_dcm_copy_str(ds, DCM_StudyDate, a->study_date, sizeof a->study_date);
    iso_dcm_copy_str(ds, DCM_StudyTime, a->study_time, sizeof a->study_time);
    iso_dcm_copy_str(ds, DCM_AccessionNumber, a->accession, sizeof a->accession);
    iso_dcm_copy_str(ds, DCM_StudyID, a->study_id, sizeof a->study_id);
    iso_dcm_copy_str(ds, DCM_StudyDescription, a->study_description, sizeof a->study_description);
    iso_dcm_copy_str(ds, DCM_ReferringPhysicianName, a->referring_physician,
             sizeof a->referring_physician);
    iso_dcm_copy_str(ds, DCM_Modality, a->modality, sizeof a->modality);
    iso_dcm_copy_str(ds, DCM_SeriesNumber, a->series_number, sizeof a->series_number);
    iso_dcm_copy_str(ds, DCM_SeriesDescription, a->series_description, sizeof a->series_description);
    iso_dcm_copy_str(ds, DCM_BodyPartExamined, a->body_part, sizeof a->body_part);
    iso_dcm_copy_str(ds, DCM_Laterality, a->laterality, sizeof a->laterality);
    iso_dcm_copy_str(ds, DCM_PatientAge, a->patient_age, sizeof a->patient_age);
    iso_dcm_copy_str(ds, DCM_PatientSize, a->patient_size, sizeof a->patient_size);
    iso_dcm_copy_str(ds, DCM_PatientWeight, a->patient_weight, sizeof a->patient_weight);
    iso_dcm_copy_str(ds, DCM_InstanceNumber, a->instance_number, sizeof a->instance_number);
    iso_dcm_copy_str(ds, DCM_FrameOfReferenceUID, a->frame_of_reference_uid,
             sizeof a->frame_of_reference_uid);
    iso_dcm_copy_str(ds, DCM_BurnedInAnnotation, a->burned_in_annotation, sizeof a->burned_in_annotation);
    iso_dcm_copy_str(ds, DCM_Manufacturer, a->manufacturer, sizeof a->manufacturer);
    iso_dcm_copy_str(ds, DCM_ManufacturerModelName, a->model, sizeof a->model);
    iso_dcm_copy_str(ds, DCM_PatientIdentityRemoved, a->identity_removed, sizeof a->identity_removed);
    {
        OFString m;
        a->deidentification_method[0] = '\0';
        if (ds->findAndGetOFString(DCM_DeidentificationMethod, m, 0).good())
            snprintf(a->deidentification_method, sizeof a->deidentification_method, "%s",
                     m.c_str());
        a->anon_mark[0] = '\0';
        for (unsigned long i = 1; i < 32 && ds->findAndGetOFString(DCM_DeidentificationMethod, m, i).good(); i++)
            if (m.compare(0, 13, "isonode-mark ") == 0)
                snprintf(a->anon_mark, sizeof a->anon_mark, "%s", m.c_str() + 13);
    }
    Sint32 frames = 0;
    a->number_of_frames = ds->findAndGetSint32(DCM_NumberOfFrames, frames).good() ? frames : 1;
    Sint32 images = 0;
    a->images_in_acquisition =
        ds->findAndGetSint32(DCM_ImagesInAcquisition, images).good() && images > 0 ? images : 0;
    Float64 thickness = 0;
    a->slice_thickness =
        ds->findAndGetFloat64(DCM_SliceThickness, thickness).good() ? thickness : 0.0;
}

/* Index text is UTF-8.  Converting needs the whole data set in memory for
 * the few text elements only; pixel data stays on disk. */
void iso_dcm_to_utf8(DcmDataset *ds, const iso_attrs *a)
{
    if (a->charset[0] == '\0' || strcmp(a->charset, "ISO_IR 192") == 0 ||
        strcmp(a->charset, "ISO_IR 6") == 0)
        return;
    if (!DcmSpecificCharacterSet::isConversionAvailable())
        return;
    /* A failed conversion leaves the original bytes; the JSON writer
     * replaces what is not UTF-8. */
    (void)ds->convertToUTF8();
}

/* What the file meta group says, read by us: where the data set starts and
 * the three UIDs needed to parse it (DCMTK would parse the whole group). */
typedef struct part10_meta {
    long dataset_offset;
    char ts[65];
    char sop_class[65];
    char sop_instance[65];
} part10_meta;

/* Copies a UI value of len bytes at the file position into out, without
 * its padding. */
static bool read_uid(FILE *f, unsigned long len, char *out, size_t out_size)
{
    if (len >= out_size || fread(out, 1, len, f) != len)
        return false;
    out[len] = '\0';
    while (len > 0 && (out[len - 1] == '\0' || out[len - 1] == ' '))
        out[--len] = '\0';
    return true;
}

/* Scans the explicit VR little endian group 0002 after the preamble.
 * Returns false if the file does not start like Part 10. */
static bool scan_meta(FILE *f, part10_meta *m)
{
    memset(m, 0, sizeof *m);
    unsigned char h[12];
    if (fseek(f, 128, SEEK_SET) != 0 || fread(h, 1, 4, f) != 4 || memcmp(h, "DICM", 4) != 0)
        return false;
    for (;;) {
        long at = ftell(f);
        if (fread(h, 1, 8, f) != 8)
            return false;
        if (h[0] != 0x02 || h[1] != 0x00) {
            m->dataset_offset = at;
            return m->ts[0] != '\0';
        }
        bool long_form = (h[4] == 'O' || h[4] == 'S' || h[4] == 'U') &&
                         (h[5] == 'B' || h[5] == 'W' || h[5] == 'Q' || h[5] == 'N' ||
                          h[5] == 'T' || h[5] == 'C' || h[5] == 'R');
        unsigned long len = (unsigned long)h[6] | (unsigned long)h[7] << 8;
        if (long_form) {
            if (fread(h + 8, 1, 4, f) != 4)
                return false;
            len = (unsigned long)h[8] | (unsigned long)h[9] << 8 | (unsigned long)h[10] << 16 |
                  (unsigned long)h[11] << 24;
        }
        if (len > (1u << 20))
            return false;
        unsigned elem = (unsigned)h[2] | (unsigned)h[3] << 8;
        char *uid = elem == 0x0002 ? m->sop_class
                    : elem == 0x0003 ? m->sop_instance
                    : elem == 0x0010 ? m->ts
                                     : NULL;
        if (uid != NULL && len < sizeof m->ts) {
            if (!read_uid(f, len, uid, sizeof m->ts))
                return false;
        } else if (fseek(f, (long)len, SEEK_CUR) != 0) {
            return false;
        }
    }
}

/* ---- limits on what a parse may cost (set once at start-up) ---- */

static iso_dcm_limits limits = {32, 4096ull << 20, 200, ""};
static iso_path limits_tmp_dir;

extern "C" iso_code iso_dcm_set_limits(const iso_dcm_limits *l, iso_err *err)
{
    iso_path dir;
    if (iso_path_fmt(&dir, err, "%s", l->tmp_dir ? l->tmp_dir : "") != ISO_OK)
        return err->code;
    limits = *l;
    limits_tmp_dir = dir;
    limits.tmp_dir = limits_tmp_dir.s;
    return ISO_OK;
}

int iso_dcm_max_nesting(void) { return limits.max_nesting; }

const char *iso_dcm_tmp_dir(void)
{
    return limits.tmp_dir && limits.tmp_dir[0] ? limits.tmp_dir
           : getenv("TMPDIR")                  ? getenv("TMPDIR")
                                               : "/tmp";
}

FILE *iso_dcm_tmp_open(const char *prefix, iso_path *path, iso_err *err)
{
    if (iso_path_fmt(path, err, "%s/%s-XXXXXX", iso_dcm_tmp_dir(), prefix) != ISO_OK)
        return NULL;
    int fd = mkstemp(path->s);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (out == NULL) {
        if (fd >= 0) {
            close(fd);
            unlink(path->s);
        }
        iso_fail(err, ISO_EIO, "cannot create a temporary file in %s", iso_dcm_tmp_dir());
    }
    return out;
}

/* Inflates the data set of path (from dataset_offset) to out, or, with
 * out NULL, only counts and scans it: beyond cap bytes it stops with
 * ISO_ELIMIT, nested deeper than max_nesting with ISO_ENESTING. */
static iso_code inflate_pass(const char *path, long dataset_offset, FILE *out,
                             unsigned long long cap, iso_err *err)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return iso_fail(err, ISO_EDICOM, "cannot open %s", path);
    struct stat st;
    if (fstat(fileno(in), &st) != 0 || fseek(in, dataset_offset, SEEK_SET) != 0) {
        fclose(in);
        return iso_fail(err, ISO_EDICOM, "cannot parse %s: bad file meta information", path);
    }
    iso_nest *nest = out == NULL ? iso_nest_new(limits.max_nesting, 1, 1) : NULL;
    z_stream z;
    memset(&z, 0, sizeof z);
    iso_code rc = ISO_OK;
    if (out == NULL && nest == NULL)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
    else if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        rc = iso_fail(err, ISO_ENOMEM, "cannot start inflating");
    unsigned char ibuf[65536], obuf[65536];
    unsigned long long total = 0;
    int zr = Z_OK;
    while (rc == ISO_OK && zr != Z_STREAM_END) {
        z.avail_in = (uInt)fread(ibuf, 1, sizeof ibuf, in);
        z.next_in = ibuf;
        if (z.avail_in == 0)
            break; /* truncated stream: parse what there is */
        do {
            z.avail_out = sizeof obuf;
            z.next_out = obuf;
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
                rc = iso_fail(err, ISO_EDICOM, "cannot parse %s: deflated data set does not "
                              "inflate", path);
                break;
            }
            size_t have = sizeof obuf - z.avail_out;
            total += have;
            if (total > cap) {
                rc = iso_fail(err, ISO_ELIMIT, "deflated data set of %llu bytes inflates "
                              "beyond %llu bytes (max_inflate_ratio %ld, max_object_mb %llu): "
                              "refused as a decompression bomb", (unsigned long long)st.st_size,
                              cap, limits.inflate_ratio, limits.max_object_bytes >> 20);
                break;
            }
            if (have && nest != NULL)
                rc = iso_nest_feed(nest, obuf, have, err);
            if (have && out != NULL && fwrite(obuf, 1, have, out) != have)
                rc = iso_fail(err, ISO_EIO, "cannot write an inflated copy of %s", path);
        } while (rc == ISO_OK && z.avail_out == 0 && zr != Z_STREAM_END);
    }
    inflateEnd(&z);
    fclose(in);
    iso_nest_free(nest);
    return rc;
}

/* Deflated data sets are parsed from an inflated copy.  DCMTK cannot defer
 * loading large values from a deflate stream, so a few lying bytes could
 * make it allocate gigabytes; from a plain file it loads values lazily and
 * checks them against the file.  A first pass only counts and scans
 * nesting, so a decompression bomb is refused at the cap having cost CPU
 * only, neither memory nor disk; the copy (in our own tmp directory) is
 * written by a second pass.  The stored object stays as received. */
static iso_code inflate_copy(const char *path, const part10_meta *m, iso_path *out_path,
                             iso_err *err)
{
    out_path->s[0] = '\0';
    struct stat st;
    if (stat(path, &st) != 0)
        return iso_fail(err, ISO_EDICOM, "cannot open %s", path);
    unsigned long long cap = (unsigned long long)st.st_size * (unsigned long long)limits.inflate_ratio;
    if (cap < ISO_INFLATE_FLOOR)
        cap = ISO_INFLATE_FLOOR;
    if (cap > limits.max_object_bytes)
        cap = limits.max_object_bytes;
    if (inflate_pass(path, m->dataset_offset, NULL, cap, err) != ISO_OK)
        return err->code;
    iso_path tmp;
    FILE *out = iso_dcm_tmp_open("inflate", &tmp, err);
    if (out == NULL)
        return err->code;
    unsigned char meta_buf[1024];
    size_t n = iso_dcm_meta_header(meta_buf, sizeof meta_buf, m->sop_class, m->sop_instance,
                                   UID_LittleEndianExplicitTransferSyntax, NULL);
    iso_code rc = n > 0 && fwrite(meta_buf, 1, n, out) == n
                      ? ISO_OK
                      : iso_fail(err, ISO_EIO, "cannot write to %s", tmp.s);
    if (rc == ISO_OK)
        rc = inflate_pass(path, m->dataset_offset, out, cap, err);
    if (fclose(out) != 0 && rc == ISO_OK)
        rc = iso_fail(err, ISO_EIO, "cannot write to %s", tmp.s);
    if (rc != ISO_OK) {
        unlink(tmp.s);
        return rc;
    }
    *out_path = tmp;
    return ISO_OK;
}

/* Reads the meta group of path into m. */
static iso_code read_meta(const char *path, part10_meta *m, iso_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return iso_fail(err, ISO_EDICOM, "cannot open %s", path);
    bool meta_ok = scan_meta(f, m);
    fclose(f);
    if (!meta_ok)
        return iso_fail(err, ISO_EDICOM, "cannot parse %s: no valid file meta information", path);
    return ISO_OK;
}

/* iso_dcm_prepare_file, the meta group already read. */
static iso_code prepare_with_meta(const char *path, const part10_meta *m, iso_path *tmp,
                                  iso_err *err)
{
    tmp->s[0] = '\0';
    if (strcmp(m->ts, UID_DeflatedExplicitVRLittleEndianTransferSyntax) == 0)
        return inflate_copy(path, m, tmp, err);
    return iso_nest_check_file(path, limits.max_nesting, err);
}

iso_code iso_dcm_prepare_file(const char *path, iso_path *tmp, iso_err *err)
{
    tmp->s[0] = '\0';
    part10_meta m;
    if (read_meta(path, &m, err) != ISO_OK)
        return err->code;
    return prepare_with_meta(path, &m, tmp, err);
}

extern "C" iso_code iso_dcm_read_attrs(const char *path, iso_attrs *a, iso_err *err)
{
    memset(a, 0, sizeof *a);
    /* The transfer syntax decides how to parse: read it from the meta
     * group ourselves rather than parsing the file twice. */
    part10_meta m;
    if (read_meta(path, &m, err) != ISO_OK)
        return err->code;
    snprintf(a->transfer_syntax, sizeof a->transfer_syntax, "%s", m.ts);
    snprintf(a->meta_sop_class_uid, sizeof a->meta_sop_class_uid, "%s", m.sop_class);
    snprintf(a->meta_sop_instance_uid, sizeof a->meta_sop_instance_uid, "%s", m.sop_instance);
    iso_path inflated;
    if (prepare_with_meta(path, &m, &inflated, err) != ISO_OK)
        return err->code;
    const char *parse_path = inflated.s[0] ? inflated.s : path;
    /* No value can be longer than the file holding it; text may grow by
     * a factor of up to 3 when converted to UTF-8. */
    struct stat st;
    size_t cap = stat(parse_path, &st) == 0 ? (size_t)st.st_size * 4 + (1u << 20) : (1u << 20);
    IsoAllocCap alloc_cap(cap);
    DcmFileFormat full;
    OFCondition c = full.loadFile(parse_path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
    if (inflated.s[0] != '\0')
        unlink(inflated.s);
    if (c.bad())
        return iso_fail(err, ISO_EDICOM, "cannot parse %s: %s", path, c.text());
    DcmDataset *ds = full.getDataset();
    iso_dcm_copy_str(ds, DCM_SpecificCharacterSet, a->charset, sizeof a->charset);
    iso_dcm_to_utf8(ds, a);
    iso_dcm_fill_attrs(ds, a);
    return ISO_OK;
}

/* Appends one explicit VR little endian element of group 0002. */
static size_t put_elem(unsigned char *p, uint16_t elem, const char vr[2], const void *val,
                       size_t len, unsigned char pad)
{
    size_t padded = len + (len & 1);
    size_t n = 0;
    p[n++] = 0x02;
    p[n++] = 0x00;
    p[n++] = (unsigned char)(elem & 0xff);
    p[n++] = (unsigned char)(elem >> 8);
    p[n++] = (unsigned char)vr[0];
    p[n++] = (unsigned char)vr[1];
    if (vr[0] == 'O' && vr[1] == 'B') {
        p[n++] = 0;
        p[n++] = 0;
        p[n++] = (unsigned char)(padded & 0xff);
        p[n++] = (unsigned char)((padded >> 8) & 0xff);
        p[n++] = (unsigned char)((padded >> 16) & 0xff);
        p[n++] = (unsigned char)((padded >> 24) & 0xff);
    } else {
        p[n++] = (unsigned char)(padded & 0xff);
        p[n++] = (unsigned char)(padded >> 8);
    }
    memcpy(p + n, val, len);
    n += len;
    if (len & 1)
        p[n++] = pad;
    return n;
}

extern "C" size_t iso_dcm_meta_header(unsigned char *buf, size_t bufsz, const char *sop_class,
                                      const char *sop_instance, const char *ts_uid,
                                      const char *source_ae)
{
    /* 132 + group length (12) + the rest: each element <= 8 + 64 + 1. */
    if (bufsz < 132 + 12 + 12 + 6 * 80)
        return 0;
    memset(buf, 0, 128);
    memcpy(buf + 128, "DICM", 4);
    unsigned char *g = buf + 132 + 12; /* elements after the group length */
    size_t n = 0;
    static const unsigned char version[2] = {0x00, 0x01};
    n += put_elem(g + n, 0x0001, "OB", version, 2, 0);
    n += put_elem(g + n, 0x0002, "UI", sop_class, strlen(sop_class), 0);
    n += put_elem(g + n, 0x0003, "UI", sop_instance, strlen(sop_instance), 0);
    n += put_elem(g + n, 0x0010, "UI", ts_uid, strlen(ts_uid), 0);
    n += put_elem(g + n, 0x0012, "UI", ISO_IMPLEMENTATION_CLASS_UID,
                  strlen(ISO_IMPLEMENTATION_CLASS_UID), 0);
    n += put_elem(g + n, 0x0013, "SH", ISO_IMPLEMENTATION_VERSION,
                  strlen(ISO_IMPLEMENTATION_VERSION), ' ');
    if (source_ae != NULL && source_ae[0] != '\0')
        n += put_elem(g + n, 0x0016, "AE", source_ae, strlen(source_ae), ' ');
    unsigned char gl[4] = {(unsigned char)(n & 0xff), (unsigned char)((n >> 8) & 0xff),
                           (unsigned char)((n >> 16) & 0xff), (unsigned char)(n >> 24)};
    put_elem(buf + 132, 0x0000, "UL", gl, 4, 0);
    return 132 + 12 + n;
}
