/* dcm_build.cc — building new DICOM objects from C: attributes by tag (VR
 * from DCMTK's dictionary, values as DICOM text), binary values, nested
 * sequence items, and writing the result as a Part 10 file with our file
 * meta information.  The derived-object module (src/derive) composes IODs
 * with it; nothing of DCMTK crosses into C.
 */
#include "dicom/dcm_internal.h"

#include <stdio.h>
#include <string.h>

#include <new>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcxfer.h"

struct iso_dcmb {
    DcmDataset ds;
    std::vector<DcmItem *> stack; /* current item: back(); the data set at the bottom */
    iso_err err;
};

extern "C" iso_dcmb *iso_dcmb_new(void)
{
    iso_dcmb *b = new (std::nothrow) iso_dcmb;
    if (b != NULL) {
        b->stack.push_back(&b->ds);
        memset(&b->err, 0, sizeof b->err);
    }
    return b;
}

extern "C" void iso_dcmb_free(iso_dcmb *b) { delete b; }

extern "C" void iso_dcmb_str(iso_dcmb *b, uint16_t g, uint16_t e, const char *value)
{
    if (b->err.code != ISO_OK)
        return;
    OFCondition c = b->stack.back()->putAndInsertString(DcmTagKey(g, e), value ? value : "");
    if (c.bad())
        iso_fail(&b->err, ISO_EDICOM, "cannot set (%04x,%04x) to '%.40s': %s", g, e,
                 value ? value : "", c.text());
}

extern "C" void iso_dcmb_bytes(iso_dcmb *b, uint16_t g, uint16_t e, const char *vr,
                               const void *data, size_t len)
{
    if (b->err.code != ISO_OK)
        return;
    DcmItem *it = b->stack.back();
    DcmTagKey tag(g, e);
    OFCondition c;
    if (strcmp(vr, "OW") == 0)
        c = it->putAndInsertUint16Array(tag, (const Uint16 *)data, (unsigned long)(len / 2));
    else if (strcmp(vr, "OF") == 0)
        c = it->putAndInsertFloat32Array(tag, (const Float32 *)data, (unsigned long)(len / 4));
    else if (strcmp(vr, "OL") == 0)
        c = it->putAndInsertUint32Array(tag, (const Uint32 *)data, (unsigned long)(len / 4));
    else
        c = it->putAndInsertUint8Array(tag, (const Uint8 *)data, (unsigned long)len);
    if (c.bad())
        iso_fail(&b->err, ISO_EDICOM, "cannot set (%04x,%04x) %s: %s", g, e, vr, c.text());
}

extern "C" void iso_dcmb_item_begin(iso_dcmb *b, uint16_t g, uint16_t e)
{
    if (b->err.code != ISO_OK)
        return;
    DcmItem *it = NULL;
    OFCondition c = b->stack.back()->findOrCreateSequenceItem(DcmTagKey(g, e), it, -2);
    if (c.bad() || it == NULL) {
        iso_fail(&b->err, ISO_EDICOM, "cannot add an item to (%04x,%04x)", g, e);
        return;
    }
    b->stack.push_back(it);
}

extern "C" void iso_dcmb_empty_seq(iso_dcmb *b, uint16_t g, uint16_t e)
{
    if (b->err.code != ISO_OK)
        return;
    DcmSequenceOfItems *sq = new (std::nothrow) DcmSequenceOfItems(DcmTag(g, e));
    if (sq == NULL || b->stack.back()->insert(sq, OFTrue).bad()) {
        delete sq;
        iso_fail(&b->err, ISO_EDICOM, "cannot add the empty sequence (%04x,%04x)", g, e);
    }
}

extern "C" void iso_dcmb_item_end(iso_dcmb *b)
{
    if (b->err.code != ISO_OK)
        return;
    if (b->stack.size() <= 1) {
        iso_fail(&b->err, ISO_EINVAL, "item end without an item");
        return;
    }
    b->stack.pop_back();
}

extern "C" iso_code iso_dcmb_write(iso_dcmb *b, const char *path, iso_err *err)
{
    if (b->err.code != ISO_OK)
        return iso_fail(err, b->err.code, "%s", b->err.msg);
    if (b->stack.size() != 1)
        return iso_fail(err, ISO_EINVAL, "an item was left open");
    OFString cls, inst;
    if (b->ds.findAndGetOFString(DCM_SOPClassUID, cls).bad() ||
        b->ds.findAndGetOFString(DCM_SOPInstanceUID, inst).bad())
        return iso_fail(err, ISO_EINVAL, "a new object needs SOP Class and Instance UIDs");
    DcmFileFormat ff(&b->ds);
    DcmMetaInfo *m = ff.getMetaInfo();
    m->putAndInsertString(DCM_MediaStorageSOPClassUID, cls.c_str());
    m->putAndInsertString(DCM_MediaStorageSOPInstanceUID, inst.c_str());
    m->putAndInsertString(DCM_ImplementationClassUID, ISO_IMPLEMENTATION_CLASS_UID);
    m->putAndInsertString(DCM_ImplementationVersionName, ISO_IMPLEMENTATION_VERSION);
    OFCondition c = ff.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                                EPD_withoutPadding, 0, 0, EWM_fileformat);
    if (c.bad())
        return iso_fail(err, ISO_EIO, "cannot write %s: %s", path, c.text());
    return ISO_OK;
}
