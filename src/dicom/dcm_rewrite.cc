/* dcm_rewrite.cc — walks a data set element by element, depth first into
 * every sequence item, applies the caller's decisions (keep, remove, empty,
 * replace, recurse) and writes the result as a new Part 10 object.  The
 * policy is C (src/anon); this file only knows DCMTK.
 *
 * Text values are handed over as stored: no character set conversion, so a
 * kept value keeps its bytes and a replaced one is whatever (ASCII) text the
 * policy chose.  The data set is written in its original transfer syntax;
 * encapsulated pixel data is copied as it is.
 */
#include "dicom/dcm_internal.h"

#include "dcmtk/dcmdata/dcwcache.h"
#include "dicom/nesting.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <new>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcistrmf.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcspchrs.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvrui.h"
#include "dcmtk/dcmdata/dcxfer.h"

struct iso_item_view {
    DcmItem *item;
};

extern "C" int iso_item_get(const iso_item_view *v, uint16_t group, uint16_t element, char *out,
                            size_t out_size)
{
    OFString s;
    if (v == NULL || v->item == NULL ||
        v->item->findAndGetOFStringArray(DcmTagKey(group, element), s, OFFalse).bad())
        return 0;
    size_t n = s.size();
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        n--;
    snprintf(out, out_size, "%.*s", (int)n, s.c_str());
    return 1;
}

static bool is_text_vr(DcmEVR vr)
{
    switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT:
    case EVR_IS: case EVR_LO: case EVR_LT: case EVR_PN: case EVR_SH: case EVR_ST:
    case EVR_TM: case EVR_UC: case EVR_UI: case EVR_UR: case EVR_UT:
        return true;
    default:
        return false;
    }
}

/* The private creator reserving a private element's block, or "". */
static OFString creator_of(DcmItem *item, const DcmTag &tag)
{
    OFString c;
    Uint16 e = tag.getElement();
    if (!tag.isPrivate() || e < 0x1000)
        return c;
    (void)item->findAndGetOFString(DcmTagKey(tag.getGroup(), (Uint16)(e >> 8)), c);
    return c;
}

struct decision {
    DcmElement *el;
    iso_el_action action;
    std::string text;
};

/* Text VRs whose bytes follow the Specific Character Set (PS3.5 6.1.2.3). */
static bool charset_vr(DcmEVR vr)
{
    return vr == EVR_SH || vr == EVR_LO || vr == EVR_ST || vr == EVR_LT || vr == EVR_UT ||
           vr == EVR_PN || vr == EVR_UC;
}

/* How text values are decoded to UTF-8 for the caller's comparisons. */
typedef struct text_decoder {
    DcmSpecificCharacterSet *conv; /* NULL: nothing to convert */
    bool usable;                   /* false: a character set iconv cannot decode */
} text_decoder;

static iso_code walk(DcmItem *item, int depth, const iso_rewrite *rw, const text_decoder *dec,
                     iso_err *err)
{
    std::vector<decision> todo;
    iso_item_view view = {item};
    std::vector<char> buf(65536);
    /* nextInContainer walks the list; getElement(i) would seek from the
     * start each time (quadratic in the number of elements) */
    for (DcmObject *obj = item->nextInContainer(NULL); obj != NULL;
         obj = item->nextInContainer(obj)) {
        DcmElement *el = OFstatic_cast(DcmElement *, obj);
        DcmTag tag = el->getTag();
        /* (0002,xxxx) here is inside the data set (the meta header is a
         * separate item, rebuilt on write): the caller decides, like any
         * element */
        DcmEVR vr = tag.getEVR();
        OFString value;
        bool text = is_text_vr(vr) && el->getOFStringArray(value, OFFalse).good();
        if (text) {
            size_t n = value.size();
            while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\0'))
                n--;
            value.erase(n);
        }
        OFString creator = creator_of(item, tag);
        iso_el e;
        e.group = tag.getGroup();
        e.element = tag.getElement();
        const char *vrname = DcmVR(vr).getVRName();
        snprintf(e.vr, sizeof e.vr, "%s", vrname ? vrname : "UN");
        e.creator = creator.c_str();
        e.depth = depth;
        e.value = text ? value.c_str() : NULL;
        /* decoded for comparisons (a Latin-1 name against a UTF-8 one) */
        OFString decoded;
        e.utf8 = e.value;
        if (text && charset_vr(vr)) {
            bool ascii = true;
            for (size_t i = 0; i < value.size() && ascii; i++)
                ascii = (unsigned char)value[i] < 0x80 && value[i] != 0x1b;
            if (!ascii && !dec->usable)
                e.utf8 = NULL;
            else if (!ascii && dec->conv != NULL)
                e.utf8 = dec->conv->convertString(value, decoded).good() ? decoded.c_str() : NULL;
        }
        buf[0] = '\0';
        iso_el_action a = rw->decide(rw->user, &e, &view, buf.data(), buf.size());
        if (a == ISO_EL_KEEP)
            continue;
        todo.push_back({el, a, std::string(buf.data())});
    }
    for (auto &d : todo) {
        DcmTag tag = d.el->getTag();
        switch (d.action) {
        case ISO_EL_REMOVE: {
            DcmElement *gone = item->remove(d.el);
            delete gone;
            break;
        }
        case ISO_EL_EMPTY:
            if (d.el->ident() == EVR_SQ)
                OFstatic_cast(DcmSequenceOfItems *, d.el)->clear();
            else if (d.el->putString("").bad())
                return iso_fail(err, ISO_EDICOM, "cannot empty (%04x,%04x)", tag.getGroup(),
                                tag.getElement());
            break;
        case ISO_EL_REPLACE:
            if (d.el->putString(d.text.c_str()).bad())
                return iso_fail(err, ISO_EDICOM, "cannot set (%04x,%04x)", tag.getGroup(),
                                tag.getElement());
            break;
        case ISO_EL_RECURSE: {
            if (d.el->ident() != EVR_SQ)
                break;
            DcmSequenceOfItems *sq = OFstatic_cast(DcmSequenceOfItems *, d.el);
            for (unsigned long k = 0; k < sq->card(); k++)
                if (walk(sq->getItem(k), depth + 1, rw, dec, err) != ISO_OK)
                    return err->code;
            break;
        }
        case ISO_EL_KEEP:
            break;
        }
    }
    return ISO_OK;
}

/* Streams a data set through a buffer into the sink. */
static iso_code write_dataset(DcmDataset *ds, E_TransferSyntax xfer, const iso_store_sink *sink,
                              iso_err *err)
{
    enum { CHUNK = 256 << 10 };
    /* not a vector: zero-filling the buffer for every object showed up */
    std::unique_ptr<unsigned char[]> buf(new (std::nothrow) unsigned char[CHUNK]);
    if (!buf)
        return iso_fail(err, ISO_ENOMEM, "out of memory encoding a data set");
    DcmOutputBufferStream out(buf.get(), CHUNK);
    /* Large values of a file parse stay in the file (loaded lazily); the
     * write cache copies them through in blocks instead of loading each
     * whole, so a 250 MB object is rewritten in a few MB of memory. */
    DcmWriteCache wcache;
    ds->transferInit();
    OFCondition c = EC_Normal;
    do {
        c = ds->write(out, xfer, EET_ExplicitLength, &wcache);
        if (c.bad() && c != EC_StreamNotifyClient) {
            ds->transferEnd();
            return iso_fail(err, ISO_EDICOM, "cannot encode the data set: %s", c.text());
        }
        if (c == EC_Normal)
            out.flush();
        void *p = NULL;
        offile_off_t len = 0;
        out.flushBuffer(p, len);
        if (len > 0 && sink->write(sink->ctx, p, (size_t)len, err) != ISO_OK) {
            ds->transferEnd();
            return err->code;
        }
    } while (c == EC_StreamNotifyClient);
    ds->transferEnd();
    return ISO_OK;
}

struct iso_dcm_parsed {
    IsoParsePath source; /* a file parse: the file DCMTK reads lazily from */
    DcmFileFormat ff;    /* destroyed first (members go in reverse order) */
};

extern "C" void iso_dcm_parsed_free(iso_dcm_parsed *p) { delete p; }

extern "C" iso_code iso_dcm_parse_buffer(const void *buf, size_t len, iso_dcm_parsed **out,
                                         iso_err *err)
{
    *out = NULL;
    iso_dcm_parsed *p = new (std::nothrow) iso_dcm_parsed;
    if (p == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    /* nothing deeper than max_nesting reaches DCMTK's recursive parser */
    if (iso_nest_check_part10(buf, len, iso_dcm_max_nesting(), err) != ISO_OK) {
        delete p;
        return err->code;
    }
    /* no value can be longer than the object holding it */
    IsoAllocCap cap(len * 2 + (1u << 20));
    DcmInputBufferStream in;
    in.setBuffer(buf, (offile_off_t)len);
    in.setEos();
    p->ff.transferInit();
    OFCondition c = p->ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    p->ff.transferEnd();
    if (c.bad()) {
        delete p;
        return iso_fail(err, ISO_EDICOM, "data set cannot be parsed: %s", c.text());
    }
    *out = p;
    return ISO_OK;
}

extern "C" iso_code iso_dcm_parse_file(const char *path, iso_dcm_parsed **out, iso_err *err)
{
    *out = NULL;
    iso_dcm_parsed *p = new (std::nothrow) iso_dcm_parsed;
    if (p == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    if (p->source.prepare(path, err) != ISO_OK) {
        delete p;
        return err->code;
    }
    OFCondition c = p->ff.loadFile(p->source.get(), EXS_Unknown, EGL_noChange,
                                   DCM_MaxReadLength, ERM_autoDetect);
    if (c.bad()) {
        delete p;
        return iso_fail(err, ISO_EDICOM, "cannot parse %s: %s", path, c.text());
    }
    *out = p;
    return ISO_OK;
}

/* Text of one attribute converted to UTF-8 when the data set says which
 * character set it uses (a copy: the data set keeps its bytes). */
/* Converts field to UTF-8 into out; false if it cannot be. */
static bool convert_field(DcmSpecificCharacterSet *conv, const char *field, OFString &out)
{
    if (field[0] == '\0') {
        out.clear();
        return true;
    }
    return conv->convertString(OFString(field), out).good();
}

extern "C" void iso_dcm_parsed_attrs(iso_dcm_parsed *p, iso_attrs *a)
{
    memset(a, 0, sizeof *a);
    DcmDataset *ds = p->ff.getDataset();
    DcmMetaInfo *meta = p->ff.getMetaInfo();
    OFString v;
    if (meta->findAndGetOFString(DCM_TransferSyntaxUID, v).good())
        snprintf(a->transfer_syntax, sizeof a->transfer_syntax, "%s", v.c_str());
    if (meta->findAndGetOFString(DCM_MediaStorageSOPClassUID, v).good())
        snprintf(a->meta_sop_class_uid, sizeof a->meta_sop_class_uid, "%s", v.c_str());
    if (meta->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, v).good())
        snprintf(a->meta_sop_instance_uid, sizeof a->meta_sop_instance_uid, "%s", v.c_str());
    iso_dcm_fill_attrs(ds, a);
    if (a->charset[0] == '\0' || strcmp(a->charset, "ISO_IR 192") == 0 ||
        strcmp(a->charset, "ISO_IR 6") == 0 || !DcmSpecificCharacterSet::isConversionAvailable())
        return;
    /* All or nothing: either every text field is UTF-8 (charset says
     * ISO_IR 192) or every one keeps its bytes under the original charset
     * (some sets, e.g. ISO 2022 IR 87, iconv on Debian cannot decode) --
     * never a mix, never bytes under a set that does not describe them. */
    DcmSpecificCharacterSet conv;
    if (conv.selectCharacterSet(OFString(a->charset)).bad())
        return;
    struct {
        char *field;
        size_t size;
    } fields[] = {{a->patient_id, sizeof a->patient_id},
                  {a->issuer, sizeof a->issuer},
                  {a->patient_name, sizeof a->patient_name},
                  {a->accession, sizeof a->accession},
                  {a->study_id, sizeof a->study_id},
                  {a->study_description, sizeof a->study_description},
                  {a->referring_physician, sizeof a->referring_physician},
                  {a->series_description, sizeof a->series_description},
                  {a->body_part, sizeof a->body_part}};
    const size_t n = sizeof fields / sizeof fields[0];
    OFString out[sizeof fields / sizeof fields[0]];
    for (size_t i = 0; i < n; i++)
        if (!convert_field(&conv, fields[i].field, out[i]))
            return;
    for (size_t i = 0; i < n; i++)
        snprintf(fields[i].field, fields[i].size, "%s", out[i].c_str());
    snprintf(a->charset, sizeof a->charset, "ISO_IR 192");
}

/* Which bits of a 16-bit sample are kept: those in [low, low + stored);
 * the others go (unsigned), or repeat the sign of the stored value
 * (signed, stored from bit 0). */
typedef struct bit_rule {
    Uint16 mask, sign;
    bool sign_fill;
} bit_rule;

static Uint16 clean_word(const bit_rule *r, Uint16 v)
{
    Uint16 clean = (Uint16)(v & r->mask);
    if (r->sign_fill && (v & r->sign) != 0)
        clean = (Uint16)(clean | (Uint16)~r->mask);
    return clean;
}

/* Cleans n samples in place; returns whether anything changed. */
static bool clean_words(const bit_rule *r, Uint16 *w, size_t n)
{
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        Uint16 clean = clean_word(r, w[i]);
        changed |= clean != w[i];
        w[i] = clean;
    }
    return changed;
}

/* Native Pixel Data with Bits Stored below 16: the unused bits may carry an
 * overlay (PS3.3's retired overlays in pixel data) or anything a device
 * drew there, which no viewer shows and de-identification must not keep.
 * Values held in memory are cleaned in place; a large value left in its
 * file is cleaned in blocks into a temporary file that becomes its value
 * (DCMTK deletes it with the data set), so memory stays small. */
static iso_code clean_pixel_bits(DcmDataset *ds, E_TransferSyntax xfer, iso_err *err)
{
    if (DcmXfer(xfer).isEncapsulated())
        return ISO_OK;
    Uint16 alloc = 0, stored = 0, high = 0, rep = 0;
    if (ds->findAndGetUint16(DCM_BitsAllocated, alloc).bad() ||
        ds->findAndGetUint16(DCM_BitsStored, stored).bad())
        return ISO_OK;
    if (ds->findAndGetUint16(DCM_HighBit, high).bad())
        high = (Uint16)(stored - 1);
    (void)ds->findAndGetUint16(DCM_PixelRepresentation, rep);
    if (alloc != 16 || stored == 0 || stored >= 16 || high >= 16 || high + 1 < stored)
        return ISO_OK;
    DcmElement *px = NULL;
    if (ds->findAndGetElement(DCM_PixelData, px).bad() || px == NULL)
        return ISO_OK;
    const unsigned low = (unsigned)(high + 1 - stored);
    const bit_rule rule = {(Uint16)(((1u << stored) - 1) << low), (Uint16)(1u << (stored - 1)),
                           rep == 1 && low == 0};
    const Uint32 len = px->getLength() & ~1u;
    if (len == 0)
        return ISO_OK;
    if (px->valueLoaded() || len <= (16u << 20)) {
        Uint16 *w = NULL;
        if (px->getUint16Array(w).good() && w != NULL) {
            clean_words(&rule, w, len / 2);
            return ISO_OK;
        }
        /* OB though 16 bits are allocated (seen from some writers): the
         * bytes are the little-endian words of a little-endian syntax,
         * cleaned where they are */
        Uint8 *b = NULL;
        if (DcmXfer(xfer).isBigEndian() || px->getUint8Array(b).bad() || b == NULL)
            return iso_fail(err, ISO_EDICOM, "cannot read Pixel Data to clean its unused bits");
        for (Uint32 i = 0; i + 1 < len; i += 2) {
            Uint16 clean = clean_word(&rule, (Uint16)(b[i] | b[i + 1] << 8));
            b[i] = (Uint8)clean;
            b[i + 1] = (Uint8)(clean >> 8);
        }
        return ISO_OK;
    }
    /* large and still in its file: a first pass looks, a second writes */
    const Uint32 block = 4u << 20;
    std::vector<Uint16> buf(block / 2);
    DcmFileCache cache;
    bool dirty = false;
    for (Uint32 off = 0; off < len && !dirty; off += block) {
        Uint32 n = len - off < block ? len - off : block;
        if (px->getPartialValue(buf.data(), off, n, &cache, EBO_LittleEndian).bad())
            return iso_fail(err, ISO_EDICOM, "cannot read Pixel Data to clean its unused bits");
        dirty = clean_words(&rule, buf.data(), n / 2);
    }
    if (!dirty)
        return ISO_OK;
    iso_path path;
    FILE *out = iso_dcm_tmp_open("pixels", &path, err);
    if (out == NULL)
        return err->code;
    bool ok = true;
    for (Uint32 off = 0; off < len && ok; off += block) {
        Uint32 n = len - off < block ? len - off : block;
        ok = px->getPartialValue(buf.data(), off, n, &cache, EBO_LittleEndian).good();
        if (ok) {
            clean_words(&rule, buf.data(), n / 2);
            ok = fwrite(buf.data(), 1, n, out) == n; /* little endian: this machine's order */
        }
    }
    if (fclose(out) != 0)
        ok = false;
    if (!ok) {
        unlink(path.s);
        return iso_fail(err, ISO_EIO, "cannot write cleaned Pixel Data to %s", path.s);
    }
    DcmTempFileHandler *handler = DcmTempFileHandler::newInstance(path.s);
    DcmInputTempFileStreamFactory factory(handler);
    handler->decreaseRefCount(); /* the factory (and its clone) own it now */
    if (px->createValueFromTempFile(factory.clone(), len, EBO_LittleEndian).bad())
        return iso_fail(err, ISO_EDICOM, "cannot replace Pixel Data by its cleaned copy");
    return ISO_OK;
}

extern "C" iso_code iso_dcm_parsed_rewrite(iso_dcm_parsed *p, const iso_rewrite *rw,
                                           const iso_store_sink *sink, iso_attrs *after,
                                           iso_err *err)
{
    DcmDataset *ds = p->ff.getDataset();
    E_TransferSyntax xfer = ds->getOriginalXfer();
    OFString charset;
    (void)ds->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
    DcmSpecificCharacterSet conv;
    text_decoder dec = {NULL, true};
    if (!charset.empty() && charset != "ISO_IR 192" && charset != "ISO_IR 6") {
        if (DcmSpecificCharacterSet::isConversionAvailable() &&
            conv.selectCharacterSet(charset).good())
            dec.conv = &conv;
        else
            dec.usable = false;
    }
    if (walk(ds, 0, rw, &dec, err) != ISO_OK)
        return err->code;
    if (rw->clean_unused_bits && clean_pixel_bits(ds, xfer, err) != ISO_OK)
        return err->code;
    for (const iso_set_value *s = rw->set; s != NULL && s->group != 0; s++)
        if (ds->putAndInsertString(DcmTagKey(s->group, s->element), s->value).bad())
            return iso_fail(err, ISO_EDICOM, "cannot set (%04x,%04x)", s->group, s->element);
    if (rw->codes != NULL) {
        (void)ds->findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
        for (int i = 0; i < rw->n_codes; i++) {
            DcmItem *it = NULL;
            if (ds->findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, it, -2).bad() ||
                it->putAndInsertString(DCM_CodeValue, rw->codes[i].value).bad() ||
                it->putAndInsertString(DCM_CodingSchemeDesignator, rw->codes[i].scheme).bad() ||
                it->putAndInsertString(DCM_CodeMeaning, rw->codes[i].meaning).bad())
                return iso_fail(err, ISO_EDICOM, "cannot write the de-identification codes");
        }
    }
    OFString sop_class, sop_instance;
    if (ds->findAndGetOFString(DCM_SOPClassUID, sop_class).bad() ||
        ds->findAndGetOFString(DCM_SOPInstanceUID, sop_instance).bad())
        return iso_fail(err, ISO_EDICOM, "rewritten data set lacks SOP Class/Instance UID");
    unsigned char meta[2048];
    size_t mlen = iso_dcm_meta_header(meta, sizeof meta, sop_class.c_str(), sop_instance.c_str(),
                                      DcmXfer(xfer).getXferID(), "");
    if (mlen == 0)
        return iso_fail(err, ISO_EDICOM, "cannot build the file meta information");
    if (sink->write(sink->ctx, meta, mlen, err) != ISO_OK)
        return err->code;
    if (write_dataset(ds, xfer, sink, err) != ISO_OK)
        return err->code;
    if (after != NULL) {
        iso_dcm_parsed_attrs(p, after);
        snprintf(after->transfer_syntax, sizeof after->transfer_syntax, "%s",
                 DcmXfer(xfer).getXferID());
        snprintf(after->meta_sop_class_uid, sizeof after->meta_sop_class_uid, "%s",
                 sop_class.c_str());
        snprintf(after->meta_sop_instance_uid, sizeof after->meta_sop_instance_uid, "%s",
                 sop_instance.c_str());
    }
    return ISO_OK;
}
