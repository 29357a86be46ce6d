/* dicom.h — the plain C face of the DCMTK adapter (the .cc files beside it).
 *
 * Nothing of DCMTK crosses this header: no C++ type, no exception, no DCMTK
 * header.  The adapter offers, in the numbered sections below:
 *
 *   1. reading the attributes the index needs from a stored file, with the
 *      parse limits and the process start-up checks (data dictionary);
 *   2. serving one association on a socket the caller accepted (the C side
 *      decides policy — AE titles, limits, storage — through callbacks, much
 *      like DcmSCP's notify/handle hooks);
 *   3. acting as SCU for C-ECHO and C-STORE to a configured peer;
 *   5. decoding images for reconstruction: geometry per frame and modality
 *      values (Rescale Slope/Intercept applied) for every transfer syntax
 *      we store that carries a greyscale image;
 *   6. rewriting a parsed data set element by element (de-identification);
 *   7. building new objects (derived results).
 *
 * Every association socket the adapter touches has TCP_NODELAY set: Debian's
 * DCMTK 3.6.7 leaves Nagle's algorithm on, which stalls each C-STORE on two
 * ~40 ms delayed ACKs.
 *
 * Ownership: functions that take an fd own it from then on, on success and on
 * failure.  Opaque objects are freed with their _free function, which accepts
 * NULL.
 */
#ifndef ISO_DICOM_H
#define ISO_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- DIMSE status codes we answer with (PS3.7 Annex C, PS3.4 B.2.3) ---- */
enum {
    ISO_STATUS_SUCCESS = 0x0000,
    ISO_STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122,
    ISO_STATUS_NOT_AUTHORIZED = 0x0124,
    ISO_STATUS_OUT_OF_RESOURCES = 0xA700,
    ISO_STATUS_DATASET_MISMATCH = 0xA900,
    ISO_STATUS_CANNOT_UNDERSTAND = 0xC000,
    ISO_STATUS_PROCESSING_FAILURE = 0x0110,
};

/* The UID this implementation puts in associations and file meta headers. */
#define ISO_IMPLEMENTATION_CLASS_UID "2.25.136833058356961116694371467829624465205"
#define ISO_IMPLEMENTATION_VERSION "ISONODE_010"

/* ---- 1. attributes for the index ---- */

typedef struct iso_attrs {
    /* from the file meta header */
    char transfer_syntax[65];
    char meta_sop_class_uid[65];
    char meta_sop_instance_uid[65];
    /* from the data set; text converted to UTF-8 when the character set allows */
    char sop_class_uid[65];
    char sop_instance_uid[65];
    char study_uid[65];
    char series_uid[65];
    char patient_id[256];
    char issuer[256];
    char patient_name[512];
    char birth_date[32];
    char sex[32];
    char study_date[32];
    char study_time[32];
    char accession[64];
    char study_id[64];
    char study_description[256];
    char referring_physician[512];
    char modality[32];
    char series_number[32];
    char series_description[256];
    char body_part[64];
    char laterality[16];             /* (0020,0060) */
    char patient_age[16];            /* (0010,1010) */
    char patient_size[32];           /* (0010,1020) */
    char patient_weight[32];         /* (0010,1030) */
    char instance_number[32];
    char charset[128];               /* what the text fields above are in: "", ISO_IR 6 or
                                        ISO_IR 192 once converted to UTF-8; else the
                                        original set, whose bytes they kept */
    long number_of_frames;
    /* for series completion and routing */
    long images_in_acquisition;      /* (0020,1002), 0 if absent */
    double slice_thickness;          /* (0018,0050) mm, 0 if absent */
    /* for de-identification */
    char frame_of_reference_uid[65];
    char burned_in_annotation[16];   /* (0028,0301) */
    char identity_removed[16];       /* (0012,0062) */
    char deidentification_method[256]; /* (0012,0063), first value */
    char anon_mark[40];              /* (0012,0063) value "isonode-mark X": X, or "" */
    char manufacturer[68];           /* (0008,0070) */
    char model[68];                  /* (0008,1090) Manufacturer's Model Name */
} iso_attrs;

/* What any parse of peer data may cost.  Every parse (received objects,
 * stored files in jobs, de-identification) first scans the nesting depth
 * without recursion and refuses deeper objects (ISO_ENESTING); a deflated
 * data set inflates into tmp_dir under a cap of max(ISO_INFLATE_FLOOR,
 * inflate_ratio x its size) and max_object_bytes (ISO_ELIMIT beyond). */
typedef struct iso_dcm_limits {
    int max_nesting;
    unsigned long long max_object_bytes;
    long inflate_ratio;
    const char *tmp_dir; /* "" or NULL: $TMPDIR, else /tmp */
} iso_dcm_limits;
#define ISO_INFLATE_FLOOR (64ull << 20)
/* Sets the limits (copied); call at start-up before any thread parses.
 * Until then: nesting 32, 4 GiB, ratio 200, $TMPDIR.  Fails (changing
 * nothing) if tmp_dir is too long a path. */
iso_code iso_dcm_set_limits(const iso_dcm_limits *l, iso_err *err);

/* Checks that DCMTK's data dictionary is loaded; call once at start-up. */
iso_code iso_dcm_init(iso_err *err);

/* Parses a DICOM file (Part 10) and fills a.  Fails with ISO_EDICOM if the
 * file does not parse to its end. */
iso_code iso_dcm_read_attrs(const char *path, iso_attrs *a, iso_err *err);

/* Writes the Part 10 preamble and File Meta Information for an object into
 * buf (explicit VR little endian, group length computed).  Returns bytes
 * written, or 0 if buf is too small. */
size_t iso_dcm_meta_header(unsigned char *buf, size_t bufsz, const char *sop_class,
                           const char *sop_instance, const char *ts_uid, const char *source_ae);

/* ---- 2. serving associations ---- */

typedef struct iso_dcm_server iso_dcm_server; /* one per process */
typedef struct iso_dcm_assoc iso_dcm_assoc;

typedef struct iso_scp_params {
    long max_pdu;
    long acse_timeout;
    long dimse_timeout;
    long network_timeout;
} iso_scp_params;

typedef struct iso_assoc_request {
    char calling_ae[17];
    char called_ae[17];
    char peer_ip[64];
    char app_context[65];
    int n_proposed;
} iso_assoc_request;

typedef enum {
    ISO_REJECT_CALLED_AE = 1,   /* permanent, service user, called AE not recognized */
    ISO_REJECT_CALLING_AE = 2,  /* permanent, service user, calling AE not recognized */
    ISO_REJECT_LIMIT = 3,       /* transient, service provider (presentation), local limit exceeded */
    ISO_REJECT_NO_REASON = 4,   /* permanent, service user, no reason given */
    ISO_REJECT_APP_CONTEXT = 5, /* permanent, service user, application context not supported */
    ISO_REJECT_BUSY = 6,        /* transient, service user, no reason (shutting down) */
} iso_reject_reason;

typedef struct iso_store_rq {
    unsigned char pres_id;
    const char *abstract_syntax;
    const char *transfer_syntax;
    const char *sop_class_uid;
    const char *sop_instance_uid;
    unsigned message_id;
} iso_store_rq;

/* Where the bytes of a received object go: the Part 10 header first, then
 * the data set exactly as it arrived. */
typedef struct iso_store_sink {
    iso_code (*write)(void *ctx, const void *buf, size_t len, iso_err *err);
    void *ctx;
} iso_store_sink;

/* One key of a C-FIND identifier: its tag, VR, dictionary keyword ("" if
 * unknown) and value in UTF-8 ("" = universal match, or a return key). */
typedef struct iso_find_key {
    uint16_t group, elem;
    char vr[3];
    const char *keyword;
    const char *value;
} iso_find_key;

typedef struct iso_find_rq {
    const char *sop_class; /* the information model's FIND SOP Class */
    const char *level;     /* Query/Retrieve Level: PATIENT, STUDY, SERIES or IMAGE */
    const iso_find_key *keys;
    size_t n_keys;
} iso_find_rq;

/* Storage Commitment Push Model (PS3.4 J): one instance of a transaction,
 * and whether it is committed (failure 0) or why not (a Failure Reason,
 * PS3.3 C.14.1.1: 0x0112 no such object instance, 0x0110 processing
 * failure, 0x0122 SOP class not supported, 0x0119 class/instance
 * mismatch). */
#define ISO_STORAGE_COMMITMENT_CLASS "1.2.840.10008.1.20.1"
#define ISO_STORAGE_COMMITMENT_INSTANCE "1.2.840.10008.1.20.1.1"
typedef struct iso_commit_item {
    const char *sop_class;
    const char *sop_uid;
    uint16_t failure;
} iso_commit_item;

/* A C-MOVE-RQ: the find request's parts, and where the objects go. */
typedef struct iso_move_rq {
    iso_find_rq find;        /* model (a MOVE SOP Class), level and keys */
    const char *destination; /* Move Destination AE title */
} iso_move_rq;

/* Sub-operation counts of a C-MOVE. */
typedef struct iso_move_counts {
    unsigned remaining, completed, failed, warning;
} iso_move_counts;

/* Statuses of a C-MOVE the C side may answer with (and those of C-FIND). */
#define ISO_MOVE_UNKNOWN_DESTINATION 0xA801
#define ISO_MOVE_OUT_OF_RESOURCES_SUBOPS 0xA702
#define ISO_MOVE_SOME_FAILED 0xB000
#define ISO_MOVE_CANCELLED 0xFE00
/* Statuses of a C-FIND the C side may answer with. */
#define ISO_FIND_REFUSED_NOT_AUTHORIZED 0x0124
#define ISO_FIND_IDENTIFIER_DOES_NOT_MATCH 0xA900
#define ISO_FIND_UNABLE_TO_PROCESS 0xC000

typedef struct iso_scp_handlers {
    void *user;
    /* A C-FIND-RQ arrived (identifier parsed): return 0 and a cursor to
     * answer it, or a failure status (comment: an Error Comment). */
    uint16_t (*find_begin)(void *user, const iso_find_rq *rq, void **cursor, char *comment,
                           size_t comment_size);
    /* The next match: 1 and values[i] for keys[i] (NULL: empty), 0 at the
     * end, -1 on failure.  Values stay valid until the next call. */
    int (*find_next)(void *user, void *cursor, const char **values);
    void (*find_end)(void *user, void *cursor);
    /* A storage commitment request (N-ACTION) arrived: return 0 once it is
     * recorded (the report follows later), or a failure status. */
    uint16_t (*commit)(void *user, const char *transaction_uid, const iso_commit_item *items,
                       size_t n, char *comment, size_t comment_size);
    /* Called after a recorded request was answered (commit returned 0):
     * send is non-NULL when the requester stayed on the association, idle,
     * and the report may go on it: send(sctx, items, n, transaction_uid)
     * returns 0 when the requester took it.  send NULL: it left or went on
     * with something else, the report goes on an association of the node's
     * own.  Returns 0 when the report went here.  NULL: always later. */
    int (*commit_here)(void *user, const char *transaction_uid,
                       int (*send)(void *sctx, const iso_commit_item *items, size_t n,
                                   const char *transaction_uid),
                       void *sctx);
    /* A peer reports (N-EVENT-REPORT) on a transaction the node asked it to
     * commit: items with failure 0 are committed, the others failed with
     * that reason.  Return 0 once recorded, or a failure status.  NULL: no
     * report is accepted. */
    uint16_t (*commit_report)(void *user, const char *transaction_uid,
                              const iso_commit_item *items, size_t n, char *comment,
                              size_t comment_size);
    /* A C-MOVE-RQ arrived: run the whole move (open the destination, send
     * the sub-operations), calling report(rctx, counts) after each; report
     * returns non-zero when the requester cancelled (stop then).  Returns
     * the final status, with the final counts in *done. */
    uint16_t (*move)(void *user, const iso_move_rq *rq,
                     int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                     iso_move_counts *done, char *comment, size_t comment_size);
    /* A C-GET-RQ arrived (rq->destination is ""): the same, but each object
     * goes back on this association through store(sctx, path), which
     * returns the requester's status (0xFFFF: no context for it, 0xFFFE: the
     * association failed). */
    uint16_t (*get)(void *user, const iso_move_rq *rq, uint16_t (*store)(void *sctx, const char *path),
                    int (*report)(void *rctx, const iso_move_counts *counts), void *rctx,
                    iso_move_counts *done, char *comment, size_t comment_size);
    /* A C-STORE-RQ arrived.  Return 0 and fill sink to receive it, or a
     * non-zero DIMSE status to refuse it (the data set is then read and
     * discarded); comment then holds an Error Comment (<= 64 chars). */
    uint16_t (*store_begin)(void *user, const iso_store_rq *rq, iso_store_sink *sink,
                            char *comment, size_t comment_size);
    /* The data set ended: data_ok is 0 if the network failed mid-way (no
     * response can be sent then).  Returns the DIMSE status to answer. */
    uint16_t (*store_end)(void *user, const iso_store_rq *rq, iso_store_sink *sink, int data_ok,
                          char *comment, size_t comment_size);
    /* Polled about once a second while idle and between messages:
     * non-zero aborts the association (shutdown deadline passed). */
    int (*should_abort)(void *user, int idle_seconds);
} iso_scp_handlers;

typedef enum {
    ISO_END_RELEASED = 0,
    ISO_END_PEER_ABORTED = 1,
    ISO_END_TIMEOUT = 2,
    ISO_END_ERROR = 3,
    ISO_END_SHUTDOWN = 4,
} iso_assoc_end;

typedef struct iso_assoc_counts {
    unsigned echoes;
    unsigned finds, find_matches;
    unsigned moves, moved;
    unsigned commit_requests;
    unsigned commit_reports_here; /* reports sent on the requester's association */
    unsigned commit_reports;      /* reports received on what the node asked */
    unsigned stores_ok;
    unsigned stores_failed;
    unsigned long long bytes;
} iso_assoc_counts;

/* Creates the process's acceptor.  It listens on nothing itself: the caller
 * accepts connections and hands each socket to iso_dcm_assoc_receive. */
iso_code iso_dcm_server_new(const iso_scp_params *params, iso_dcm_server **out, iso_err *err);
void iso_dcm_server_free(iso_dcm_server *srv);

/* Reads the A-ASSOCIATE-RQ on fd (the caller has waited until the whole PDU
 * is buffered, see net/scp.c) and describes it in req.  Takes ownership of
 * fd.  Over DICOM TLS, tls is the established session (also taken over) and
 * rq the request the caller already read from it (rq_len bytes); plain:
 * tls NULL. */
struct ssl_st;
iso_code iso_dcm_assoc_receive(iso_dcm_server *srv, int fd, struct ssl_st *tls,
                               const unsigned char *rq, size_t rq_len, iso_dcm_assoc **out,
                               iso_assoc_request *req, iso_err *err);
/* Sends A-ASSOCIATE-RJ. */
iso_code iso_dcm_assoc_reject(iso_dcm_assoc *a, iso_reject_reason reason, iso_err *err);
/* Accepts Verification and every storage SOP class DCMTK knows, each with the
 * first transfer syntax the requester proposed among those we store.
 * summary receives a short list of accepted contexts for the log.  If no
 * context is acceptable the association is rejected and ISO_EINVAL returned. */
iso_code iso_dcm_assoc_accept(iso_dcm_assoc *a, int *n_accepted, char *summary,
                              size_t summary_size, iso_err *err);
/* Serves DIMSE messages until release, abort, timeout or error. */
iso_assoc_end iso_dcm_assoc_serve(iso_dcm_assoc *a, const iso_scp_handlers *h,
                                  iso_assoc_counts *counts, char *why, size_t why_size);
void iso_dcm_assoc_free(iso_dcm_assoc *a);

/* ---- 3. SCU ---- */

/* DICOM TLS for an association the node opens (src/tls does the
 * handshake and the checks). */
struct iso_tls;
typedef struct iso_dcm_tls_client {
    struct iso_tls *tls;    /* NULL: plain TCP */
    const char *host;       /* the certificate must name it, unless pinned */
    const char *pin_sha256; /* "" or the server certificate's SHA-256 (64 hex) */
    long timeout_ms;        /* the handshake's bound */
} iso_dcm_tls_client;

typedef struct iso_scu_params {
    const char *our_ae;
    const char *peer_ae;
    const char *host;
    long port;
    long acse_timeout;
    long dimse_timeout;
    long max_pdu;
    iso_dcm_tls_client tls; /* tls.tls NULL: plain */
    /* Called after each file of iso_dcm_scu_send_files (its index and
     * status, 0xFFFF if it could not be sent); non-zero stops the sending
     * (the association is released).  NULL: none. */
    int (*progress)(void *ctx, size_t index, uint16_t status);
    void *progress_ctx;
} iso_scu_params;

/* Opens an association, sends C-ECHO, releases. */
iso_code iso_dcm_scu_echo(const iso_scu_params *p, iso_err *err);

/* Sends a storage commitment report (N-EVENT-REPORT) for a transaction to
 * the peer that asked, on a new association on which the node takes the SCP
 * role of the Storage Commitment Push Model (role selection).  ISO_OK once
 * the peer answered success. */
iso_code iso_dcm_scu_commit_report(const iso_scu_params *p, const char *transaction_uid,
                                   const iso_commit_item *items, size_t n, iso_err *err);

/* Asks a peer to commit instances (N-ACTION, Storage Commitment Push
 * Model, the node as SCU) under transaction_uid on an association of its
 * own, released once the N-ACTION-RSP arrives: the report comes later on
 * an association the peer opens.  ISO_OK once the peer answered success. */
iso_code iso_dcm_scu_commit_request(const iso_scu_params *p, const char *transaction_uid,
                                    const iso_commit_item *items, size_t n, iso_err *err);

/* A UID's name in DCMTK's dictionary (e.g. SurfaceSegmentationStorage), or
 * the UID itself. */
const char *iso_dcm_uid_name(const char *uid);

/* The SOP Class and Instance UIDs a DICOM file's meta information names. */
iso_code iso_dcm_file_ids(const char *path, char sop_class[65], char sop_uid[65], iso_err *err);

/* Sends files over one association.  statuses[i] receives the DIMSE status
 * of file i (0xFFFF if it could not be sent).  Returns ISO_OK if the
 * association worked, even if single files failed. */
iso_code iso_dcm_scu_send_files(const iso_scu_params *p, const char *const *paths, size_t n,
                                uint16_t *statuses, iso_err *err);

/* ---- 5. images for reconstruction ---- */

/* What tells the volumes of one series apart, per frame, as text ("" when
 * absent): from the per-frame and shared functional groups of an enhanced
 * object (Frame Content, MR Echo, MR/CT Image Frame Type, MR Diffusion,
 * Cardiac Synchronization, Contrast/Bolus Usage), else from the classic
 * attributes.  Multi-valued ones are '\'-joined. */
typedef struct iso_dcm_frame_keys {
    char dimension[64];   /* Dimension Index Values, without the in-stack position */
    char stack[20];       /* Stack ID */
    char temporal[24];    /* Temporal Position Index, or Temporal Position Identifier */
    char echo[24];        /* Effective Echo Time, or Echo Numbers (else Echo Time) */
    char image_type[48];  /* Frame Type or Image Type, values 3 and 4 (e.g. M, P, FIELD_MAP) */
    char acquisition[24]; /* Acquisition Number */
    char diffusion[96];   /* b-value and gradient direction */
    char trigger[24];     /* Nominal Cardiac Trigger Delay Time, or Trigger Time */
    char phase[24];       /* Contrast/Bolus Agent Phase */
} iso_dcm_frame_keys;

/* The plane of one frame: from the top level of a single-frame image, or
 * from the per-frame / shared functional groups of an enhanced object. */
typedef struct iso_dcm_plane {
    double position[3];    /* Image Position (Patient), mm, LPS */
    double orientation[6]; /* Image Orientation (Patient): row then column cosines */
    double spacing[2];     /* Pixel Spacing: between rows, between columns (mm) */
    double thickness;      /* Slice Thickness, 0 if absent */
    double slope, intercept;
    int has_position, has_orientation, has_spacing;
    iso_dcm_frame_keys keys;
} iso_dcm_plane;

typedef struct iso_dcm_image_info {
    char sop_class_uid[65];
    char sop_instance_uid[65];
    char study_uid[65];
    char series_uid[65];
    char frame_of_reference_uid[65];
    char transfer_syntax[65];
    char modality[17];
    char image_type[128];
    char photometric[17];
    int rows, cols, frames;
    int samples_per_pixel, bits_allocated, bits_stored, high_bit, pixel_representation;
    int has_pixel_data;
    long instance_number;
    int mosaic;            /* a Siemens MOSAIC: images tiled in one frame (their number, or 1
                              when Image Type says MOSAIC without it); 0 otherwise */
    iso_dcm_plane *planes; /* frames entries; free with iso_dcm_image_info_free */
    /* Modality LUT Sequence, when the image has one instead of a rescale:
     * modality value = lut[clamp(stored - lut_first, 0, lut_n - 1)] */
    uint16_t *lut;
    long lut_first;
    long lut_n;
} iso_dcm_image_info;

/* Reads what reconstruction needs to know of an image, without decoding
 * its pixels. */
iso_code iso_dcm_read_image_info(const char *path, iso_dcm_image_info *info, iso_err *err);
void iso_dcm_image_info_free(iso_dcm_image_info *info);

/* Decodes every frame of a greyscale image and writes its modality values
 * (stored value, sign and Bits Stored honoured, through the Modality LUT
 * or times slope plus intercept) to dst, frame after frame, rows*cols values each, as int16
 * (dst_float 0; values are rounded and must fit, the caller checked) or
 * float (dst_float 1).  Compressed syntaxes are decoded with DCMTK's codecs
 * (JPEG, JPEG-LS, RLE) or OpenJPEG (JPEG 2000). */
iso_code iso_dcm_read_frames(const char *path, const iso_dcm_image_info *info, void *dst,
                             int dst_float, iso_err *err);

/* The first frame of an 8-bit RGB image (the node's Secondary Captures),
 * shrunk by a whole factor (box filter) until no side exceeds max_side:
 * *rgb (malloc'd, w*h*3, rows top to bottom) for the status page. */
iso_code iso_dcm_read_rgb_preview(const char *path, int max_side, uint8_t **rgb, int *w, int *h,
                                  iso_err *err);

/* ---- 6. rewriting a data set element by element (de-identification) ----
 *
 * The adapter walks every element of the data set, depth first into every
 * item of every sequence, and asks the caller what to do with each; the
 * policy lives in C (src/anon).  Decisions for one item are all taken
 * before any is applied, so a callback that looks at a sibling (a date's
 * time) sees the original value. */

typedef enum {
    ISO_EL_KEEP = 0,
    ISO_EL_REMOVE = 1,
    ISO_EL_EMPTY = 2,    /* zero length */
    ISO_EL_REPLACE = 3,  /* with the text the callback wrote */
    ISO_EL_RECURSE = 4,  /* a sequence: visit its items */
} iso_el_action;

typedef struct iso_el {
    uint16_t group, element;
    char vr[3];
    const char *creator;  /* private creator of a private element, "" if none */
    int depth;            /* 0: the top level */
    const char *value;    /* text VRs, UI, DA/DT/TM...: the value as stored
                             (backslash-separated, padding removed); NULL for
                             binary values and sequences */
    const char *utf8;     /* the value decoded with the data set's Specific
                             Character Set (= value where that changes
                             nothing); NULL when it cannot be decoded */
} iso_el;

typedef struct iso_item_view iso_item_view; /* the item an element sits in */

/* A sibling's text value in the same item (padding removed); 1 if present. */
int iso_item_get(const iso_item_view *item, uint16_t group, uint16_t element, char *out,
                 size_t out_size);

typedef struct iso_code_item {
    const char *value, *scheme, *meaning;
} iso_code_item;

typedef struct iso_set_value {
    uint16_t group, element;
    const char *value;
} iso_set_value;

typedef struct iso_rewrite {
    void *user;
    iso_el_action (*decide)(void *user, const iso_el *el, const iso_item_view *item, char *out,
                            size_t out_size);
    /* set at the top level after the walk (text values; VR from the
     * dictionary), NULL-terminated by a zero group */
    const iso_set_value *set;
    /* (0012,0064) De-identification Method Code Sequence, replacing any */
    const iso_code_item *codes;
    int n_codes;
    /* bits of native 16-bit Pixel Data outside Bits Stored (where retired
     * overlays and other drawings hide): zeroed, or for signed samples
     * sign-extended from High Bit */
    int clean_unused_bits;
} iso_rewrite;

/* A data set parsed once, then read and rewritten without parsing again. */
typedef struct iso_dcm_parsed iso_dcm_parsed;

/* Parses a Part 10 object held in memory (not deflated: those go through
 * a file, see iso_dcm_read_attrs), with the allocation ceiling of
 * dcm_alloc.cc. */
iso_code iso_dcm_parse_buffer(const void *buf, size_t len, iso_dcm_parsed **out, iso_err *err);
/* Parses a Part 10 file. */
iso_code iso_dcm_parse_file(const char *path, iso_dcm_parsed **out, iso_err *err);
/* The index attributes (text converted to UTF-8 in copies; the data set
 * itself is untouched). */
void iso_dcm_parsed_attrs(iso_dcm_parsed *p, iso_attrs *a);
/* Rewrites the parsed data set with rw and writes the result as a Part 10
 * object to sink: a new File Meta Information (Media Storage SOP Instance
 * UID = the new SOP Instance UID, no Source AE Title), the data set in its
 * original transfer syntax (compressed pixel data untouched).  after
 * receives the index attributes of the written object.  The parsed data
 * set is changed: rewrite once. */
iso_code iso_dcm_parsed_rewrite(iso_dcm_parsed *p, const iso_rewrite *rw,
                                const iso_store_sink *sink, iso_attrs *after, iso_err *err);
void iso_dcm_parsed_free(iso_dcm_parsed *p);

/* ---- 7. building new objects (derived results) ----
 * Attributes are set on the current item (the data set, or the innermost
 * open sequence item) by tag, values as DICOM text (numbers too; the VR
 * comes from the dictionary); binary values as bytes with their VR.  The
 * first error is kept and returned by iso_dcmb_write, so a builder can be
 * filled without checking each call. */
typedef struct iso_dcmb iso_dcmb;
iso_dcmb *iso_dcmb_new(void);
void iso_dcmb_str(iso_dcmb *b, uint16_t group, uint16_t element, const char *value);
void iso_dcmb_bytes(iso_dcmb *b, uint16_t group, uint16_t element, const char *vr,
                    const void *data, size_t len);
/* Appends an item to sequence (group, element) and makes it current. */
void iso_dcmb_item_begin(iso_dcmb *b, uint16_t group, uint16_t element);
void iso_dcmb_item_end(iso_dcmb *b);
/* A zero-length sequence (present and empty). */
void iso_dcmb_empty_seq(iso_dcmb *b, uint16_t group, uint16_t element);
/* Writes a Part 10 file (explicit VR little endian, our meta header). */
iso_code iso_dcmb_write(iso_dcmb *b, const char *path, iso_err *err);
void iso_dcmb_free(iso_dcmb *b);

/* True for transfer syntaxes whose data sets isonode stores. */
int iso_dcm_ts_supported(const char *ts_uid);

#ifdef __cplusplus
}
#endif

#endif
