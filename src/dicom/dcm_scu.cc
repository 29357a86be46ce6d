/* dcm_scu.cc — C-ECHO and C-STORE as a service class user.
 *
 * Files are sent as stored: one presentation context per (SOP class, stored
 * transfer syntax), with explicit and implicit little endian offered as
 * fall-backs for uncompressed files, which DCMTK converts between on the fly.
 * Compressed files whose syntax the peer refuses are reported per file
 * (transcoding belongs to the delivery stage).
 */
#include "dicom/dcm_internal.h"

#include <string.h>

#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"

namespace {

struct Scu {
    T_ASC_Network *net = NULL;
    T_ASC_Association *assoc = NULL;
    ~Scu()
    {
        if (assoc) {
            ASC_abortAssociation(assoc);
            ASC_destroyAssociation(&assoc);
        }
        if (net)
            ASC_dropNetwork(&net);
    }
    void release()
    {
        if (assoc) {
            ASC_releaseAssociation(assoc);
            ASC_destroyAssociation(&assoc);
        }
    }
};

struct Context {
    std::string sop_class;
    std::string ts;
    unsigned char id;
    T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT; /* ours, when role selection is proposed */
};

bool is_uncompressed(const std::string &ts)
{
    return ts == UID_LittleEndianImplicitTransferSyntax ||
           ts == UID_LittleEndianExplicitTransferSyntax ||
           ts == UID_BigEndianExplicitTransferSyntax;
}

iso_code open_assoc(Scu &scu, const iso_scu_params *p, const std::vector<Context> &ctxs,
                    iso_err *err)
{
    OFCondition c = ASC_initializeNetwork(NET_REQUESTOR, 0, (int)p->acse_timeout, &scu.net);
    if (c.good())
        c = iso_dcm_use_transport(scu.net, p->dimse_timeout, p->dimse_timeout,
                                  p->tls.tls != NULL ? &p->tls : NULL);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "network init: %s", c.text());
    T_ASC_Parameters *params = NULL;
    c = ASC_createAssociationParameters(&params, p->max_pdu);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "association parameters: %s", c.text());
    snprintf(params->ourImplementationClassUID, sizeof params->ourImplementationClassUID, "%s",
             ISO_IMPLEMENTATION_CLASS_UID);
    snprintf(params->ourImplementationVersionName, sizeof params->ourImplementationVersionName,
             "%s", ISO_IMPLEMENTATION_VERSION);
    ASC_setAPTitles(params, p->our_ae, p->peer_ae, NULL);
    if (p->tls.tls != NULL)
        ASC_setTransportLayerType(params, OFTrue);
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%ld", p->host, p->port);
    ASC_setPresentationAddresses(params, "localhost", addr);
    for (const Context &ctx : ctxs) {
        /* An empty ts marks the fall-back context of a SOP class: explicit,
         * then implicit little endian, which DCMTK converts into. */
        std::vector<const char *> ts;
        if (ctx.ts.empty()) {
            ts.push_back(UID_LittleEndianExplicitTransferSyntax);
            ts.push_back(UID_LittleEndianImplicitTransferSyntax);
        } else {
            ts.push_back(ctx.ts.c_str());
        }
        c = ASC_addPresentationContext(params, ctx.id, ctx.sop_class.c_str(), ts.data(),
                                       (int)ts.size(), ctx.role);
        if (c.bad()) {
            ASC_destroyAssociationParameters(&params);
            return iso_fail(err, ISO_ENET, "presentation context: %s", c.text());
        }
    }
    dcmConnectionTimeout.set((Sint32)p->acse_timeout);
    iso_dcm_transport_clear();
    c = ASC_requestAssociation(scu.net, params, &scu.assoc);
    if (c.bad()) {
        if (c == DUL_ASSOCIATIONREJECTED) {
            T_ASC_RejectParameters rej;
            ASC_getRejectParameters(params, &rej);
            OFString s;
            ASC_printRejectParameters(s, &rej);
            if (scu.assoc)
                ASC_destroyAssociation(&scu.assoc);
            else
                ASC_destroyAssociationParameters(&params);
            return iso_fail(err, ISO_ENET, "association rejected by %s: %s", p->peer_ae,
                            s.c_str());
        }
        if (scu.assoc)
            ASC_destroyAssociation(&scu.assoc);
        else
            ASC_destroyAssociationParameters(&params);
        return iso_fail(err, ISO_ENET, "cannot associate with %s at %s: %s", p->peer_ae, addr,
                        iso_dcm_transport_why()[0] ? iso_dcm_transport_why() : c.text());
    }
    if (ASC_countAcceptedPresentationContexts(scu.assoc->params) == 0)
        return iso_fail(err, ISO_ENET, "%s accepted no presentation context", p->peer_ae);
    return ISO_OK;
}

} // namespace

extern "C" iso_code iso_dcm_scu_echo(const iso_scu_params *p, iso_err *err)
{
    Scu scu;
    std::vector<Context> ctxs = {{UID_VerificationSOPClass, UID_LittleEndianImplicitTransferSyntax, 1}};
    iso_code rc = open_assoc(scu, p, ctxs, err);
    if (rc != ISO_OK)
        return rc;
    DIC_US status = 0;
    DcmDataset *detail = NULL;
    OFCondition c = DIMSE_echoUser(scu.assoc, 1, DIMSE_BLOCKING, (int)p->dimse_timeout, &status,
                                   &detail);
    delete detail;
    if (c.bad())
        return iso_fail(err, ISO_ENET, "C-ECHO failed: %s", c.text());
    if (status != STATUS_Success)
        return iso_fail(err, ISO_ENET, "C-ECHO answered status 0x%04x", status);
    scu.release();
    return ISO_OK;
}

namespace {

/* What a stored file is, from its meta group. */
struct FileInfo {
    std::string sop_class, sop_instance, ts;
    bool ok = false;
};

FileInfo read_file_info(const char *path)
{
    FileInfo f;
    DcmFileFormat ff;
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_metaOnly);
    OFString cls, inst, ts;
    f.ok = c.good() && ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, cls).good() &&
           ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, inst).good() &&
           ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good();
    if (f.ok) {
        f.sop_class = cls.c_str();
        f.sop_instance = inst.c_str();
        f.ts = ts.c_str();
    }
    return f;
}

/* One C-STORE of a stored file on an open association: the stored syntax
 * if the peer took it, else (uncompressed objects) one it accepted, which
 * DCMTK converts into.  *status: the peer's, or 0xFFFF when no context
 * fits; false when the association failed (err says why). */
bool store_file(T_ASC_Association *assoc, const char *path, const FileInfo &f, long timeout,
                uint16_t *status, iso_err *err)
{
    *status = 0xFFFF;
    if (!f.ok)
        return true;
    T_ASC_PresentationContextID pid =
        ASC_findAcceptedPresentationContextID(assoc, f.sop_class.c_str(), f.ts.c_str());
    IsoParsePath src; /* outlives ff, which may read values lazily from it */
    DcmFileFormat ff;
    DcmDataset *ds = NULL;
    const char *fname = path;
    if (pid == 0 && is_uncompressed(f.ts)) {
        pid = ASC_findAcceptedPresentationContextID(assoc, f.sop_class.c_str(),
                                                    UID_LittleEndianExplicitTransferSyntax);
        if (pid == 0)
            pid = ASC_findAcceptedPresentationContextID(assoc, f.sop_class.c_str(),
                                                        UID_LittleEndianImplicitTransferSyntax);
        iso_err ignored = {};
        if (pid != 0 && src.prepare(path, &ignored) == ISO_OK && ff.loadFile(src.get()).good()) {
            ds = ff.getDataset();
            fname = NULL;
        } else
            pid = 0;
    }
    if (pid == 0)
        return true;
    T_DIMSE_C_StoreRQ rq;
    memset(&rq, 0, sizeof rq);
    rq.MessageID = assoc->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, f.sop_class.c_str(), sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.AffectedSOPInstanceUID, f.sop_instance.c_str(),
                        sizeof rq.AffectedSOPInstanceUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP rsp;
    memset(&rsp, 0, sizeof rsp);
    DcmDataset *detail = NULL;
    OFCondition c = DIMSE_storeUser(assoc, pid, &rq, fname, ds, NULL, NULL, DIMSE_BLOCKING,
                                    (int)timeout, &rsp, &detail);
    delete detail;
    if (c.bad()) {
        iso_fail(err, ISO_ENET, "C-STORE of %s failed: %s", path, c.text());
        return false;
    }
    *status = rsp.DimseStatus;
    return true;
}

} // namespace

uint16_t iso_dcm_store_on(T_ASC_Association *assoc, const char *path, long timeout, iso_err *err)
{
    uint16_t status = 0xFFFF;
    if (!store_file(assoc, path, read_file_info(path), timeout, &status, err))
        return 0xFFFE;
    return status;
}

extern "C" iso_code iso_dcm_scu_send_files(const iso_scu_params *p, const char *const *paths,
                                           size_t n, uint16_t *statuses, iso_err *err)
{
    std::vector<FileInfo> files(n);
    std::vector<Context> ctxs;
    for (size_t i = 0; i < n; i++) {
        statuses[i] = 0xFFFF;
        FileInfo &f = files[i];
        f = read_file_info(paths[i]);
        if (!f.ok)
            continue;
        /* One context per (class, stored syntax) so the peer can take the
         * object exactly as stored, plus one fall-back per class for
         * uncompressed objects. */
        std::string wanted[2] = {f.ts, is_uncompressed(f.ts) ? "" : f.ts};
        for (const std::string &ts : wanted) {
            bool have = false;
            for (const Context &ctx : ctxs)
                if (ctx.sop_class == f.sop_class && ctx.ts == ts)
                    have = true;
            if (have)
                continue;
            if (ctxs.size() >= 128)
                return iso_fail(err, ISO_EINVAL,
                                "more than 128 presentation contexts needed in one send");
            ctxs.push_back({f.sop_class, ts, (unsigned char)(2 * ctxs.size() + 1)});
        }
    }
    if (ctxs.empty())
        return iso_fail(err, ISO_EDICOM, "none of the %zu files could be read", n);
    Scu scu;
    iso_code rc = open_assoc(scu, p, ctxs, err);
    if (rc != ISO_OK)
        return rc;
    bool stopped = false;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && p->progress != NULL && p->progress(p->progress_ctx, i - 1, statuses[i - 1])) {
            stopped = true;
            break;
        }
        if (!store_file(scu.assoc, paths[i], files[i], p->dimse_timeout, &statuses[i], err))
            return err->code;
    }
    /* each file is reported once, when the next one is about to go, and
     * the last one here (unless the caller stopped the sending) */
    if (!stopped && n > 0 && p->progress != NULL)
        (void)p->progress(p->progress_ctx, n - 1, statuses[n - 1]);
    scu.release();
    return ISO_OK;
}

extern "C" iso_code iso_dcm_scu_commit_report(const iso_scu_params *p, const char *transaction_uid,
                                              const iso_commit_item *items, size_t n,
                                              iso_err *err)
{
    Scu scu;
    Context ctx = {ISO_STORAGE_COMMITMENT_CLASS, UID_LittleEndianExplicitTransferSyntax, 1};
    ctx.role = ASC_SC_ROLE_SCP; /* the node is the SCP, though it opens the association */
    std::vector<Context> ctxs = {ctx};
    ctxs.push_back({ISO_STORAGE_COMMITMENT_CLASS, UID_LittleEndianImplicitTransferSyntax, 3,
                    ASC_SC_ROLE_SCP});
    iso_code rc = open_assoc(scu, p, ctxs, err);
    if (rc != ISO_OK)
        return rc;
    T_ASC_PresentationContextID pid =
        ASC_findAcceptedPresentationContextID(scu.assoc, ISO_STORAGE_COMMITMENT_CLASS);
    if (pid == 0)
        return iso_fail(err, ISO_ENET, "%s accepted no Storage Commitment context", p->peer_ae);
    DIC_US msg_id = 0;
    OFCondition c = iso_dcm_send_event_report(scu.assoc, pid, transaction_uid, items, n, &msg_id);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "sending N-EVENT-REPORT: %s", c.text());
    char why[160];
    if (iso_dcm_await_event_report_rsp(scu.assoc, p->dimse_timeout, msg_id, &c, why, sizeof why) != 0)
        return iso_fail(err, ISO_ENET, "%s", why);
    scu.release();
    return ISO_OK;
}

extern "C" iso_code iso_dcm_scu_commit_request(const iso_scu_params *p, const char *transaction_uid,
                                               const iso_commit_item *items, size_t n,
                                               iso_err *err)
{
    Scu scu;
    std::vector<Context> ctxs = {
        {ISO_STORAGE_COMMITMENT_CLASS, UID_LittleEndianExplicitTransferSyntax, 1},
        {ISO_STORAGE_COMMITMENT_CLASS, UID_LittleEndianImplicitTransferSyntax, 3}};
    iso_code rc = open_assoc(scu, p, ctxs, err);
    if (rc != ISO_OK)
        return rc;
    T_ASC_PresentationContextID pid =
        ASC_findAcceptedPresentationContextID(scu.assoc, ISO_STORAGE_COMMITMENT_CLASS);
    if (pid == 0)
        return iso_fail(err, ISO_ENET, "%s accepted no Storage Commitment context", p->peer_ae);
    DcmDataset ds;
    ds.putAndInsertString(DCM_TransactionUID, transaction_uid);
    for (size_t i = 0; i < n; i++) {
        DcmItem *it = NULL;
        if (ds.findOrCreateSequenceItem(DCM_ReferencedSOPSequence, it, -2).bad() || it == NULL)
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        it->putAndInsertString(DCM_ReferencedSOPClassUID, items[i].sop_class);
        it->putAndInsertString(DCM_ReferencedSOPInstanceUID, items[i].sop_uid);
    }
    T_DIMSE_Message msg;
    memset(&msg, 0, sizeof msg);
    msg.CommandField = DIMSE_N_ACTION_RQ;
    T_DIMSE_N_ActionRQ &rq = msg.msg.NActionRQ;
    rq.MessageID = scu.assoc->nextMsgID++;
    OFStandard::strlcpy(rq.RequestedSOPClassUID, ISO_STORAGE_COMMITMENT_CLASS,
                        sizeof rq.RequestedSOPClassUID);
    OFStandard::strlcpy(rq.RequestedSOPInstanceUID, ISO_STORAGE_COMMITMENT_INSTANCE,
                        sizeof rq.RequestedSOPInstanceUID);
    rq.ActionTypeID = 1; /* request storage commitment */
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    OFCondition c = DIMSE_sendMessageUsingMemoryData(scu.assoc, pid, &msg, NULL, &ds, NULL, NULL);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "sending N-ACTION: %s", c.text());
    T_DIMSE_Message rsp;
    T_ASC_PresentationContextID rsp_pid = 0;
    DcmDataset *detail = NULL;
    {
        IsoAllocCap cap(ISO_COMMAND_ALLOC_CAP);
        c = DIMSE_receiveCommand(scu.assoc, DIMSE_BLOCKING, (int)p->dimse_timeout, &rsp_pid,
                                 &rsp, &detail);
    }
    OFString comment;
    if (detail != NULL)
        (void)detail->findAndGetOFString(DCM_ErrorComment, comment);
    delete detail;
    if (c.bad())
        return iso_fail(err, ISO_ENET, "no N-ACTION-RSP: %s", c.text());
    if (rsp.CommandField != DIMSE_N_ACTION_RSP ||
        rsp.msg.NActionRSP.MessageIDBeingRespondedTo != rq.MessageID)
        return iso_fail(err, ISO_ENET, "answered 0x%04x instead of N-ACTION-RSP", rsp.CommandField);
    if (rsp.msg.NActionRSP.DimseStatus != 0)
        return iso_fail(err, ISO_ENET, "N-ACTION answered status 0x%04x%s%.64s",
                        rsp.msg.NActionRSP.DimseStatus, comment.empty() ? "" : ": ",
                        comment.c_str());
    scu.release();
    return ISO_OK;
}

extern "C" iso_code iso_dcm_file_ids(const char *path, char sop_class[65], char sop_uid[65],
                                     iso_err *err)
{
    FileInfo f = read_file_info(path);
    if (!f.ok)
        return iso_fail(err, ISO_EDICOM, "%s: no DICOM meta information", path);
    if (f.sop_class.size() > 64 || f.sop_instance.size() > 64)
        return iso_fail(err, ISO_EDICOM, "%s: a UID longer than 64 characters", path);
    snprintf(sop_class, 65, "%s", f.sop_class.c_str());
    snprintf(sop_uid, 65, "%s", f.sop_instance.c_str());
    return ISO_OK;
}

extern "C" const char *iso_dcm_uid_name(const char *uid)
{
    return dcmFindNameOfUID(uid, uid);
}
