/* dcm_scp.cc — serving one association on a socket the C side accepted.
 *
 * Design note: who owns accept().
 *   DCMTK's ASC_receiveAssociation normally calls accept() itself and then
 *   reads the A-ASSOCIATE-RQ, all in the caller's thread: one slow or silent
 *   client would hold up every other caller.  Instead net/scp.c accepts,
 *   waits (in the connection's own thread) until the whole A-ASSOCIATE-RQ PDU
 *   is in the socket buffer, and only then hands the socket to DCMTK through
 *   dcmExternalSocketHandle — DCMTK's documented hook for inetd-style
 *   servers.  That hook is a process-wide slot, so the hand-off holds the
 *   server's mutex; the PDU read inside it cannot block because the bytes
 *   are already there.  Setting the slot while the network is created also
 *   stops DCMTK from opening a listen socket of its own.
 *
 * Association life (PS3.8 state machine as DCMTK implements it):
 *   receive RQ -> (reject | accept) -> loop { command -> data -> response }
 *   -> release (RQ/RP) | peer abort | our abort on timeout, error, shutdown.
 *   Normal release, abort and timeout are outcomes, not errors.
 */
#include "dicom/dcm_internal.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcostrma.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/dul.h"

#include "tls/tls.h"

struct iso_dcm_server {
    T_ASC_Network *net;
    iso_scp_params params;
    pthread_mutex_t handoff; /* guards DCMTK's dcmExternalSocketHandle slot */
};

struct iso_dcm_assoc {
    iso_dcm_server *srv;
    T_ASC_Association *assoc;
    int fd; /* our reference to the socket; DCMTK holds a dup */
};

extern "C" iso_code iso_dcm_server_new(const iso_scp_params *params, iso_dcm_server **out,
                                       iso_err *err)
{
    *out = NULL;
    iso_dcm_server *srv = (iso_dcm_server *)calloc(1, sizeof *srv);
    if (srv == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    srv->params = *params;
    if (pthread_mutex_init(&srv->handoff, NULL) != 0) {
        free(srv);
        return iso_fail(err, ISO_ENOMEM, "mutex init failed");
    }
    dcmSocketSendTimeout.set((Sint32)params->network_timeout);
    dcmSocketReceiveTimeout.set((Sint32)params->network_timeout);
    dcmDisableGethostbyaddr.set(OFTrue);
    /* A valid descriptor in the slot tells DUL not to create a listen socket. */
    dcmExternalSocketHandle.set(STDERR_FILENO);
    OFCondition c = ASC_initializeNetwork(NET_ACCEPTOR, 0, (int)params->acse_timeout, &srv->net);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    if (c.good())
        c = iso_dcm_use_transport(srv->net, params->dimse_timeout, params->network_timeout, NULL);
    if (c.bad()) {
        if (srv->net)
            ASC_dropNetwork(&srv->net);
        pthread_mutex_destroy(&srv->handoff);
        free(srv);
        return iso_fail(err, ISO_ENET, "cannot initialise DICOM network: %s", c.text());
    }
    *out = srv;
    return ISO_OK;
}

extern "C" void iso_dcm_server_free(iso_dcm_server *srv)
{
    if (srv == NULL)
        return;
    ASC_dropNetwork(&srv->net);
    pthread_mutex_destroy(&srv->handoff);
    free(srv);
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ')
        i++;
    if (i)
        memmove(s, s + i, strlen(s + i) + 1);
}

extern "C" iso_code iso_dcm_assoc_receive(iso_dcm_server *srv, int fd, struct ssl_st *tls,
                                          const unsigned char *rq, size_t rq_len,
                                          iso_dcm_assoc **out, iso_assoc_request *req,
                                          iso_err *err)
{
    *out = NULL;
    memset(req, 0, sizeof *req);
    iso_dcm_assoc *a = (iso_dcm_assoc *)calloc(1, sizeof *a);
    int dcmtk_fd = a ? dup(fd) : -1;
    if (a == NULL || dcmtk_fd < 0) {
        free(a);
        iso_tls_end(tls);
        close(fd);
        return iso_fail(err, ISO_ENOMEM, "cannot set up association state");
    }
    a->srv = srv;
    a->fd = fd;
    iso_dcm_set_nodelay(fd);

    if (tls != NULL) /* this thread's next connection: TLS, the request read */
        iso_dcm_tls_handoff(tls, rq, rq_len);
    pthread_mutex_lock(&srv->handoff);
    dcmExternalSocketHandle.set(dcmtk_fd);
    OFCondition c = ASC_receiveAssociation(srv->net, &a->assoc, srv->params.max_pdu, NULL, NULL,
                                           tls != NULL ? OFTrue : OFFalse, DUL_NOBLOCK,
                                           (int)srv->params.acse_timeout);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    pthread_mutex_unlock(&srv->handoff);
    if (tls != NULL)
        iso_tls_end(iso_dcm_tls_handoff_left()); /* DUL never took it: ours to end */

    if (a->assoc == NULL) {
        /* DUL failed before it took the descriptor over. */
        close(dcmtk_fd);
    }
    if (c.bad()) {
        iso_fail(err, ISO_ENET, "bad association request: %s", c.text());
        iso_dcm_assoc_free(a);
        return ISO_ENET;
    }
    T_ASC_Parameters *p = a->assoc->params;
    char calling[65] = "", called[65] = "", responding[65] = "";
    ASC_getAPTitles(p, calling, sizeof calling, called, sizeof called, responding,
                    sizeof responding);
    trim(calling);
    trim(called);
    snprintf(req->calling_ae, sizeof req->calling_ae, "%s", calling);
    snprintf(req->called_ae, sizeof req->called_ae, "%s", called);
    snprintf(req->peer_ip, sizeof req->peer_ip, "%s", p->DULparams.callingPresentationAddress);
    ASC_getApplicationContextName(p, req->app_context, sizeof req->app_context);
    req->n_proposed = ASC_countPresentationContexts(p);
    *out = a;
    return ISO_OK;
}

extern "C" iso_code iso_dcm_assoc_reject(iso_dcm_assoc *a, iso_reject_reason reason, iso_err *err)
{
    T_ASC_RejectParameters rj;
    switch (reason) {
    case ISO_REJECT_CALLED_AE:
        rj = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
              ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED};
        break;
    case ISO_REJECT_CALLING_AE:
        rj = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
              ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED};
        break;
    case ISO_REJECT_LIMIT:
        rj = {ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
              ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
        break;
    case ISO_REJECT_APP_CONTEXT:
        rj = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
              ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED};
        break;
    case ISO_REJECT_BUSY:
        rj = {ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON};
        break;
    default:
        rj = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON};
        break;
    }
    OFCondition c = ASC_rejectAssociation(a->assoc, &rj);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "cannot send A-ASSOCIATE-RJ: %s", c.text());
    return ISO_OK;
}

static bool abstract_syntax_ok(const char *uid)
{
    if (strcmp(uid, UID_VerificationSOPClass) == 0 || iso_dcm_is_find_class(uid) ||
        iso_dcm_is_move_class(uid) || iso_dcm_is_get_class(uid) || iso_dcm_is_commit_class(uid))
        return true;
    return dcmIsaStorageSOPClassUID(uid, ESSC_All);
}

/* Queries are read and answered in an uncompressed syntax. */
static bool syntax_ok_for(const char *abstract, const char *ts)
{
    if (!iso_dcm_ts_supported(ts))
        return false;
    if (!iso_dcm_is_find_class(abstract) && !iso_dcm_is_move_class(abstract) &&
        !iso_dcm_is_get_class(abstract) && !iso_dcm_is_commit_class(abstract))
        return true;
    return strcmp(ts, UID_LittleEndianImplicitTransferSyntax) == 0 ||
           strcmp(ts, UID_LittleEndianExplicitTransferSyntax) == 0 ||
           strcmp(ts, UID_BigEndianExplicitTransferSyntax) == 0;
}

extern "C" iso_code iso_dcm_assoc_accept(iso_dcm_assoc *a, int *n_accepted, char *summary,
                                         size_t summary_size, iso_err *err)
{
    T_ASC_Parameters *p = a->assoc->params;
    ASC_setAPTitles(p, NULL, NULL, NULL);
    snprintf(p->ourImplementationClassUID, sizeof p->ourImplementationClassUID, "%s",
             ISO_IMPLEMENTATION_CLASS_UID);
    snprintf(p->ourImplementationVersionName, sizeof p->ourImplementationVersionName, "%s",
             ISO_IMPLEMENTATION_VERSION);
    int n = ASC_countPresentationContexts(p);
    int accepted = 0;
    size_t used = 0;
    if (summary_size)
        summary[0] = '\0';
    for (int i = 0; i < n; i++) {
        T_ASC_PresentationContext pc;
        if (ASC_getPresentationContext(p, i, &pc).bad())
            continue;
        const char *chosen = NULL;
        T_ASC_P_ResultReason why = ASC_P_ABSTRACTSYNTAXNOTSUPPORTED;
        if (abstract_syntax_ok(pc.abstractSyntax)) {
            why = ASC_P_TRANSFERSYNTAXESNOTSUPPORTED;
            /* The requester's first choice we can store: a store node keeps
             * what the modality sends rather than imposing an encoding. */
            for (int t = 0; t < pc.transferSyntaxCount && chosen == NULL; t++)
                if (syntax_ok_for(pc.abstractSyntax, pc.proposedTransferSyntaxes[t]))
                    chosen = pc.proposedTransferSyntaxes[t];
        }
        /* a storage context proposed with the SCP role (a C-GET requester
         * that receives) is accepted in the role proposed, and so is a
         * Storage Commitment context a committer proposes in the SCP role
         * to send the node its report */
        T_ASC_SC_ROLE role = dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All) ||
                                     iso_dcm_is_commit_class(pc.abstractSyntax)
                                 ? pc.proposedRole
                                 : ASC_SC_ROLE_DEFAULT;
        if (chosen != NULL &&
            ASC_acceptPresentationContext(p, pc.presentationContextID, chosen, role).good()) {
            accepted++;
            /* The log names the distinct transfer syntaxes accepted. */
            const char *tsname = dcmFindNameOfUID(chosen, chosen);
            if (strstr(summary, tsname) == NULL && used + strlen(tsname) + 2 < summary_size) {
                int w = snprintf(summary + used, summary_size - used, "%s%s", used ? "," : "",
                                 tsname);
                if (w > 0)
                    used += (size_t)w;
            }
        } else {
            ASC_refusePresentationContext(p, pc.presentationContextID, why);
        }
    }
    *n_accepted = accepted;
    if (accepted == 0) {
        /* what was proposed, by name, so the log says why nothing fitted */
        char proposed[600] = "";
        size_t used = 0;
        for (int i = 0; i < n && used + 1 < sizeof proposed; i++) {
            T_ASC_PresentationContext pc;
            if (ASC_getPresentationContext(p, i, &pc).bad())
                continue;
            int w = snprintf(proposed + used, sizeof proposed - used, "%s%s [", i ? "; " : "",
                             dcmFindNameOfUID(pc.abstractSyntax, pc.abstractSyntax));
            for (int t = 0; w > 0 && t < pc.transferSyntaxCount; t++)
                if ((size_t)w < sizeof proposed - used)
                    w += snprintf(proposed + used + w, sizeof proposed - used - (size_t)w, "%s%s",
                                  t ? ", " : "",
                                  dcmFindNameOfUID(pc.proposedTransferSyntaxes[t],
                                                   pc.proposedTransferSyntaxes[t]));
            if (w > 0 && (size_t)w < sizeof proposed - used)
                w += snprintf(proposed + used + w, sizeof proposed - used - (size_t)w, "]");
            if (w < 0 || (size_t)w >= sizeof proposed - used) {
                memcpy(proposed + sizeof proposed - 5, " ...", 5); /* cut, and said so */
                break;
            }
            used += (size_t)w;
        }
        iso_err ignored = {};
        iso_dcm_assoc_reject(a, ISO_REJECT_NO_REASON, &ignored);
        return iso_fail(err, ISO_EINVAL, "no acceptable presentation context among %d proposed: %s",
                        n, proposed);
    }
    OFCondition c = ASC_acknowledgeAssociation(a->assoc);
    if (c.bad())
        return iso_fail(err, ISO_ENET, "cannot send A-ASSOCIATE-AC: %s", c.text());
    return ISO_OK;
}

/* DcmConsumer that forwards received bytes to the C sink.  A sink error is
 * remembered and later bytes are swallowed, so DCMTK reads the data set to
 * its end and a proper failure response can still be sent. */
class SinkConsumer : public DcmConsumer {
  public:
    explicit SinkConsumer(iso_store_sink *sink) : sink_(sink) {}
    OFBool good() const override { return OFTrue; }
    OFCondition status() const override { return EC_Normal; }
    OFBool isFlushed() const override { return OFTrue; }
    offile_off_t avail() const override { return 1 << 30; }
    offile_off_t write(const void *buf, offile_off_t len) override
    {
        if (!failed_ && len > 0) {
            iso_err e = {};
            if (sink_->write(sink_->ctx, buf, (size_t)len, &e) != ISO_OK)
                failed_ = true;
        }
        bytes_ += (unsigned long long)len;
        return len;
    }
    void flush() override {}
    unsigned long long bytes() const { return bytes_; }

  private:
    iso_store_sink *sink_;
    bool failed_ = false;
    unsigned long long bytes_ = 0;
};

class SinkStream : public DcmOutputStream {
  public:
    explicit SinkStream(DcmConsumer *c) : DcmOutputStream(c) {}
};

static OFCondition send_store_rsp(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                  T_DIMSE_C_StoreRQ *rq, uint16_t status, const char *comment)
{
    T_DIMSE_C_StoreRSP rsp;
    memset(&rsp, 0, sizeof rsp);
    rsp.MessageIDBeingRespondedTo = rq->MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq->AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq->AffectedSOPInstanceUID,
                        sizeof rsp.AffectedSOPInstanceUID);
    rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    DcmDataset detail;
    DcmDataset *detailp = NULL;
    if (status != ISO_STATUS_SUCCESS && comment != NULL && comment[0] != '\0') {
        char lo[65];
        snprintf(lo, sizeof lo, "%s", comment);
        detail.putAndInsertString(DCM_ErrorComment, lo);
        detailp = &detail;
    }
    return DIMSE_sendStoreResponse(assoc, pid, rq, &rsp, detailp);
}

/* Handles one C-STORE-RQ.  Returns false if the association is broken. */
static bool serve_store(iso_dcm_assoc *a, T_ASC_PresentationContextID pid, T_DIMSE_C_StoreRQ *rq,
                        const iso_scp_handlers *h, iso_assoc_counts *counts, char *why,
                        size_t why_size)
{
    T_ASC_Association *assoc = a->assoc;
    long timeout = a->srv->params.dimse_timeout;
    T_ASC_PresentationContext pc;
    char comment[128] = "";
    uint16_t status = ISO_STATUS_SUCCESS;
    if (ASC_findAcceptedPresentationContext(assoc->params, pid, &pc).bad()) {
        /* DIMSE already refuses unknown contexts; kept as a guard. */
        snprintf(why, why_size, "C-STORE on unknown presentation context %d", pid);
        return false;
    }
    iso_store_rq req = {pid, pc.abstractSyntax, pc.acceptedTransferSyntax,
                        rq->AffectedSOPClassUID, rq->AffectedSOPInstanceUID, rq->MessageID};
    iso_store_sink sink = {NULL, NULL};
    if (strcmp(rq->AffectedSOPClassUID, pc.abstractSyntax) != 0) {
        status = ISO_STATUS_SOP_CLASS_NOT_SUPPORTED;
        snprintf(comment, sizeof comment, "SOP class differs from presentation context");
    } else {
        status = h->store_begin(h->user, &req, &sink, comment, sizeof comment);
    }
    if (status != ISO_STATUS_SUCCESS) {
        /* DCMTK writes both counters unconditionally: they must not be NULL. */
        DIC_UL bytes_read = 0, pdv_count = 0;
        OFCondition c = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, (int)timeout, &bytes_read,
                                            &pdv_count);
        if (c.bad()) {
            snprintf(why, why_size, "reading refused data set: %s", c.text());
            counts->stores_failed++;
            return false;
        }
        counts->stores_failed++;
        c = send_store_rsp(assoc, pid, rq, status, comment);
        if (c.bad()) {
            snprintf(why, why_size, "sending C-STORE-RSP: %s", c.text());
            return false;
        }
        return true;
    }
    SinkConsumer consumer(&sink);
    bool data_ok;
    {
        SinkStream stream(&consumer);
        T_ASC_PresentationContextID data_pid = pid;
        OFCondition c = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, (int)timeout,
                                                   &data_pid, &stream, NULL, NULL);
        data_ok = c.good();
        if (!data_ok)
            snprintf(why, why_size, "receiving data set: %s",
                     iso_dcm_transport_why()[0] ? iso_dcm_transport_why() : c.text());
        else if (data_pid != pid) {
            data_ok = false;
            snprintf(why, why_size, "data set on context %d, command on %d", data_pid, pid);
        }
    }
    counts->bytes += consumer.bytes();
    comment[0] = '\0';
    status = h->store_end(h->user, &req, &sink, data_ok ? 1 : 0, comment, sizeof comment);
    if (!data_ok) {
        counts->stores_failed++;
        return false;
    }
    if (status == ISO_STATUS_SUCCESS)
        counts->stores_ok++;
    else
        counts->stores_failed++;
    OFCondition c = send_store_rsp(assoc, pid, rq, status, comment);
    if (c.bad()) {
        snprintf(why, why_size, "sending C-STORE-RSP: %s", c.text());
        return false;
    }
    return true;
}

extern "C" iso_assoc_end iso_dcm_assoc_serve(iso_dcm_assoc *a, const iso_scp_handlers *h,
                                             iso_assoc_counts *counts, char *why, size_t why_size)
{
    T_ASC_Association *assoc = a->assoc;
    long dimse_timeout = a->srv->params.dimse_timeout;
    int idle = 0;
    why[0] = '\0';
    iso_dcm_transport_clear();
    for (;;) {
        if (h->should_abort(h->user, idle)) {
            ASC_abortAssociation(assoc);
            snprintf(why, why_size, "shutting down");
            return ISO_END_SHUTDOWN;
        }
        /* Wait in one-second slices so shutdown is noticed while idle. */
        if (!ASC_dataWaiting(assoc, 1)) {
            if (++idle >= dimse_timeout) {
                ASC_abortAssociation(assoc);
                snprintf(why, why_size, "no message for %ld s", dimse_timeout);
                return ISO_END_TIMEOUT;
            }
            continue;
        }
        idle = 0;
        T_DIMSE_Message msg;
        T_ASC_PresentationContextID pid = 0;
        OFCondition c;
        {
            IsoAllocCap cap(ISO_COMMAND_ALLOC_CAP);
            c = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, (int)dimse_timeout, &pid, &msg,
                                     NULL);
        }
        if (c == DUL_PEERREQUESTEDRELEASE) {
            ASC_acknowledgeRelease(assoc);
            return ISO_END_RELEASED;
        }
        if (c == DUL_PEERABORTEDASSOCIATION) {
            snprintf(why, why_size, "peer sent A-ABORT");
            return ISO_END_PEER_ABORTED;
        }
        if (c == DIMSE_NODATAAVAILABLE) {
            ASC_abortAssociation(assoc);
            snprintf(why, why_size, "incomplete message for %ld s", dimse_timeout);
            return ISO_END_TIMEOUT;
        }
        if (c.bad()) {
            /* the transport's own refusal (a trickled PDU, a command set
             * nested too deep) says more than DUL's "connection closed" */
            snprintf(why, why_size, "%s",
                     iso_dcm_transport_why()[0] ? iso_dcm_transport_why() : c.text());
            ASC_abortAssociation(assoc);
            return ISO_END_ERROR;
        }
        switch (msg.CommandField) {
        case DIMSE_C_ECHO_RQ:
            c = DIMSE_sendEchoResponse(assoc, pid, &msg.msg.CEchoRQ, STATUS_Success, NULL);
            if (c.bad()) {
                snprintf(why, why_size, "sending C-ECHO-RSP: %s", c.text());
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            counts->echoes++;
            break;
        case DIMSE_C_STORE_RQ:
            if (!serve_store(a, pid, &msg.msg.CStoreRQ, h, counts, why, why_size)) {
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            break;
        case DIMSE_C_MOVE_RQ:
            if (!iso_dcm_serve_move(assoc, pid, &msg.msg.CMoveRQ, h, dimse_timeout, counts, why,
                                    why_size)) {
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            break;
        case DIMSE_N_ACTION_RQ:
            switch (iso_dcm_serve_commit(assoc, pid, &msg.msg.NActionRQ, h, dimse_timeout, counts,
                                         why, why_size)) {
            case ISO_COMMIT_SERVE_RELEASED:
                return ISO_END_RELEASED;
            case ISO_COMMIT_SERVE_FAILED:
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            default:
                break;
            }
            break;
        case DIMSE_N_EVENT_REPORT_RQ:
            if (!iso_dcm_serve_commit_report(assoc, pid, &msg.msg.NEventReportRQ, h,
                                             dimse_timeout, counts, why, why_size)) {
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            break;
        case DIMSE_C_GET_RQ:
            if (!iso_dcm_serve_get(assoc, pid, &msg.msg.CGetRQ, h, dimse_timeout, counts, why,
                                   why_size)) {
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            break;
        case DIMSE_C_FIND_RQ:
            if (!iso_dcm_serve_find(assoc, pid, &msg.msg.CFindRQ, h, dimse_timeout, counts, why,
                                    why_size)) {
                ASC_abortAssociation(assoc);
                return ISO_END_ERROR;
            }
            break;
        default:
            /* Only Verification, Storage and FIND contexts are ever
             * accepted, so any other command is a protocol violation. */
            snprintf(why, why_size, "unexpected DIMSE command 0x%04x", msg.CommandField);
            ASC_abortAssociation(assoc);
            return ISO_END_ERROR;
        }
    }
}

extern "C" void iso_dcm_assoc_free(iso_dcm_assoc *a)
{
    if (a == NULL)
        return;
    if (a->assoc != NULL) {
        ASC_dropSCPAssociation(a->assoc, 1);
        ASC_destroyAssociation(&a->assoc);
    }
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}
