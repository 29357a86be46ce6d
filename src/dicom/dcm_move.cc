/* dcm_move.cc — one C-MOVE or C-GET on an accepted association
 * (Query/Retrieve MOVE and GET, Patient Root and Study Root): the
 * identifier read like a C-FIND's (dcm_find.cc), the retrieval run by the
 * C handler (src/net/move.c: who may ask, which objects; for C-MOVE the
 * association to the destination, for C-GET C-STOREs back on this
 * association through the storage contexts the requester proposed with the
 * SCP role), a pending response with the sub-operation counts after each
 * object, a C-CANCEL looked for between them, and the final response.
 */
#include "dicom/dcm_internal.h"

#include <string.h>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"

bool iso_dcm_is_move_class(const char *uid)
{
    return strcmp(uid, UID_MOVEPatientRootQueryRetrieveInformationModel) == 0 ||
           strcmp(uid, UID_MOVEStudyRootQueryRetrieveInformationModel) == 0;
}

bool iso_dcm_is_get_class(const char *uid)
{
    return strcmp(uid, UID_GETPatientRootQueryRetrieveInformationModel) == 0 ||
           strcmp(uid, UID_GETStudyRootQueryRetrieveInformationModel) == 0;
}

namespace {

struct MoveState {
    T_ASC_Association *assoc;
    T_ASC_PresentationContextID pid;
    T_DIMSE_C_MoveRQ *rq;    /* C-MOVE, or */
    T_DIMSE_C_GetRQ *get_rq; /* C-GET */
    long timeout;
    bool failed_send; /* a response or sub-operation could not go: the requester is gone */
};

/* A C-GET-RSP (DCMTK 3.6.7 has no sender of its own for it). */
OFCondition send_get_rsp(MoveState *m, uint16_t status, const iso_move_counts *n, bool final,
                         const char *comment)
{
    T_DIMSE_Message msg;
    memset(&msg, 0, sizeof msg);
    msg.CommandField = DIMSE_C_GET_RSP;
    T_DIMSE_C_GetRSP &rsp = msg.msg.CGetRSP;
    rsp.MessageIDBeingRespondedTo = m->get_rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, m->get_rq->AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_GET_AFFECTEDSOPCLASSUID;
    if (!final || n->remaining + n->completed + n->failed + n->warning > 0) {
        rsp.NumberOfRemainingSubOperations = (Uint16)n->remaining;
        rsp.NumberOfCompletedSubOperations = (Uint16)n->completed;
        rsp.NumberOfFailedSubOperations = (Uint16)n->failed;
        rsp.NumberOfWarningSubOperations = (Uint16)n->warning;
        rsp.opts |= O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS | O_GET_NUMBEROFFAILEDSUBOPERATIONS |
                    O_GET_NUMBEROFWARNINGSUBOPERATIONS;
        if (!final)
            rsp.opts |= O_GET_NUMBEROFREMAININGSUBOPERATIONS;
    }
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (comment != NULL && comment[0] != '\0') {
        detail.putAndInsertString(DCM_ErrorComment, comment);
        detailp = &detail;
    }
    return DIMSE_sendMessageUsingMemoryData(m->assoc, m->pid, &msg, detailp, NULL, NULL, NULL);
}

OFCondition send_rsp(MoveState *m, uint16_t status, const iso_move_counts *n, bool final,
                     const char *comment)
{
    T_DIMSE_C_MoveRSP rsp;
    memset(&rsp, 0, sizeof rsp);
    rsp.MessageIDBeingRespondedTo = m->rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, m->rq->AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
    if (!final || n->remaining + n->completed + n->failed + n->warning > 0) {
        rsp.NumberOfRemainingSubOperations = (Uint16)n->remaining;
        rsp.NumberOfCompletedSubOperations = (Uint16)n->completed;
        rsp.NumberOfFailedSubOperations = (Uint16)n->failed;
        rsp.NumberOfWarningSubOperations = (Uint16)n->warning;
        rsp.opts |= O_MOVE_NUMBEROFREMAININGSUBOPERATIONS |
                    O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS | O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
                    O_MOVE_NUMBEROFWARNINGSUBOPERATIONS;
        if (final) /* a final response has no remaining count (PS3.7 C.4.2.1.6) */
            rsp.opts &= ~O_MOVE_NUMBEROFREMAININGSUBOPERATIONS;
    }
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (comment != NULL && comment[0] != '\0') {
        detail.putAndInsertString(DCM_ErrorComment, comment);
        detailp = &detail;
    }
    return DIMSE_sendMoveResponse(m->assoc, m->pid, m->rq, &rsp, NULL, detailp);
}

/* After each sub-operation: a pending response; non-zero if cancelled. */
int report(void *rctx, const iso_move_counts *n)
{
    MoveState *m = (MoveState *)rctx;
    if (m->failed_send)
        return 1;
    OFCondition c = m->get_rq != NULL ? send_get_rsp(m, STATUS_Pending, n, false, NULL)
                                      : send_rsp(m, STATUS_Pending, n, false, NULL);
    if (c.bad()) {
        m->failed_send = true;
        return 1;
    }
    IsoAllocCap cap(ISO_COMMAND_ALLOC_CAP);
    DIC_US id = m->get_rq != NULL ? m->get_rq->MessageID : m->rq->MessageID;
    return DIMSE_checkForCancelRQ(m->assoc, m->pid, id).good() ? 1 : 0;
}

/* A C-GET sub-operation: the object back on this association. */
uint16_t store_back(void *sctx, const char *path)
{
    MoveState *m = (MoveState *)sctx;
    if (m->failed_send)
        return 0xFFFE;
    iso_err e = {};
    uint16_t status = iso_dcm_store_on(m->assoc, path, m->timeout, &e);
    if (status == 0xFFFE)
        m->failed_send = true;
    return status;
}

} // namespace

/* C-MOVE and C-GET alike: read the request, run the handler (sending the
 * pending responses), answer with the final status and counts. */
static bool serve_retrieve(MoveState &m, const char *sop_class, const char *destination,
                           const iso_scp_handlers *h, iso_assoc_counts *counts, char *why,
                           size_t why_size)
{
    IsoQrRequest r;
    if (!iso_dcm_read_qr_request(m.assoc, m.pid, m.timeout, r, why, why_size))
        return false;
    counts->moves++;
    bool get = m.get_rq != NULL;
    uint16_t status = r.status;
    iso_move_counts done = {0, 0, 0, 0};
    if (status == 0) {
        iso_move_rq req = {{sop_class, r.level.c_str(), r.keys.data(), r.keys.size()},
                           destination};
        status = get ? h->get(h->user, &req, store_back, report, &m, &done, r.comment,
                              sizeof r.comment)
                     : h->move(h->user, &req, report, &m, &done, r.comment, sizeof r.comment);
    }
    counts->moved += done.completed + done.warning;
    const char *what = get ? "C-GET-RSP" : "C-MOVE-RSP";
    if (m.failed_send) {
        snprintf(why, why_size, "a %s or sub-operation could not be sent", what);
        return false;
    }
    const char *comment = status == 0 ? NULL : r.comment;
    OFCondition c = get ? send_get_rsp(&m, status, &done, true, comment)
                        : send_rsp(&m, status, &done, true, comment);
    if (c.bad()) {
        snprintf(why, why_size, "sending %s: %s", what, c.text());
        return false;
    }
    return true;
}

bool iso_dcm_serve_move(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                        T_DIMSE_C_MoveRQ *rq, const iso_scp_handlers *h, long timeout,
                        iso_assoc_counts *counts, char *why, size_t why_size)
{
    MoveState m = {assoc, pid, rq, NULL, timeout, false};
    return serve_retrieve(m, rq->AffectedSOPClassUID, rq->MoveDestination, h, counts, why,
                          why_size);
}

bool iso_dcm_serve_get(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                       T_DIMSE_C_GetRQ *rq, const iso_scp_handlers *h, long timeout,
                       iso_assoc_counts *counts, char *why, size_t why_size)
{
    MoveState m = {assoc, pid, NULL, rq, timeout, false};
    return serve_retrieve(m, rq->AffectedSOPClassUID, "", h, counts, why, why_size);
}
