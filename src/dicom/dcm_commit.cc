/* dcm_commit.cc — Storage Commitment Push Model (PS3.4 J) in the adapter,
 * both roles on an accepted association:
 *  - the node as SCP: an N-ACTION (the request read like any identifier:
 *    capped, scanned for nesting, then parsed; its Transaction UID and
 *    Referenced SOP Sequence handed to the C handler, which records the
 *    transaction before the N-ACTION-RSP goes).  If the requester then
 *    stays on the association, idle, the report goes on it at once;
 *    otherwise the C side sends it later on an association of its own
 *    (dcm_scu.cc opens it);
 *  - the node as SCU: an N-EVENT-REPORT from a peer the node asked (its
 *    success and failure lists handed to the C handler, which records them
 *    before the N-EVENT-REPORT-RSP goes).
 */
#include "dicom/dcm_internal.h"

#include <string.h>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"

enum { COMMIT_ITEMS_MAX = 100000 };

bool iso_dcm_is_commit_class(const char *uid)
{
    return strcmp(uid, ISO_STORAGE_COMMITMENT_CLASS) == 0;
}

/* Sends a response, with an Error Comment when there is one. */
static OFCondition send_response(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                 T_DIMSE_Message *msg, const char *comment)
{
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (comment != NULL && comment[0] != '\0') {
        detail.putAndInsertString(DCM_ErrorComment, comment);
        detailp = &detail;
    }
    return DIMSE_sendMessageUsingMemoryData(assoc, pid, msg, detailp, NULL, NULL, NULL);
}

static OFCondition send_action_rsp(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                   const T_DIMSE_N_ActionRQ *rq, uint16_t status,
                                   const char *comment)
{
    T_DIMSE_Message msg;
    memset(&msg, 0, sizeof msg);
    msg.CommandField = DIMSE_N_ACTION_RSP;
    T_DIMSE_N_ActionRSP &rsp = msg.msg.NActionRSP;
    rsp.MessageIDBeingRespondedTo = rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq->RequestedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq->RequestedSOPInstanceUID,
                        sizeof rsp.AffectedSOPInstanceUID);
    rsp.ActionTypeID = rq->ActionTypeID;
    rsp.opts = O_NACTION_AFFECTEDSOPCLASSUID | O_NACTION_AFFECTEDSOPINSTANCEUID |
               O_NACTION_ACTIONTYPEID;
    return send_response(assoc, pid, &msg, comment);
}

/* The report sent on the requester's own association (a commit_here
 * callback's send). */
struct ReportHere {
    T_ASC_Association *assoc;
    T_ASC_PresentationContextID pid;
    long timeout;
    bool released; /* the requester asked to release instead of answering */
    bool broken;   /* the association failed */
    char why[160];
};

OFCondition iso_dcm_send_event_report(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                      const char *transaction_uid, const iso_commit_item *items,
                                      size_t n, DIC_US *msg_id)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += items[i].failure != 0;
    DcmDataset ds;
    iso_dcm_commit_report_dataset(ds, transaction_uid, items, n);
    T_DIMSE_Message msg;
    memset(&msg, 0, sizeof msg);
    msg.CommandField = DIMSE_N_EVENT_REPORT_RQ;
    T_DIMSE_N_EventReportRQ &rq = msg.msg.NEventReportRQ;
    rq.MessageID = *msg_id = assoc->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, ISO_STORAGE_COMMITMENT_CLASS,
                        sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.AffectedSOPInstanceUID, ISO_STORAGE_COMMITMENT_INSTANCE,
                        sizeof rq.AffectedSOPInstanceUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.EventTypeID = failed == 0 ? 1 : 2; /* 1: all committed, 2: some failed */
    return DIMSE_sendMessageUsingMemoryData(assoc, pid, &msg, NULL, &ds, NULL, NULL);
}

/* Waits for the N-EVENT-REPORT-RSP to message msg_id: 0 when it says
 * success; otherwise why says what came instead. */
int iso_dcm_await_event_report_rsp(T_ASC_Association *assoc, long timeout, DIC_US msg_id,
                                   OFCondition *cond, char *why, size_t why_size)
{
    T_DIMSE_Message rsp;
    T_ASC_PresentationContextID rsp_pid = 0;
    DcmDataset *detail = NULL;
    {
        IsoAllocCap cap(ISO_COMMAND_ALLOC_CAP);
        *cond = DIMSE_receiveCommand(assoc, DIMSE_BLOCKING, (int)timeout, &rsp_pid, &rsp, &detail);
    }
    delete detail;
    if (cond->bad()) {
        snprintf(why, why_size, "no N-EVENT-REPORT-RSP: %s", cond->text());
        return -1;
    }
    if (rsp.CommandField != DIMSE_N_EVENT_REPORT_RSP ||
        rsp.msg.NEventReportRSP.MessageIDBeingRespondedTo != msg_id) {
        snprintf(why, why_size, "answered 0x%04x instead of N-EVENT-REPORT-RSP",
                 rsp.CommandField);
        return -1;
    }
    if (rsp.msg.NEventReportRSP.DimseStatus != 0) {
        snprintf(why, why_size, "N-EVENT-REPORT answered status 0x%04x",
                 rsp.msg.NEventReportRSP.DimseStatus);
        return -1;
    }
    return 0;
}

static int report_here(void *sctx, const iso_commit_item *items, size_t n,
                       const char *transaction_uid)
{
    ReportHere *r = (ReportHere *)sctx;
    DIC_US msg_id = 0;
    OFCondition c = iso_dcm_send_event_report(r->assoc, r->pid, transaction_uid, items, n, &msg_id);
    if (c.bad()) {
        r->broken = true;
        snprintf(r->why, sizeof r->why, "sending N-EVENT-REPORT: %s", c.text());
        return -1;
    }
    if (iso_dcm_await_event_report_rsp(r->assoc, r->timeout, msg_id, &c, r->why, sizeof r->why) == 0)
        return 0;
    if (c == DUL_PEERREQUESTEDRELEASE) {
        /* it released at the moment the report went: it was not taken */
        ASC_acknowledgeRelease(r->assoc);
        r->released = true;
    } else {
        r->broken = true;
    }
    return -1;
}

int iso_dcm_serve_commit(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                         T_DIMSE_N_ActionRQ *rq, const iso_scp_handlers *h, long timeout,
                         iso_assoc_counts *counts, char *why, size_t why_size)
{
    DcmDataset ds;
    uint16_t status = 0;
    char comment[128] = "";
    if (rq->DataSetType == DIMSE_DATASET_NULL) {
        status = 0x0120; /* missing attribute */
        snprintf(comment, sizeof comment, "no action information");
    } else if (!iso_dcm_read_identifier(assoc, pid, timeout, ISO_COMMIT_REQUEST_MAX, ds, &status, comment,
                                        sizeof comment, why, why_size)) {
        return ISO_COMMIT_SERVE_FAILED;
    }
    counts->commit_requests++;
    if (status == 0 && (strcmp(rq->RequestedSOPClassUID, ISO_STORAGE_COMMITMENT_CLASS) != 0 ||
                        strcmp(rq->RequestedSOPInstanceUID, ISO_STORAGE_COMMITMENT_INSTANCE) != 0)) {
        status = 0x0117; /* invalid object instance */
        snprintf(comment, sizeof comment, "not the Storage Commitment Push Model instance");
    }
    if (status == 0 && rq->ActionTypeID != 1) {
        status = 0x0123; /* no such action */
        snprintf(comment, sizeof comment, "Action Type ID %u", rq->ActionTypeID);
    }
    OFString txn;
    std::vector<std::string> classes, uids;
    if (status == 0 && (ds.findAndGetOFString(DCM_TransactionUID, txn).bad() || txn.empty())) {
        status = 0x0120;
        snprintf(comment, sizeof comment, "no Transaction UID");
    }
    DcmSequenceOfItems *seq = NULL;
    if (status == 0 && (ds.findAndGetSequence(DCM_ReferencedSOPSequence, seq).bad() ||
                        seq == NULL || seq->card() == 0)) {
        status = 0x0120;
        snprintf(comment, sizeof comment, "no Referenced SOP Sequence");
    }
    if (status == 0 && seq->card() > COMMIT_ITEMS_MAX) {
        status = 0x0213; /* resource limitation */
        snprintf(comment, sizeof comment, "more than %d instances", COMMIT_ITEMS_MAX);
    }
    for (unsigned long i = 0; status == 0 && i < seq->card(); i++) {
        OFString cls, uid;
        DcmItem *it = seq->getItem(i);
        if (it == NULL || it->findAndGetOFString(DCM_ReferencedSOPClassUID, cls).bad() ||
            it->findAndGetOFString(DCM_ReferencedSOPInstanceUID, uid).bad() || uid.empty()) {
            status = 0x0120;
            snprintf(comment, sizeof comment, "item %lu lacks its SOP Class or Instance UID",
                     i + 1);
            break;
        }
        classes.push_back(cls.c_str());
        uids.push_back(uid.c_str());
    }
    if (status == 0) {
        std::vector<iso_commit_item> items(uids.size());
        for (size_t i = 0; i < uids.size(); i++)
            items[i] = {classes[i].c_str(), uids[i].c_str(), 0};
        status = h->commit(h->user, txn.c_str(), items.data(), items.size(), comment,
                           sizeof comment);
    }
    OFCondition c = send_action_rsp(assoc, pid, rq, status, status == 0 ? NULL : comment);
    if (c.bad()) {
        snprintf(why, why_size, "sending N-ACTION-RSP: %s", c.text());
        return ISO_COMMIT_SERVE_FAILED;
    }
    if (status != 0 || h->commit_here == NULL)
        return ISO_COMMIT_SERVE_GO_ON;
    /* A requester that waits, idle, for a second after the answer is
     * waiting for the report: it goes here.  One that releases, or sends
     * anything else, gets it on an association of the node's own. */
    ReportHere r = {assoc, pid, timeout, false, false, ""};
    bool idle = !ASC_dataWaiting(assoc, 1);
    counts->commit_reports_here +=
        h->commit_here(h->user, txn.c_str(), idle ? report_here : NULL, &r) == 0;
    if (r.released)
        return ISO_COMMIT_SERVE_RELEASED;
    if (r.broken) {
        snprintf(why, why_size, "%s", r.why);
        return ISO_COMMIT_SERVE_FAILED;
    }
    return ISO_COMMIT_SERVE_GO_ON;
}

/* Reads one sequence of a report into items (failure: its Failure Reason,
 * which must be non-zero in the Failed SOP Sequence). */
static bool report_items(DcmDataset &ds, const DcmTagKey &tag, bool failed,
                         std::vector<std::string> &classes, std::vector<std::string> &uids,
                         std::vector<uint16_t> &reasons, char *comment, size_t comment_size)
{
    DcmSequenceOfItems *seq = NULL;
    if (ds.findAndGetSequence(tag, seq).bad() || seq == NULL)
        return true; /* absent: none */
    if (classes.size() + seq->card() > COMMIT_ITEMS_MAX) {
        snprintf(comment, comment_size, "more than %d instances", COMMIT_ITEMS_MAX);
        return false;
    }
    for (unsigned long i = 0; i < seq->card(); i++) {
        OFString cls, uid;
        Uint16 reason = 0;
        DcmItem *it = seq->getItem(i);
        if (it == NULL || it->findAndGetOFString(DCM_ReferencedSOPClassUID, cls).bad() ||
            it->findAndGetOFString(DCM_ReferencedSOPInstanceUID, uid).bad() || uid.empty() ||
            (failed && (it->findAndGetUint16(DCM_FailureReason, reason).bad() || reason == 0))) {
            snprintf(comment, comment_size, "%s item %lu is incomplete",
                     failed ? "Failed SOP Sequence" : "Referenced SOP Sequence", i + 1);
            return false;
        }
        classes.push_back(cls.c_str());
        uids.push_back(uid.c_str());
        reasons.push_back(failed ? reason : 0);
    }
    return true;
}

static OFCondition send_event_report_rsp(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                         const T_DIMSE_N_EventReportRQ *rq, uint16_t status,
                                         const char *comment)
{
    T_DIMSE_Message msg;
    memset(&msg, 0, sizeof msg);
    msg.CommandField = DIMSE_N_EVENT_REPORT_RSP;
    T_DIMSE_N_EventReportRSP &rsp = msg.msg.NEventReportRSP;
    rsp.MessageIDBeingRespondedTo = rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq->AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq->AffectedSOPInstanceUID,
                        sizeof rsp.AffectedSOPInstanceUID);
    rsp.EventTypeID = rq->EventTypeID;
    rsp.opts = O_NEVENTREPORT_AFFECTEDSOPCLASSUID | O_NEVENTREPORT_AFFECTEDSOPINSTANCEUID |
               O_NEVENTREPORT_EVENTTYPEID;
    return send_response(assoc, pid, &msg, comment);
}

bool iso_dcm_serve_commit_report(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                 T_DIMSE_N_EventReportRQ *rq, const iso_scp_handlers *h,
                                 long timeout, iso_assoc_counts *counts, char *why,
                                 size_t why_size)
{
    DcmDataset ds;
    uint16_t status = 0;
    char comment[128] = "";
    if (rq->DataSetType == DIMSE_DATASET_NULL) {
        status = 0x0120; /* missing attribute */
        snprintf(comment, sizeof comment, "no event information");
    } else if (!iso_dcm_read_identifier(assoc, pid, timeout, ISO_COMMIT_REQUEST_MAX, ds, &status,
                                        comment, sizeof comment, why, why_size)) {
        return false;
    }
    if (status == 0 && (strcmp(rq->AffectedSOPClassUID, ISO_STORAGE_COMMITMENT_CLASS) != 0 ||
                        strcmp(rq->AffectedSOPInstanceUID, ISO_STORAGE_COMMITMENT_INSTANCE) != 0)) {
        status = 0x0117; /* invalid object instance */
        snprintf(comment, sizeof comment, "not the Storage Commitment Push Model instance");
    }
    if (status == 0 && rq->EventTypeID != 1 && rq->EventTypeID != 2) {
        status = 0x0113; /* no such event type */
        snprintf(comment, sizeof comment, "Event Type ID %u", rq->EventTypeID);
    }
    OFString txn;
    if (status == 0 && (ds.findAndGetOFString(DCM_TransactionUID, txn).bad() || txn.empty())) {
        status = 0x0120;
        snprintf(comment, sizeof comment, "no Transaction UID");
    }
    std::vector<std::string> classes, uids;
    std::vector<uint16_t> reasons;
    if (status == 0 &&
        (!report_items(ds, DCM_ReferencedSOPSequence, false, classes, uids, reasons, comment,
                       sizeof comment) ||
         !report_items(ds, DCM_FailedSOPSequence, true, classes, uids, reasons, comment,
                       sizeof comment)))
        status = 0x0120;
    if (status == 0 && h->commit_report == NULL) {
        status = 0x0110; /* processing failure */
        snprintf(comment, sizeof comment, "no storage commitment was asked here");
    }
    if (status == 0) {
        std::vector<iso_commit_item> items(uids.size());
        for (size_t i = 0; i < uids.size(); i++)
            items[i] = {classes[i].c_str(), uids[i].c_str(), reasons[i]};
        status = h->commit_report(h->user, txn.c_str(), items.data(), items.size(), comment,
                                  sizeof comment);
    }
    counts->commit_reports++;
    OFCondition c = send_event_report_rsp(assoc, pid, rq, status, status == 0 ? NULL : comment);
    if (c.bad()) {
        snprintf(why, why_size, "sending N-EVENT-REPORT-RSP: %s", c.text());
        return false;
    }
    return true;
}

/* The report's data set: the transaction, what is committed, what is not. */
void iso_dcm_commit_report_dataset(DcmDataset &ds, const char *transaction_uid,
                                   const iso_commit_item *items, size_t n)
{
    ds.putAndInsertString(DCM_TransactionUID, transaction_uid);
    for (size_t i = 0; i < n; i++) {
        DcmItem *it = NULL;
        const DcmTagKey &seq = items[i].failure == 0 ? DCM_ReferencedSOPSequence
                                                     : DCM_FailedSOPSequence;
        if (ds.findOrCreateSequenceItem(seq, it, -2).bad() || it == NULL)
            continue;
        it->putAndInsertString(DCM_ReferencedSOPClassUID, items[i].sop_class);
        it->putAndInsertString(DCM_ReferencedSOPInstanceUID, items[i].sop_uid);
        if (items[i].failure != 0)
            it->putAndInsertUint16(DCM_FailureReason, items[i].failure);
    }
}
