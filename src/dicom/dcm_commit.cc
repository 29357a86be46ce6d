/* dcm_commit.cc — Storage Commitment Push Model (PS3.4 J) in the adapter:
 * an N-ACTION on an accepted association (the request read like any
 * identifier: capped, scanned for nesting, then parsed; its Transaction UID
 * and Referenced SOP Sequence handed to the C handler, which records the
 * transaction before the N-ACTION-RSP goes), and the N-EVENT-REPORT the
 * node sends later on an association of its own (dcm_scu.cc opens it).
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
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (comment != NULL && comment[0] != '\0') {
        detail.putAndInsertString(DCM_ErrorComment, comment);
        detailp = &detail;
    }
    return DIMSE_sendMessageUsingMemoryData(assoc, pid, &msg, detailp, NULL, NULL, NULL);
}

bool iso_dcm_serve_commit(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
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
        return false;
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
