/* dcm_find.cc — one C-FIND on an accepted association (Query/Retrieve FIND,
 * Patient Root and Study Root): the request identifier read into memory
 * (at most 64 KiB), scanned for nesting before DCMTK parses it, converted
 * to UTF-8 from its Specific Character Set, described to the C handlers
 * (src/net/find.c decides who may ask and what matches), then one pending
 * response per match as the handlers produce them, a C-CANCEL looked for
 * between responses, and the final status.
 */
#include "dicom/dcm_internal.h"

#include <string.h>

#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrma.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"

#include "dicom/nesting.h"


bool iso_dcm_is_find_class(const char *uid)
{
    return strcmp(uid, UID_FINDPatientRootQueryRetrieveInformationModel) == 0 ||
           strcmp(uid, UID_FINDStudyRootQueryRetrieveInformationModel) == 0;
}

namespace {

/* Collects the identifier's bytes, refusing more than the cap. */
class CappedConsumer : public DcmConsumer {
  public:
    explicit CappedConsumer(size_t cap) : cap_(cap) {}
    OFBool good() const override { return OFTrue; }
    OFCondition status() const override { return EC_Normal; }
    OFBool isFlushed() const override { return OFTrue; }
    offile_off_t avail() const override { return 1 << 30; }
    offile_off_t write(const void *buf, offile_off_t len) override
    {
        if (bytes_.size() + (size_t)len > cap_)
            over_ = true;
        else
            bytes_.append((const char *)buf, (size_t)len);
        return len;
    }
    void flush() override {}
    size_t cap_;
    std::string bytes_;
    bool over_ = false;
};

class BytesStream : public DcmOutputStream {
  public:
    explicit BytesStream(DcmConsumer *c) : DcmOutputStream(c) {}
};

OFCondition send_rsp(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                     T_DIMSE_C_FindRQ *rq, uint16_t status, DcmDataset *ids, const char *comment)
{
    T_DIMSE_C_FindRSP rsp;
    memset(&rsp, 0, sizeof rsp);
    rsp.MessageIDBeingRespondedTo = rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = ids != NULL ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq->AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (comment != NULL && comment[0] != '\0') {
        detail.putAndInsertString(DCM_ErrorComment, comment);
        detailp = &detail;
    }
    return DIMSE_sendFindResponse(assoc, pid, rq, &rsp, ids, detailp);
}

bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

} // namespace

/* Reads the identifier and parses it safely; status 0 or the failure to
 * answer (comment says why); false: the association cannot go on. */
bool iso_dcm_read_identifier(T_ASC_Association *assoc, T_ASC_PresentationContextID pid, long timeout,
                             size_t max_bytes,
                     DcmDataset &ds, uint16_t *status, char *comment, size_t comment_size,
                     char *why, size_t why_size)
{
    *status = 0;
    CappedConsumer consumer(max_bytes);
    {
        BytesStream stream(&consumer);
        T_ASC_PresentationContextID data_pid = pid;
        OFCondition c = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, (int)timeout,
                                                   &data_pid, &stream, NULL, NULL);
        if (c.bad()) {
            snprintf(why, why_size, "receiving an identifier: %s",
                     iso_dcm_transport_why()[0] ? iso_dcm_transport_why() : c.text());
            return false;
        }
    }
    T_ASC_PresentationContext pc;
    if (ASC_findAcceptedPresentationContext(assoc->params, pid, &pc).bad()) {
        snprintf(why, why_size, "a request on an unknown presentation context %d", pid);
        return false;
    }
    int explicit_vr = 0, little = 1;
    iso_err e = {};
    if (consumer.over_) {
        *status = 0xA700; /* refused: out of resources */
        snprintf(comment, comment_size, "request data set over %zu bytes", max_bytes);
        return true;
    }
    if (iso_nest_encoding(pc.acceptedTransferSyntax, &explicit_vr, &little) != 0) {
        *status = 0xC000; /* unable to process */
        snprintf(comment, comment_size, "transfer syntax not supported for a query");
        return true;
    }
    iso_nest *n = iso_nest_new(iso_dcm_max_nesting(), explicit_vr, little);
    iso_code rc = n == NULL ? iso_fail(&e, ISO_ENOMEM, "out of memory")
                            : iso_nest_feed(n, consumer.bytes_.data(), consumer.bytes_.size(), &e);
    iso_nest_free(n);
    if (rc != ISO_OK) {
        *status = 0xA900; /* identifier does not match the SOP class */
        snprintf(comment, comment_size, "identifier refused: %.40s", e.msg);
        return true;
    }
    IsoAllocCap cap(consumer.bytes_.size() * 2 + (1u << 20));
    DcmInputBufferStream in;
    in.setBuffer(consumer.bytes_.data(), (offile_off_t)consumer.bytes_.size());
    in.setEos();
    ds.transferInit();
    OFCondition c = ds.read(in, DcmXfer(pc.acceptedTransferSyntax).getXfer(), EGL_noChange,
                            DCM_MaxReadLength);
    ds.transferEnd();
    if (c.bad()) {
        *status = 0xA900; /* identifier does not match the SOP class */
        snprintf(comment, comment_size, "identifier cannot be parsed");
        return true;
    }
    OFString charset;
    (void)ds.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
    if (!charset.empty() && charset != "ISO_IR 192" && charset != "ISO_IR 6" &&
        ds.convertToUTF8().bad()) {
        *status = 0xC000; /* unable to process */
        snprintf(comment, comment_size, "character set not supported");
    }
    return true;
}


void iso_dcm_identifier_keys(DcmDataset &ds, std::vector<iso_find_key> &keys,
                             std::vector<std::string> &keywords, std::vector<std::string> &values,
                             std::vector<DcmTag> *tags)
{
    std::vector<DcmTag> found;
    for (unsigned long i = 0; i < ds.card(); i++) {
        DcmElement *el = ds.getElement(i);
        DcmTag tag = el->getTag();
        if (tag == DCM_SpecificCharacterSet || tag == DCM_QueryRetrieveLevel ||
            tag.getGroup() == 0x0000)
            continue;
        OFString v;
        if (el->ident() != EVR_SQ)
            (void)el->getOFStringArray(v);
        found.push_back(tag);
        keywords.push_back(tag.getTagName() ? tag.getTagName() : "");
        values.push_back(v.c_str());
    }
    /* pointers into the vectors only once they no longer grow */
    for (size_t i = 0; i < found.size(); i++) {
        iso_find_key k = {};
        k.group = found[i].getGroup();
        k.elem = found[i].getElement();
        snprintf(k.vr, sizeof k.vr, "%s", found[i].getVR().getVRName());
        k.keyword = keywords[i].c_str();
        k.value = values[i].c_str();
        keys.push_back(k);
    }
    if (tags != NULL)
        *tags = found;
}

bool iso_dcm_read_qr_request(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                             long timeout, IsoQrRequest &r, char *why, size_t why_size)
{
    if (!iso_dcm_read_identifier(assoc, pid, timeout, ISO_QR_IDENTIFIER_MAX, r.ds, &r.status, r.comment,
                                 sizeof r.comment, why, why_size))
        return false;
    (void)r.ds.findAndGetOFString(DCM_QueryRetrieveLevel, r.level);
    if (r.status == 0)
        iso_dcm_identifier_keys(r.ds, r.keys, r.keywords, r.values, &r.tags);
    return true;
}

bool iso_dcm_serve_find(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                        T_DIMSE_C_FindRQ *rq, const iso_scp_handlers *h, long timeout,
                        iso_assoc_counts *counts, char *why, size_t why_size)
{
    IsoQrRequest r;
    if (!iso_dcm_read_qr_request(assoc, pid, timeout, r, why, why_size))
        return false;
    counts->finds++;
    uint16_t status = r.status;
    char *comment = r.comment;
    const size_t comment_size = sizeof r.comment;
    std::vector<iso_find_key> &keys = r.keys;
    std::vector<DcmTag> &tags = r.tags;
    OFString &level = r.level;
    iso_find_rq req = {rq->AffectedSOPClassUID, level.c_str(), keys.data(), keys.size()};
    void *cursor = NULL;
    if (status == 0)
        status = h->find_begin(h->user, &req, &cursor, comment, comment_size);
    std::vector<const char *> out(keys.size() + 1, (const char *)NULL);
    bool cancelled = false;
    while (status == 0) {
        int got = h->find_next(h->user, cursor, out.data());
        if (got < 0) {
            status = STATUS_FIND_Failed_UnableToProcess;
            snprintf(comment, comment_size, "the index could not be read");
            break;
        }
        if (got == 0)
            break;
        DcmDataset rsp;
        bool utf8 = false;
        rsp.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
        for (size_t i = 0; i < keys.size(); i++) {
            const char *v = out[i] != NULL ? out[i] : "";
            utf8 |= !is_ascii(v);
            if (tags[i].getEVR() == EVR_SQ)
                rsp.insertEmptyElement(tags[i]);
            else
                rsp.putAndInsertString(tags[i], v);
        }
        if (utf8)
            rsp.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
        OFCondition c = send_rsp(assoc, pid, rq, STATUS_Pending, &rsp, NULL);
        if (c.bad()) {
            h->find_end(h->user, cursor);
            snprintf(why, why_size, "sending C-FIND-RSP: %s", c.text());
            return false;
        }
        counts->find_matches++;
        /* a C-CANCEL may be waiting: it ends the matching here (its
         * command set is parsed under the same ceiling as any command) */
        bool cancel;
        {
            IsoAllocCap cap(ISO_COMMAND_ALLOC_CAP);
            cancel = DIMSE_checkForCancelRQ(assoc, pid, rq->MessageID).good();
        }
        if (cancel) {
            cancelled = true;
            break;
        }
    }
    if (cursor != NULL)
        h->find_end(h->user, cursor);
    if (cancelled)
        status = STATUS_FIND_Cancel;
    OFCondition c = send_rsp(assoc, pid, rq, status, NULL, status == 0 || cancelled ? NULL : comment);
    if (c.bad()) {
        snprintf(why, why_size, "sending C-FIND-RSP: %s", c.text());
        return false;
    }
    return true;
}
