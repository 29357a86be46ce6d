/* dcm_internal.h — what the adapter's .cc files share among themselves.
 * C++ only; never included from C. */
#ifndef ISO_DCM_INTERNAL_H
#define ISO_DCM_INTERNAL_H

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"

#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcitem.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "dicom/dicom.h"
#include "util/path.h"

/* Sets TCP_NODELAY on a socket. */
void iso_dcm_set_nodelay(int fd);
/* Installs the transport of dcm_transport.cc on net: every connection it
 * creates (outgoing and incoming) has TCP_NODELAY, must deliver each PDU
 * whole within pdu_seconds of its first byte, and has its command sets
 * scanned for nesting before DCMTK parses them. */
OFCondition iso_dcm_use_transport(T_ASC_Network *net, long pdu_seconds, long io_seconds,
                                  const iso_dcm_tls_client *client);
/* C-FIND (dcm_find.cc): is uid a FIND model we serve; one C-FIND, false
 * if the association cannot go on (why says it). */
bool iso_dcm_is_find_class(const char *uid);
/* A request's data set (a C-FIND or C-MOVE identifier: 64 KiB at most; an
 * N-ACTION's list of instances: ISO_COMMIT_REQUEST_MAX), read into memory
 * up to max_bytes, scanned for nesting, parsed and converted to UTF-8: true
 * with status 0, or with the failure status to answer (comment says why);
 * false if the association cannot go on. */
enum { ISO_QR_IDENTIFIER_MAX = 64 << 10, ISO_COMMIT_REQUEST_MAX = 16 << 20 };
bool iso_dcm_read_identifier(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                             long timeout, size_t max_bytes, DcmDataset &ds, uint16_t *status,
                             char *comment, size_t comment_size, char *why, size_t why_size);
/* The identifier's keys (not the level or the character set) in order;
 * keywords and values live in the two vectors. */
void iso_dcm_identifier_keys(DcmDataset &ds, std::vector<iso_find_key> &keys,
                             std::vector<std::string> &keywords, std::vector<std::string> &values,
                             std::vector<DcmTag> *tags);
/* Storage commitment (dcm_commit.cc). */
bool iso_dcm_is_commit_class(const char *uid);
/* An N-ACTION served: go on, the association failed (why says it), or the
 * requester released it while the node reported on it. */
enum { ISO_COMMIT_SERVE_GO_ON = 1, ISO_COMMIT_SERVE_FAILED = 0, ISO_COMMIT_SERVE_RELEASED = 2 };
int iso_dcm_serve_commit(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                         T_DIMSE_N_ActionRQ *rq, const iso_scp_handlers *h, long timeout,
                         iso_assoc_counts *counts, char *why, size_t why_size);
/* A peer's report on what the node asked it to commit: false if the
 * association cannot go on. */
bool iso_dcm_serve_commit_report(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                 T_DIMSE_N_EventReportRQ *rq, const iso_scp_handlers *h,
                                 long timeout, iso_assoc_counts *counts, char *why,
                                 size_t why_size);
/* Sends an N-EVENT-REPORT-RQ (the report of transaction_uid) on pid and
 * waits for its answer: 0 when the peer answered success; otherwise cond
 * (the DIMSE condition) and why say what happened. */
OFCondition iso_dcm_send_event_report(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                                      const char *transaction_uid, const iso_commit_item *items,
                                      size_t n, DIC_US *msg_id);
int iso_dcm_await_event_report_rsp(T_ASC_Association *assoc, long timeout, DIC_US msg_id,
                                   OFCondition *cond, char *why, size_t why_size);
void iso_dcm_commit_report_dataset(DcmDataset &ds, const char *transaction_uid,
                                   const iso_commit_item *items, size_t n);
/* A Query/Retrieve request's identifier, read (iso_dcm_read_identifier)
 * and described: its level and keys; status 0, or the failure to answer. */
struct IsoQrRequest {
    DcmDataset ds;
    OFString level;
    std::vector<iso_find_key> keys;
    std::vector<std::string> keywords, values;
    std::vector<DcmTag> tags;
    uint16_t status = 0;
    char comment[128] = "";
};
/* false: the association cannot go on (why says it). */
bool iso_dcm_read_qr_request(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                             long timeout, IsoQrRequest &r, char *why, size_t why_size);
/* C-MOVE and C-GET (dcm_move.cc). */
bool iso_dcm_is_move_class(const char *uid);
bool iso_dcm_is_get_class(const char *uid);
bool iso_dcm_serve_get(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                       T_DIMSE_C_GetRQ *rq, const iso_scp_handlers *h, long timeout,
                       iso_assoc_counts *counts, char *why, size_t why_size);
/* One stored file as a C-STORE on an open association (dcm_scu.cc): the
 * peer's status, 0xFFFF if no accepted context fits, 0xFFFE if the
 * association failed (err says why). */
uint16_t iso_dcm_store_on(T_ASC_Association *assoc, const char *path, long timeout, iso_err *err);
bool iso_dcm_serve_move(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                        T_DIMSE_C_MoveRQ *rq, const iso_scp_handlers *h, long timeout,
                        iso_assoc_counts *counts, char *why, size_t why_size);
bool iso_dcm_serve_find(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
                        T_DIMSE_C_FindRQ *rq, const iso_scp_handlers *h, long timeout,
                        iso_assoc_counts *counts, char *why, size_t why_size);
/* The TLS session (handshake done) and the A-ASSOCIATE-RQ already read from
 * it, for the connection DUL creates next in this thread; after
 * ASC_receiveAssociation, iso_dcm_tls_handoff_left returns the session if
 * DUL never took it (the caller then ends it). */
void iso_dcm_tls_handoff(struct ssl_st *ssl, const unsigned char *prefix, size_t len);
struct ssl_st *iso_dcm_tls_handoff_left(void);
/* Why the transport of this thread's association refused to read on
 * ("" if it did not); cleared by iso_dcm_transport_clear. */
const char *iso_dcm_transport_why(void);
void iso_dcm_transport_clear(void);

/* While alive, DCMTK's value allocations on this thread above cap bytes
 * fail (see dcm_alloc.cc).  Nests: the previous cap returns afterwards. */
class IsoAllocCap {
  public:
    explicit IsoAllocCap(size_t cap);
    ~IsoAllocCap();
    IsoAllocCap(const IsoAllocCap &) = delete;
    IsoAllocCap &operator=(const IsoAllocCap &) = delete;

  private:
    size_t previous_;
};

/* Copies the text of tag (all values, trailing padding removed) into out;
 * "" if absent (dcm_common.cc). */
void iso_dcm_copy_str(DcmItem *ds, const DcmTagKey &tag, char *out, size_t outsz);

/* Fills the index attributes from a data set (dcm_common.cc), and converts
 * the data set's text to UTF-8 for them (changes the data set in memory). */
void iso_dcm_fill_attrs(DcmItem *ds, iso_attrs *a);
void iso_dcm_to_utf8(DcmDataset *ds, const iso_attrs *a);

/* Makes a stored or received file safe for DCMTK to parse: its nesting is
 * scanned (iso_nest) and a deflated data set is inflated, under the caps of
 * iso_dcm_set_limits, into a temporary copy named in tmp ("" otherwise).
 * The caller parses tmp[0] ? tmp : path and unlinks tmp when done. */
iso_code iso_dcm_prepare_file(const char *path, iso_path *tmp, iso_err *err);
int iso_dcm_max_nesting(void);
/* Where temporary copies go: iso_dcm_set_limits' tmp_dir, else $TMPDIR or /tmp. */
const char *iso_dcm_tmp_dir(void);
/* Creates a temporary file there named after prefix (path receives its
 * name) and opens it for writing; NULL with err filled if it cannot. */
FILE *iso_dcm_tmp_open(const char *prefix, iso_path *path, iso_err *err);

/* The same, owning the temporary copy: DCMTK reads large values lazily
 * from the file it loaded, so the copy lives as long as the parse. */
class IsoParsePath {
  public:
    IsoParsePath() { tmp_.s[0] = '\0'; }
    ~IsoParsePath()
    {
        if (tmp_.s[0] != '\0')
            unlink(tmp_.s);
    }
    IsoParsePath(const IsoParsePath &) = delete;
    IsoParsePath &operator=(const IsoParsePath &) = delete;
    iso_code prepare(const char *path, iso_err *err)
    {
        path_ = path;
        return iso_dcm_prepare_file(path, &tmp_, err);
    }
    const char *get() const { return tmp_.s[0] != '\0' ? tmp_.s : path_; }

  private:
    const char *path_ = NULL;
    iso_path tmp_;
};

/* Ceiling for a command set: they are a few hundred bytes. */
enum { ISO_COMMAND_ALLOC_CAP = 1 << 20 };

#endif
