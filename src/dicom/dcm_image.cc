/* dcm_image.cc — images for reconstruction: the geometry of every frame and
 * its pixels as modality values.
 *
 * Geometry comes from the top level of classic single-frame images, or from
 * the functional groups of enhanced multi-frame objects (a per-frame item
 * first, then the shared one).  Pixels: uncompressed and deflated data sets
 * are read as they are; JPEG, JPEG-LS and RLE are decompressed in memory by
 * DCMTK's registered codecs (chooseRepresentation); DCMTK 3.6.7 has no JPEG
 * 2000 codec, so those frames are decoded with OpenJPEG, one frame's
 * fragments at a time.  Stored values are masked to Bits Stored, sign
 * extended for Pixel Representation 1, then scaled by Rescale Slope and
 * Intercept (the Modality LUT of CT; identity where absent).
 */
#include "dicom/dcm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"

#include <openjpeg.h>

static std::once_flag codecs_once;

static void register_codecs()
{
    std::call_once(codecs_once, [] {
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

static void get_str(DcmItem *it, const DcmTagKey &tag, char *out, size_t outsz)
{
    out[0] = '\0';
    if (it != NULL)
        iso_dcm_copy_str(it, tag, out, outsz);
}

/* Reads n decimal values of tag from it; returns 1 if all n are there. */
static int get_doubles(DcmItem *it, const DcmTagKey &tag, double *out, int n)
{
    if (it == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        Float64 v;
        if (it->findAndGetFloat64(tag, v, (unsigned long)i).bad() || !isfinite(v))
            return 0;
        out[i] = v;
    }
    return 1;
}

static DcmItem *seq_item(DcmItem *it, const DcmTagKey &tag, unsigned long idx = 0)
{
    DcmItem *out = NULL;
    if (it == NULL || it->findAndGetSequenceItem(tag, out, (signed long)idx).bad())
        return NULL;
    return out;
}

/* Fills the plane from one item: the data set itself (classic objects) or a
 * functional group item, where each attribute sits in its own macro. */
static void plane_from(DcmItem *it, int functional, iso_dcm_plane *p)
{
    DcmItem *pos = functional ? seq_item(it, DCM_PlanePositionSequence) : it;
    DcmItem *ori = functional ? seq_item(it, DCM_PlaneOrientationSequence) : it;
    DcmItem *mea = functional ? seq_item(it, DCM_PixelMeasuresSequence) : it;
    DcmItem *pvt = functional ? seq_item(it, DCM_PixelValueTransformationSequence) : it;
    if (!p->has_position && get_doubles(pos, DCM_ImagePositionPatient, p->position, 3))
        p->has_position = 1;
    if (!p->has_orientation && get_doubles(ori, DCM_ImageOrientationPatient, p->orientation, 6))
        p->has_orientation = 1;
    if (!p->has_spacing && get_doubles(mea, DCM_PixelSpacing, p->spacing, 2))
        p->has_spacing = 1;
    if (p->thickness == 0)
        get_doubles(mea, DCM_SliceThickness, &p->thickness, 1);
    double s, i;
    if (isnan(p->slope) && get_doubles(pvt, DCM_RescaleSlope, &s, 1))
        p->slope = s;
    if (isnan(p->intercept) && get_doubles(pvt, DCM_RescaleIntercept, &i, 1))
        p->intercept = i;
}

/* A value as text, all of its values '\'-joined (numbers as DCMTK prints
 * them); empty when absent. */
static void get_text(DcmItem *it, const DcmTagKey &tag, char *out, size_t size)
{
    out[0] = '\0';
    OFString v;
    if (it != NULL && it->findAndGetOFStringArray(tag, v).good())
        snprintf(out, size, "%s", v.c_str());
}

/* Values 3 and 4 of Image Type / Frame Type (what the pixels are: M, P,
 * R, I, FIELD_MAP, ...). */
static void type_values(DcmItem *it, const DcmTagKey &tag, char *out, size_t size)
{
    out[0] = '\0';
    OFString v3, v4;
    if (it == NULL || it->findAndGetOFString(tag, v3, 2).bad())
        return;
    (void)it->findAndGetOFString(tag, v4, 3);
    snprintf(out, size, "%s%s%s", v3.c_str(), v4.empty() ? "" : "\\", v4.c_str());
}

/* Which Dimension Index Values components are positions within a stack
 * (In-Stack Position Number, Image Position (Patient)): not a volume's
 * identity.  Bit i set: component i is one. */
static unsigned spatial_dimensions(DcmItem *ds)
{
    unsigned mask = 0;
    DcmSequenceOfItems *seq = NULL;
    if (ds->findAndGetSequence(DCM_DimensionIndexSequence, seq).bad() || seq == NULL)
        return 0;
    for (unsigned long i = 0; i < seq->card() && i < 32; i++) {
        DcmTagKey ptr;
        DcmItem *it = seq->getItem(i);
        DcmElement *el = NULL;
        if (it == NULL || it->findAndGetElement(DCM_DimensionIndexPointer, el).bad() || el == NULL)
            continue;
        Uint16 g = 0, e = 0;
        if (el->getUint16(g, 0).good() && el->getUint16(e, 1).good() &&
            ((g == 0x0020 && e == 0x9057) || (g == 0x0020 && e == 0x0032)))
            mask |= 1u << i;
    }
    return mask;
}

/* The volume keys of one frame: the functional group items first (frame,
 * then shared), the classic attributes of the data set last. */
static void frame_keys(DcmItem *ds, DcmItem *frame, DcmItem *shared, unsigned spatial,
                       iso_dcm_frame_keys *k)
{
    DcmItem *groups[2] = {frame, shared};
    for (int g = 0; g < 2; g++) {
        DcmItem *fg = groups[g];
        if (fg == NULL)
            continue;
        DcmItem *content = seq_item(fg, DCM_FrameContentSequence);
        if (content != NULL) {
            if (!k->dimension[0]) {
                const Uint32 *dims = NULL;
                unsigned long n = 0;
                if (content->findAndGetUint32Array(DCM_DimensionIndexValues, dims, &n).good() &&
                    dims != NULL) {
                    size_t used = 0;
                    for (unsigned long i = 0; i < n && used + 12 < sizeof k->dimension; i++)
                        if (i >= 32 || !(spatial & (1u << i)))
                            used += (size_t)snprintf(k->dimension + used,
                                                     sizeof k->dimension - used, "%s%u",
                                                     used ? "\\" : "", (unsigned)dims[i]);
                }
            }
            if (!k->stack[0])
                get_text(content, DCM_StackID, k->stack, sizeof k->stack);
            if (!k->temporal[0])
                get_text(content, DCM_TemporalPositionIndex, k->temporal, sizeof k->temporal);
        }
        if (!k->echo[0])
            get_text(seq_item(fg, DCM_MREchoSequence), DCM_EffectiveEchoTime, k->echo,
                     sizeof k->echo);
        if (!k->image_type[0])
            type_values(seq_item(fg, DCM_MRImageFrameTypeSequence), DCM_FrameType, k->image_type,
                        sizeof k->image_type);
        if (!k->image_type[0])
            type_values(seq_item(fg, DCM_CTImageFrameTypeSequence), DCM_FrameType, k->image_type,
                        sizeof k->image_type);
        DcmItem *dif = seq_item(fg, DCM_MRDiffusionSequence);
        if (!k->diffusion[0] && dif != NULL) {
            char b[32], dir[64];
            get_text(dif, DCM_DiffusionBValue, b, sizeof b);
            get_text(seq_item(dif, DCM_DiffusionGradientDirectionSequence),
                     DCM_DiffusionGradientOrientation, dir, sizeof dir);
            snprintf(k->diffusion, sizeof k->diffusion, "%s/%s", b, dir);
        }
        if (!k->trigger[0])
            get_text(seq_item(fg, DCM_CardiacSynchronizationSequence),
                     DCM_NominalCardiacTriggerDelayTime, k->trigger, sizeof k->trigger);
        if (!k->phase[0])
            get_text(seq_item(fg, DCM_ContrastBolusUsageSequence), DCM_ContrastBolusAgentPhase,
                     k->phase, sizeof k->phase);
    }
    /* classic objects, and what an enhanced one leaves out */
    if (!k->temporal[0])
        get_text(ds, DCM_TemporalPositionIdentifier, k->temporal, sizeof k->temporal);
    if (!k->echo[0])
        get_text(ds, DCM_EchoNumbers, k->echo, sizeof k->echo);
    if (!k->echo[0])
        get_text(ds, DCM_EchoTime, k->echo, sizeof k->echo);
    if (!k->image_type[0])
        type_values(ds, DCM_ImageType, k->image_type, sizeof k->image_type);
    get_text(ds, DCM_AcquisitionNumber, k->acquisition, sizeof k->acquisition);
    if (!k->diffusion[0]) {
        char b[32] = "", dir[64] = "";
        get_text(ds, DCM_DiffusionBValue, b, sizeof b);
        get_text(ds, DCM_DiffusionGradientOrientation, dir, sizeof dir);
        if (b[0] || dir[0])
            snprintf(k->diffusion, sizeof k->diffusion, "%s/%s", b, dir);
    }
    if (!k->trigger[0])
        get_text(ds, DCM_TriggerTime, k->trigger, sizeof k->trigger);
    if (!k->phase[0])
        get_text(ds, DCM_ContrastBolusAgentPhase, k->phase, sizeof k->phase);
}

extern "C" void iso_dcm_image_info_free(iso_dcm_image_info *info)
{
    if (info != NULL) {
        free(info->planes);
        info->planes = NULL;
        free(info->lut);
        info->lut = NULL;
    }
}

/* Reads a Modality LUT Sequence item: LUT Descriptor (entries, 0 meaning
 * 65536; first stored value mapped; bits) and LUT Data. */
static iso_code read_modality_lut(DcmItem *ds, iso_dcm_image_info *info, iso_err *err)
{
    DcmItem *it = seq_item(ds, DCM_ModalityLUTSequence);
    if (it == NULL)
        return ISO_OK;
    Uint16 n16 = 0, first16 = 0;
    if (it->findAndGetUint16(DCM_LUTDescriptor, n16, 0).bad() ||
        it->findAndGetUint16(DCM_LUTDescriptor, first16, 1).bad())
        return iso_fail(err, ISO_EREFUSED, "Modality LUT Sequence without a usable LUT Descriptor");
    long n = n16 == 0 ? 65536 : n16;
    /* the first mapped value is signed when the pixels are */
    long first = info->pixel_representation ? (long)(Sint16)first16 : (long)first16;
    const Uint16 *data = NULL;
    unsigned long count = 0;
    if (it->findAndGetUint16Array(DCM_LUTData, data, &count).bad() || data == NULL ||
        (long)count < n)
        return iso_fail(err, ISO_EREFUSED, "Modality LUT Sequence with %lu of %ld LUT entries",
                        count, n);
    info->lut = (uint16_t *)malloc((size_t)n * sizeof *info->lut);
    if (info->lut == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for a Modality LUT");
    memcpy(info->lut, data, (size_t)n * sizeof *info->lut);
    info->lut_n = n;
    info->lut_first = first;
    return ISO_OK;
}

/* Loads a stored file: nesting scanned and a deflated data set inflated
 * under the caps first (src must outlive ff: large values load lazily). */
enum : unsigned long long { ISO_MAX_DECODED = 4ull << 30 }; /* bytes of decoded pixels */

static iso_code load(const char *path, IsoParsePath &src, DcmFileFormat &ff, Uint32 max_read,
                     iso_err *err)
{
    if (src.prepare(path, err) != ISO_OK)
        return err->code;
    OFCondition c = ff.loadFile(src.get(), EXS_Unknown, EGL_noChange, max_read, ERM_autoDetect);
    if (c.bad())
        return iso_fail(err, ISO_EDICOM, "cannot parse %s: %s", path, c.text());
    return ISO_OK;
}

extern "C" iso_code iso_dcm_read_image_info(const char *path, iso_dcm_image_info *info,
                                            iso_err *err)
{
    memset(info, 0, sizeof *info);
    IsoParsePath src;
    DcmFileFormat ff;
    /* Large values (pixel data) stay in the file: this is the cheap pass. */
    if (load(path, src, ff, 4096, err) != ISO_OK)
        return err->code;
    DcmDataset *ds = ff.getDataset();
    DcmMetaInfo *meta = ff.getMetaInfo();
    get_str(meta, DCM_TransferSyntaxUID, info->transfer_syntax, sizeof info->transfer_syntax);
    if (info->transfer_syntax[0] == '\0') {
        DcmXfer x(ds->getOriginalXfer());
        snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", x.getXferID());
    }
    get_str(ds, DCM_SOPClassUID, info->sop_class_uid, sizeof info->sop_class_uid);
    get_str(ds, DCM_SOPInstanceUID, info->sop_instance_uid, sizeof info->sop_instance_uid);
    get_str(ds, DCM_StudyInstanceUID, info->study_uid, sizeof info->study_uid);
    get_str(ds, DCM_SeriesInstanceUID, info->series_uid, sizeof info->series_uid);
    get_str(ds, DCM_FrameOfReferenceUID, info->frame_of_reference_uid,
            sizeof info->frame_of_reference_uid);
    get_str(ds, DCM_Modality, info->modality, sizeof info->modality);
    get_str(ds, DCM_ImageType, info->image_type, sizeof info->image_type);
    get_str(ds, DCM_PhotometricInterpretation, info->photometric, sizeof info->photometric);
    Uint16 u;
    info->rows = ds->findAndGetUint16(DCM_Rows, u).good() ? u : 0;
    info->cols = ds->findAndGetUint16(DCM_Columns, u).good() ? u : 0;
    info->samples_per_pixel = ds->findAndGetUint16(DCM_SamplesPerPixel, u).good() ? u : 1;
    info->bits_allocated = ds->findAndGetUint16(DCM_BitsAllocated, u).good() ? u : 0;
    info->bits_stored = ds->findAndGetUint16(DCM_BitsStored, u).good() ? u : info->bits_allocated;
    info->high_bit = ds->findAndGetUint16(DCM_HighBit, u).good() ? u : info->bits_stored - 1;
    info->pixel_representation = ds->findAndGetUint16(DCM_PixelRepresentation, u).good() ? u : 0;
    info->has_pixel_data = ds->tagExists(DCM_PixelData);
    Sint32 inst;
    info->instance_number = ds->findAndGetSint32(DCM_InstanceNumber, inst).good() ? inst : 0;
    Sint32 nf = 1;
    OFString nfs;
    if (ds->findAndGetOFString(DCM_NumberOfFrames, nfs).good())
        nf = atoi(nfs.c_str());
    if (nf < 1 || nf > 100000)
        return iso_fail(err, ISO_EDICOM, "%s: Number of Frames %d out of range", path, (int)nf);
    info->frames = (int)nf;
    info->planes = (iso_dcm_plane *)calloc((size_t)nf, sizeof *info->planes);
    if (info->planes == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for %d frames", (int)nf);
    if (read_modality_lut(ds, info, err) != ISO_OK)
        return err->code;
    DcmItem *shared = seq_item(ds, DCM_SharedFunctionalGroupsSequence);
    int enhanced = shared != NULL || ds->tagExists(DCM_PerFrameFunctionalGroupsSequence);
    unsigned spatial = enhanced ? spatial_dimensions(ds) : 0;
    /* Siemens mosaics: (0019,100A) Number Of Images In Mosaic, in the
     * SIEMENS MR HEADER private block, or MOSAIC in Image Type */
    OFString creator;
    Uint16 mosaic_n = 0;
    if (ds->findAndGetOFString(DcmTagKey(0x0019, 0x0010), creator).good() &&
        creator == "SIEMENS MR HEADER" &&
        ds->findAndGetUint16(DcmTagKey(0x0019, 0x100A), mosaic_n).good() && mosaic_n > 1)
        info->mosaic = mosaic_n;
    else if (strstr(info->image_type, "MOSAIC") != NULL)
        info->mosaic = 1;
    for (int f = 0; f < nf; f++) {
        iso_dcm_plane *p = &info->planes[f];
        p->slope = NAN;
        p->intercept = NAN;
        DcmItem *frame = enhanced ? seq_item(ds, DCM_PerFrameFunctionalGroupsSequence,
                                             (unsigned long)f)
                                  : NULL;
        if (enhanced) {
            plane_from(frame, 1, p);
            plane_from(shared, 1, p);
        }
        plane_from(ds, 0, p); /* classic, or top-level fall-back */
        frame_keys(ds, frame, enhanced ? shared : NULL, spatial, &p->keys);
        if (isnan(p->slope) || p->slope == 0)
            p->slope = 1;
        if (isnan(p->intercept))
            p->intercept = 0;
    }
    return ISO_OK;
}

/* ---- JPEG 2000 through OpenJPEG ---- */

struct mem_stream {
    const Uint8 *data;
    size_t size, pos;
};

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user)
{
    mem_stream *m = (mem_stream *)user;
    if (m->pos >= m->size)
        return (OPJ_SIZE_T)-1;
    size_t k = m->size - m->pos < n ? m->size - m->pos : n;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    mem_stream *m = (mem_stream *)user;
    if (n < 0 || (size_t)n > m->size - m->pos)
        n = (OPJ_OFF_T)(m->size - m->pos);
    m->pos += (size_t)n;
    return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user)
{
    mem_stream *m = (mem_stream *)user;
    if (n < 0 || (size_t)n > m->size)
        return OPJ_FALSE;
    m->pos = (size_t)n;
    return OPJ_TRUE;
}

/* Decodes one J2K codestream (or JP2 file) into 32-bit signed samples. */
static iso_code j2k_decode(const Uint8 *data, size_t size, const iso_dcm_image_info *info,
                           std::vector<Sint32> &out, iso_err *err)
{
    OPJ_CODEC_FORMAT fmt = (size >= 4 && data[0] == 0xFF && data[1] == 0x4F) ? OPJ_CODEC_J2K
                                                                             : OPJ_CODEC_JP2;
    opj_codec_t *codec = opj_create_decompress(fmt);
    opj_stream_t *st = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_image_t *img = NULL;
    mem_stream m = {data, size, 0};
    iso_code rc = ISO_OK;
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (codec == NULL || st == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "cannot create a JPEG 2000 decoder");
        goto done;
    }
    opj_stream_set_user_data(st, &m, NULL);
    opj_stream_set_user_data_length(st, size);
    opj_stream_set_read_function(st, mem_read);
    opj_stream_set_skip_function(st, mem_skip);
    opj_stream_set_seek_function(st, mem_seek);
    if (!opj_setup_decoder(codec, &params) || !opj_read_header(st, codec, &img)) {
        rc = iso_fail(err, ISO_EDICOM, "JPEG 2000 frame header does not decode");
        goto done;
    }
    /* the codestream's size must be the header's before OpenJPEG allocates
     * and writes what the codestream declares */
    if (img->x1 <= img->x0 || img->y1 <= img->y0 || img->x1 - img->x0 != (OPJ_UINT32)info->cols ||
        img->y1 - img->y0 != (OPJ_UINT32)info->rows || img->numcomps < 1 || img->numcomps > 4) {
        rc = iso_fail(err, ISO_EDICOM, "JPEG 2000 frame declares %ux%u with %u components, the "
                      "header says %dx%d", img->x1 - img->x0, img->y1 - img->y0, img->numcomps,
                      info->cols, info->rows);
        goto done;
    }
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
        rc = iso_fail(err, ISO_EDICOM, "JPEG 2000 frame does not decode");
        goto done;
    }
    if (img->numcomps < 1 || img->comps[0].data == NULL || (int)img->comps[0].w != info->cols ||
        (int)img->comps[0].h != info->rows) {
        rc = iso_fail(err, ISO_EDICOM, "JPEG 2000 frame is %ux%u, the header says %dx%d",
                      img->numcomps ? img->comps[0].w : 0, img->numcomps ? img->comps[0].h : 0,
                      info->cols, info->rows);
        goto done;
    }
    out.assign(img->comps[0].data, img->comps[0].data + (size_t)info->rows * info->cols);
done:
    if (img != NULL)
        opj_image_destroy(img);
    if (st != NULL)
        opj_stream_destroy(st);
    if (codec != NULL)
        opj_destroy_codec(codec);
    return rc;
}

static bool is_j2k(const char *ts)
{
    return strcmp(ts, UID_JPEG2000LosslessOnlyTransferSyntax) == 0 ||
           strcmp(ts, UID_JPEG2000TransferSyntax) == 0 ||
           strcmp(ts, UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax) == 0 ||
           strcmp(ts, UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax) == 0;
}

/* Collects each frame's codestream from the encapsulated fragments: one
 * fragment per frame when their count equals the frame count, else the
 * Basic Offset Table, else (single frame) all fragments joined. */
static iso_code j2k_frames(DcmDataset *ds, const iso_dcm_image_info *info,
                           std::vector<std::vector<Uint8>> &frames, iso_err *err)
{
    DcmElement *el = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || el == NULL)
        return iso_fail(err, ISO_EDICOM, "no Pixel Data");
    DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
    DcmPixelSequence *seq = NULL;
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (pd->getEncapsulatedRepresentation(xfer, NULL, seq).bad() || seq == NULL)
        return iso_fail(err, ISO_EDICOM, "JPEG 2000 Pixel Data is not encapsulated");
    unsigned long n = seq->card();
    if (n < 2)
        return iso_fail(err, ISO_EDICOM, "JPEG 2000 Pixel Data has no fragments");
    std::vector<std::pair<Uint32, std::vector<Uint8>>> frags; /* (offset, bytes) */
    Uint32 offset = 0;
    for (unsigned long i = 1; i < n; i++) {
        DcmPixelItem *it = NULL;
        Uint8 *bytes = NULL;
        if (seq->getItem(it, i).bad() || it->getUint8Array(bytes).bad())
            return iso_fail(err, ISO_EDICOM, "unreadable JPEG 2000 fragment %lu", i);
        Uint32 len = it->getLength();
        frags.emplace_back(offset, std::vector<Uint8>(bytes, bytes + len));
        offset += len + 8;
    }
    frames.assign((size_t)info->frames, std::vector<Uint8>());
    if (frags.size() == (size_t)info->frames) {
        for (size_t i = 0; i < frags.size(); i++)
            frames[i] = std::move(frags[i].second);
        return ISO_OK;
    }
    /* The Basic Offset Table is peer data: it is used only if it has one
     * entry per frame, starts at 0, increases, and every entry is the
     * start of a fragment; otherwise a single frame takes all fragments
     * and more frames are refused.  Every frame then gets at least one
     * fragment, and no index comes from the table itself. */
    std::vector<Uint32> bot;
    DcmPixelItem *table = NULL;
    Uint8 *tb = NULL;
    if (seq->getItem(table, 0).good() && table->getLength() >= 4 && table->getUint8Array(tb).good()) {
        for (Uint32 k = 0; k + 4 <= table->getLength(); k += 4)
            bot.push_back((Uint32)tb[k] | (Uint32)tb[k + 1] << 8 | (Uint32)tb[k + 2] << 16 |
                          (Uint32)tb[k + 3] << 24);
    }
    if (bot.size() > 1 || info->frames > 1) {
        bool usable = bot.size() == (size_t)info->frames && bot[0] == 0;
        size_t next = 0; /* index into frags of the fragment that starts frame k */
        std::vector<size_t> first(bot.size(), 0);
        for (size_t k = 0; usable && k < bot.size(); k++) {
            if (k > 0 && bot[k] <= bot[k - 1])
                usable = false;
            while (usable && next < frags.size() && frags[next].first < bot[k])
                next++;
            if (usable && (next == frags.size() || frags[next].first != bot[k]))
                usable = false;
            if (usable)
                first[k] = next;
        }
        if (!usable)
            return iso_fail(err, ISO_EDICOM, "%zu JPEG 2000 fragments for %d frames and no usable "
                            "offset table (%zu entries)", frags.size(), info->frames, bot.size());
        for (size_t k = 0; k < bot.size(); k++) {
            size_t end = k + 1 < bot.size() ? first[k + 1] : frags.size();
            for (size_t i = first[k]; i < end; i++)
                frames[k].insert(frames[k].end(), frags[i].second.begin(), frags[i].second.end());
        }
        return ISO_OK;
    }
    for (auto &fr : frags) /* one frame in several fragments */
        frames[0].insert(frames[0].end(), fr.second.begin(), fr.second.end());
    return ISO_OK;
}

/* Turns one frame's raw samples into modality values at dst. */
template <typename T>
static void rescale_frame(const T *src, size_t n, const iso_dcm_image_info *info,
                          const iso_dcm_plane *p, void *dst, int dst_float, size_t dst_index)
{
    int shift = info->high_bit + 1 - info->bits_stored;
    if (shift < 0)
        shift = 0;
    int bits = info->bits_stored;
    Uint32 mask = bits >= 32 ? 0xFFFFFFFFu : ((1u << bits) - 1);
    Uint32 sign = bits >= 32 ? 0 : (1u << (bits - 1));
    double slope = p->slope, icpt = p->intercept;
    if (info->lut != NULL) {
        for (size_t i = 0; i < n; i++) {
            Uint32 raw = ((Uint32)src[i] >> shift) & mask;
            long v = info->pixel_representation && (raw & sign) ? (long)raw - (long)mask - 1
                                                                 : (long)raw;
            long at = v - info->lut_first;
            at = at < 0 ? 0 : at >= info->lut_n ? info->lut_n - 1 : at;
            if (dst_float)
                ((float *)dst)[dst_index + i] = info->lut[at];
            else
                ((int16_t *)dst)[dst_index + i] = (int16_t)info->lut[at];
        }
        return;
    }
    if (!dst_float && slope == 1 && icpt == floor(icpt)) {
        /* the CT case: integers all the way (the caller checked the range) */
        long off = (long)icpt;
        int16_t *o = (int16_t *)dst + dst_index;
        for (size_t i = 0; i < n; i++) {
            Uint32 raw = ((Uint32)src[i] >> shift) & mask;
            long v = info->pixel_representation && (raw & sign) ? (long)raw - (long)mask - 1
                                                                 : (long)raw;
            o[i] = (int16_t)(v + off);
        }
        return;
    }
    int identity = slope == 1 && icpt == 0;
    for (size_t i = 0; i < n; i++) {
        Uint32 raw = ((Uint32)src[i] >> shift) & mask;
        long v = info->pixel_representation && (raw & sign) ? (long)raw - (long)(mask) - 1
                                                             : (long)raw;
        double m = identity ? (double)v : v * slope + icpt;
        if (dst_float)
            ((float *)dst)[dst_index + i] = (float)m;
        else
            ((int16_t *)dst)[dst_index + i] = (int16_t)lrint(m);
    }
}

extern "C" iso_code iso_dcm_read_frames(const char *path, const iso_dcm_image_info *info,
                                        void *dst, int dst_float, iso_err *err)
{
    register_codecs();
    if (info->samples_per_pixel != 1 || (info->bits_allocated != 8 && info->bits_allocated != 16) ||
        info->bits_stored < 1 || info->bits_stored > info->bits_allocated)
        return iso_fail(err, ISO_EREFUSED,
                        "unsupported pixel format: %d samples, %d bits allocated, %d stored",
                        info->samples_per_pixel, info->bits_allocated, info->bits_stored);
    IsoParsePath src;
    DcmFileFormat ff;
    if (load(path, src, ff, DCM_MaxReadLength, err) != ISO_OK)
        return err->code;
    DcmDataset *ds = ff.getDataset();
    size_t frame_px = (size_t)info->rows * info->cols;
    /* Decoders allocate what the header declares: refuse absurd headers
     * before any of them does (the caller sized dst from the same). */
    if (info->rows < 1 || info->cols < 1 ||
        (double)frame_px * info->frames * (info->bits_allocated / 8) > (double)ISO_MAX_DECODED)
        return iso_fail(err, ISO_EREFUSED, "%s: %d frames of %dx%d exceed what is decoded",
                        path, info->frames, info->cols, info->rows);
    if (is_j2k(info->transfer_syntax)) {
        std::vector<std::vector<Uint8>> frames;
        if (j2k_frames(ds, info, frames, err) != ISO_OK)
            return err->code;
        std::vector<Sint32> px;
        for (int f = 0; f < info->frames; f++) {
            if (j2k_decode(frames[f].data(), frames[f].size(), info, px, err) != ISO_OK)
                return iso_fail(err, ISO_EDICOM, "%s frame %d", path, f + 1);
            /* OpenJPEG has applied the sign already; re-mask as stored. */
            rescale_frame(px.data(), frame_px, info, &info->planes[f], dst, dst_float,
                          (size_t)f * frame_px);
        }
        return ISO_OK;
    }
    if (DcmXfer(ds->getOriginalXfer()).isEncapsulated()) {
        OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, NULL);
        if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
            return iso_fail(err, ISO_EDICOM, "%s: cannot decompress %s: %s", path,
                            info->transfer_syntax, c.text());
    }
    DcmElement *el = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || el == NULL)
        return iso_fail(err, ISO_EDICOM, "%s: no Pixel Data", path);
    size_t need = frame_px * info->frames;
    if (info->bits_allocated == 16) {
        Uint16 *w = NULL;
        if (el->getUint16Array(w).bad() || w == NULL || el->getLength() / 2 < need)
            return iso_fail(err, ISO_EDICOM, "%s: Pixel Data shorter than %d frames of %dx%d",
                            path, info->frames, info->cols, info->rows);
        for (int f = 0; f < info->frames; f++)
            rescale_frame(w + (size_t)f * frame_px, frame_px, info, &info->planes[f], dst,
                          dst_float, (size_t)f * frame_px);
    } else {
        Uint8 *b = NULL;
        if (el->getUint8Array(b).bad() || b == NULL || el->getLength() < need)
            return iso_fail(err, ISO_EDICOM, "%s: Pixel Data shorter than %d frames of %dx%d",
                            path, info->frames, info->cols, info->rows);
        for (int f = 0; f < info->frames; f++)
            rescale_frame(b + (size_t)f * frame_px, frame_px, info, &info->planes[f], dst,
                          dst_float, (size_t)f * frame_px);
    }
    return ISO_OK;
}

extern "C" iso_code iso_dcm_read_rgb_preview(const char *path, int max_side, uint8_t **rgb,
                                             int *w, int *h, iso_err *err)
{
    *rgb = NULL;
    *w = *h = 0;
    register_codecs();
    IsoParsePath src;
    DcmFileFormat ff;
    if (load(path, src, ff, DCM_MaxReadLength, err) != ISO_OK)
        return err->code;
    DcmDataset *ds = ff.getDataset();
    Uint16 rows = 0, cols = 0, spp = 0, bits = 0, planar = 0;
    OFString photometric;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, cols);
    ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
    ds->findAndGetUint16(DCM_BitsAllocated, bits);
    ds->findAndGetUint16(DCM_PlanarConfiguration, planar);
    ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
    if (spp != 3 || bits != 8 || photometric != "RGB" || rows < 1 || cols < 1 || max_side < 1)
        return iso_fail(err, ISO_EREFUSED, "%s is not an 8-bit RGB image", path);
    if (DcmXfer(ds->getOriginalXfer()).isEncapsulated()) {
        OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, NULL);
        if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
            return iso_fail(err, ISO_EDICOM, "%s: cannot decompress: %s", path, c.text());
    }
    DcmElement *el = NULL;
    Uint8 *px = NULL;
    size_t frame = (size_t)rows * cols * 3;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || el == NULL ||
        el->getUint8Array(px).bad() || px == NULL || el->getLength() < frame)
        return iso_fail(err, ISO_EDICOM, "%s: Pixel Data shorter than one %ux%u RGB frame", path,
                        cols, rows);
    /* box filter: each output pixel averages the source pixels it covers */
    int step = ((rows > cols ? rows : cols) + max_side - 1) / max_side;
    if (step < 1)
        step = 1;
    int ow = cols / step, oh = rows / step;
    if (ow < 1 || oh < 1)
        return iso_fail(err, ISO_EREFUSED, "%s: %ux%u is too small to preview", path, cols, rows);
    uint8_t *out = (uint8_t *)malloc((size_t)ow * oh * 3);
    if (out == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    size_t plane = (size_t)rows * cols;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int c = 0; c < 3; c++) {
                unsigned sum = 0;
                for (int dy = 0; dy < step; dy++)
                    for (int dx = 0; dx < step; dx++) {
                        size_t p = (size_t)(y * step + dy) * cols + (size_t)(x * step + dx);
                        sum += planar ? px[c * plane + p] : px[p * 3 + c];
                    }
                out[((size_t)y * ow + x) * 3 + c] = (uint8_t)(sum / (unsigned)(step * step));
            }
    *rgb = out;
    *w = ow;
    *h = oh;
    return ISO_OK;
}
