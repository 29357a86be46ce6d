/* config.c — the key table and the INI loader (see config.h). */

#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "util/uid.h"

#define NODE(field) offsetof(iso_config, field), sizeof(((iso_config *)0)->field)
#define PEER(field) offsetof(iso_peer, field), sizeof(((iso_peer *)0)->field)
#define SURF(field) offsetof(iso_surface_conf, field), sizeof(((iso_surface_conf *)0)->field)
#define ROUTE(field) offsetof(iso_route_conf, field), sizeof(((iso_route_conf *)0)->field)

/* set_value stores an enum key's choice as an int */
_Static_assert(sizeof(iso_dup_policy) == sizeof(int) && sizeof(iso_log_level) == sizeof(int) &&
                   sizeof(iso_dates_option) == sizeof(int) &&
                   sizeof(iso_burned_in_policy) == sizeof(int) &&
                   sizeof(iso_peer_identity) == sizeof(int) &&
                   sizeof(iso_tls_profile) == sizeof(int) && sizeof(iso_verify_peer) == sizeof(int),
               "enum keys are int-sized");

const iso_config_key iso_config_keys[] = {
    {"node", "ae_title", ISO_CFG_STR, NODE(ae_title), "ISONODE", 0, 0, NULL,
     "Application Entity title of this node; associations called to another title are rejected.", NULL},
    {"node", "bind", ISO_CFG_STR, NODE(bind), "0.0.0.0", 0, 0, NULL,
     "IPv4 address to listen on (0.0.0.0 for every interface).", NULL},
    {"node", "port", ISO_CFG_INT, NODE(port), "11112", 0, 65535, NULL,
     "TCP port for incoming plain (unencrypted) associations; 0: none (a TLS-only node).", NULL},
    {"node", "tls_port", ISO_CFG_INT, NODE(tls_port), "0", 0, 65535, NULL,
     "TCP port for incoming DICOM TLS associations (PS3.15 Annex B; 2762 is the registered one); 0: none. Needs [tls] certificate and private_key.",
     "Both listeners apply the same association policy, limits and everything downstream; a node may offer either or both."},
    {"node", "data_dir", ISO_CFG_STR, NODE(data_dir), ISO_DEFAULT_DATA_DIR, 0, 0, NULL,
     "Directory holding the index, the objects and temporary files; created if missing.",
     "The built-in default is set at build time (configure --with-default-data-dir); a relative one is taken from the working directory."},
    {"node", "max_associations", ISO_CFG_INT, NODE(max_associations), "32", 1, 1024, NULL,
     "Simultaneous associations; one more is rejected with A-ASSOCIATE-RJ (transient, local limit exceeded).", NULL},
    {"node", "max_pdu", ISO_CFG_INT, NODE(max_pdu), "65536", 4096, 131072, NULL,
     "Maximum PDU length we receive, in bytes.", NULL},
    {"node", "acse_timeout", ISO_CFG_INT, NODE(acse_timeout), "30", 1, 3600, NULL,
     "Seconds to wait for an association request or release (ARTIM).", NULL},
    {"node", "dimse_timeout", ISO_CFG_INT, NODE(dimse_timeout), "60", 1, 86400, NULL,
     "Seconds to wait for the next command or data on an open association before aborting it.", NULL},
    {"node", "network_timeout", ISO_CFG_INT, NODE(network_timeout), "60", 1, 3600, NULL,
     "Seconds a single socket send or receive may block.", NULL},
    {"node", "shutdown_timeout", ISO_CFG_INT, NODE(shutdown_timeout), "10", 0, 600, NULL,
     "On SIGTERM, seconds in-flight associations get to finish before they are aborted.", NULL},
    {"node", "min_free_mb", ISO_CFG_INT, NODE(min_free_mb), "100", 0, 1L << 30, NULL,
     "Below this much free space in data_dir, C-STORE answers 0xA700 (out of resources).", NULL},
    {"node", "max_associations_per_host", ISO_CFG_INT, NODE(max_associations_per_host), "16", 1, 1024, NULL,
     "Simultaneous connections from one remote address; more are rejected (transient, local limit exceeded), so one host cannot take every slot.", NULL},
    {"node", "max_nesting", ISO_CFG_INT, NODE(max_nesting), "32", 4, 128, NULL,
     "Deepest sequence nesting accepted in a command set or data set; deeper objects are refused before any parser sees them (and stored ones are never parsed).", NULL},
    {"node", "max_object_mb", ISO_CFG_INT, NODE(max_object_mb), "4096", 1, 1L << 20, NULL,
     "Largest object accepted, in MiB, as received or after inflating a deflated data set; a larger one gets 0xA700 and nothing is kept.", NULL},
    {"node", "max_inflate_ratio", ISO_CFG_INT, NODE(max_inflate_ratio), "200", 2, 100000, NULL,
     "A deflated data set may inflate to at most this many times its size (or 64 MiB, whichever is more); beyond, it is refused as a decompression bomb.", NULL},
    {"node", "max_memory_mb", ISO_CFG_INT, NODE(max_memory_mb), "1024", 64, 1L << 20, NULL,
     "Node-wide budget for objects held in memory while they are received and de-identified; an object that does not fit streams through a file instead.", NULL},
    {"node", "duplicates", ISO_CFG_ENUM, NODE(duplicates), "keep", 0, 0, "keep|replace",
     "An instance received again with other bytes: keep the stored copy, or replace it atomically (the series' results are then made again, as a new version). Either way a series sent again by a peer that sent every instance of it gets its results again.", NULL},
    {"node", "check_calling_ae", ISO_CFG_BOOL, NODE(check_calling_ae), "no", 0, 1, NULL,
     "Only accept calling AE titles listed in a [peer] section.", NULL},
    {"node", "open_query_retrieve", ISO_CFG_BOOL, NODE(open_query_retrieve), "no", 0, 1, NULL,
     "With check_calling_ae = no, let any calling AE query (C-FIND) the store; otherwise only peers with query = yes may.", NULL},
    {"node", "check_host", ISO_CFG_BOOL, NODE(check_host), "no", 0, 1, NULL,
     "With check_calling_ae, also require the connection to come from that peer's host.", NULL},
    {"node", "log_level", ISO_CFG_ENUM, NODE(log_level), "info", 0, 0, "error|warn|info|debug",
     "Least severe level written to the log.", NULL},
    {"node", "watchdog", ISO_CFG_BOOL, NODE(watchdog), "yes", 0, 1, NULL,
     "Send systemd watchdog keep-alives when the unit sets WatchdogSec.", NULL},
    {"reconstruct", "spacing_mm", ISO_CFG_REAL, NODE(rc_spacing_mm), "1.0", 0, 10, NULL,
     "Isotropic grid spacing the series is resampled to, in mm (0 keeps the acquired grid of a regular stack).", NULL},
    {"reconstruct", "sigma_mm", ISO_CFG_REAL, NODE(rc_sigma_mm), "1.0", 0, 50, NULL,
     "Gaussian smoothing before the iso-surface, sigma in mm (0: none).", NULL},
    {"reconstruct", "smooth_iterations", ISO_CFG_INT, NODE(rc_smooth_iterations), "20", 0, 1000, NULL,
     "Taubin mesh smoothing iterations.", NULL},
    {"reconstruct", "max_triangles", ISO_CFG_INT, NODE(rc_max_triangles), "200000", 0, 100000000, NULL,
     "Triangle budget per surface after quadric decimation (0: no decimation).", NULL},
    {"reconstruct", "max_gap_mm", ISO_CFG_REAL, NODE(rc_max_gap_mm), "10.0", 0, 1000, NULL,
     "A series with two neighbouring slices further apart than this is refused.", NULL},
    {"reconstruct", "min_island_mm3", ISO_CFG_REAL, NODE(rc_min_island_mm3), "100", 0, 1000000000, NULL,
     "Mesh components enclosing less volume than this are dropped (noise, table specks).", NULL},
    {"reconstruct", "threads", ISO_CFG_INT, NODE(rc_threads), "0", 0, 64, NULL,
     "Threads per reconstruction (0: one per CPU).", NULL},
    {"reconstruct", "render", ISO_CFG_BOOL, NODE(rc_render), "yes", 0, 1, NULL,
     "Make pictures (standard views, rotation, MIP) as well as meshes.", NULL},
    {"reconstruct", "render_size", ISO_CFG_INT, NODE(rc_render_size), "512", 64, 4096, NULL,
     "Width and height of the pictures in pixels.", NULL},
    {"reconstruct", "rotation_frames", ISO_CFG_INT, NODE(rc_rotation_frames), "36", 0, 720, NULL,
     "Frames of the 360 degree rotation (0: none).", NULL},
    {"reconstruct", "rotation_size", ISO_CFG_INT, NODE(rc_rotation_size), "256", 64, 4096, NULL,
     "Width and height of the rotation frames in pixels (a cine: smaller than the views, so it travels fast).", NULL},
    {"reconstruct", "volumes", ISO_CFG_ENUM, NODE(rc_volumes), "first", 0, 0, "first|largest|all",
     "Which volume of a series holding several (echoes, image types, temporal positions, diffusion directions, stacks) is reconstructed: first (the first temporal position, first echo, magnitude before phase), largest (the most slices), or all (each one, its results a series of their own; isonode reconstruct writes volume k to OUT/volume-k, volume 1 to OUT).",
     "Volumes are told apart by temporal position, image type, echo, diffusion, stack, trigger time, contrast phase, acquisition number and dimension index, each only where it separates images at the same position. The job result and the report say how many volumes the series holds and which one was reconstructed; derived objects reference exactly the instances and frames of that volume."},
    {"reconstruct", "volume", ISO_CFG_INT, NODE(rc_volume), "0", 0, 100000, NULL,
     "Reconstruct this volume of the series (1 = the first in the order above) instead of the one volumes picks; 0: volumes decides. Meant for isonode reconstruct --volume.", NULL},
    {"reconstruct", "settle_seconds", ISO_CFG_INT, NODE(rc_settle_seconds), "5", 0, 86400, NULL,
     "A series is complete once every association that delivered part of it has ended and none of its instances arrived for this many seconds, or at once when Images in Acquisition (0020,1002) says all are there. Instances that arrive later make a new version of the results, under new UIDs.", NULL},
    {"reconstruct", "workers", ISO_CFG_INT, NODE(rc_workers), "1", 1, 16, NULL,
     "Jobs run at once (each uses `threads` threads).", NULL},
    {"reconstruct", "nice", ISO_CFG_INT, NODE(rc_nice), "10", 0, 19, NULL,
     "Scheduling niceness of job threads, so receiving never waits for a reconstruction.", NULL},
    {"reconstruct", "max_attempts", ISO_CFG_INT, NODE(rc_max_attempts), "3", 1, 100, NULL,
     "Attempts of a job that fails (an error, not a refusal of the engine) before it is dead (isonode jobs retry revives it).",
     "Failed attempts wait 30 s, 60 s, ... up to 32 minutes."},
    {"anonymize", "enabled", ISO_CFG_BOOL, NODE(an_enabled), "yes", 0, 1, NULL,
     "De-identify every received instance before it is stored (no: a pure routing node).", NULL},
    {"anonymize", "retain_safe_private", ISO_CFG_BOOL, NODE(an_retain_safe_private), "no", 0, 1, NULL,
     "Retain Safe Private Option: keep private attributes on the safe list, matched by private creator.", NULL},
    {"anonymize", "retain_uids", ISO_CFG_BOOL, NODE(an_retain_uids), "no", 0, 1, NULL,
     "Retain UIDs Option: keep the original UIDs instead of replacing them.", NULL},
    {"anonymize", "retain_device_identity", ISO_CFG_BOOL, NODE(an_retain_device_identity), "no", 0, 1, NULL,
     "Retain Device Identity Option.", NULL},
    {"anonymize", "retain_institution_identity", ISO_CFG_BOOL, NODE(an_retain_institution_identity), "no", 0, 1, NULL,
     "Retain Institution Identity Option.", NULL},
    {"anonymize", "retain_patient_characteristics", ISO_CFG_BOOL, NODE(an_retain_patient_characteristics), "no", 0, 1, NULL,
     "Retain Patient Characteristics Option (sex, age, size, weight...).", NULL},
    {"anonymize", "dates", ISO_CFG_ENUM, NODE(an_dates), "remove", 0, 0, "remove|full|modified",
     "Dates and times: removed (Basic Profile), kept (Retain Longitudinal Full Dates), or shifted by one offset per patient (Modified Dates).", NULL},
    {"anonymize", "clean_descriptors", ISO_CFG_BOOL, NODE(an_clean_descriptors), "no", 0, 1, NULL,
     "Clean Descriptors Option: keep descriptions that hold none of the patient's identifying words.", NULL},
    {"anonymize", "clean_structured_content", ISO_CFG_BOOL, NODE(an_clean_structured_content), "no", 0, 1, NULL,
     "Clean Structured Content Option: keep SR content sequences, cleaned item by item.", NULL},
    {"anonymize", "clean_graphics", ISO_CFG_BOOL, NODE(an_clean_graphics), "no", 0, 1, NULL,
     "Clean Graphics Option: keep overlays and curves (their text cleaned) instead of removing them.", NULL},
    {"anonymize", "burned_in", ISO_CFG_ENUM, NODE(an_burned_in), "reject", 0, 0, "reject|flag",
     "Objects that may show burned-in text: refuse them (status 0x0124), or store them flagged (PatientIdentityRemoved NO).", NULL},
    {"anonymize", "key_file", ISO_CFG_STR, NODE(an_key_file), "", 0, 0, NULL,
     "The installation key (32 bytes, mode 0600): empty for DATA_DIR/secret.key, a path, or credential:NAME for a systemd LoadCredential= file.",
     "With credential:NAME the key is read from $CREDENTIALS_DIRECTORY. The key is made at the first de-identifying start together with the vault; it keys every pseudonym and replacement UID and encrypts the vault. Back it up when it is made, apart from the data (compare copies with isonode key). Without it returning patients get new pseudonyms, results can no longer go back with the sender's identity, and the vault cannot be read: once a vault exists, the node refuses to start without its key or with another one."},
    {"anonymize", "keep_originals", ISO_CFG_BOOL, NODE(an_keep_originals), "no", 0, 1, NULL,
     "Also keep the untouched original under data_dir/originals (for forwarding originals).", NULL},
    {"peer", "ae_title", ISO_CFG_STR, PEER(ae_title), NULL, 0, 0, NULL,
     "AE title of the remote node.", NULL},
    {"peer", "host", ISO_CFG_STR, PEER(host), NULL, 0, 0, NULL,
     "Host name or address of the remote node.", NULL},
    {"tls", "certificate", ISO_CFG_STR, NODE(tls_certificate), "", 0, 0, NULL,
     "PEM file with this node's certificate (then any intermediates): shown to TLS peers when accepting, and as the client certificate when the node connects.",
     "The daemon reads it again on SIGHUP, so a renewed certificate needs no restart (associations in progress keep theirs); expiry within 30 days is warned about in the log and by isonode status."},
    {"tls", "private_key", ISO_CFG_STR, NODE(tls_private_key), "", 0, 0, NULL,
     "PEM file with the private key of certificate; refused if anyone but its owner may read it (mode 0600 or 0400). Never logged, never copied.", NULL},
    {"tls", "ca_file", ISO_CFG_STR, NODE(tls_ca_file), "", 0, 0, NULL,
     "PEM file of the certificate authorities whose certificates the node trusts for peers.", NULL},
    {"tls", "ca_dir", ISO_CFG_STR, NODE(tls_ca_dir), "", 0, 0, NULL,
     "Directory of trusted CA certificates in OpenSSL's hashed layout (openssl rehash), beside or instead of ca_file.", NULL},
    {"tls", "crl_file", ISO_CFG_STR, NODE(tls_crl_file), "", 0, 0, NULL,
     "PEM file of certificate revocation lists; when set, every certificate of a peer's chain is checked against them and a revoked one is refused.", NULL},
    {"tls", "profile", ISO_CFG_ENUM, NODE(tls_profile), "bcp195-nd", 0, 0, "bcp195-nd|bcp195-extended",
     "bcp195-nd: TLS 1.2 or newer only, ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, and the TLS 1.3 suites (BCP 195 / RFC 9325, non-downgrading, RFC 8996). bcp195-extended: the same with 256-bit AES-GCM and ChaCha20 only.",
     "Set through OpenSSL's own API (minimum protocol version, TLS 1.2 cipher list, TLS 1.3 suites) rather than through DCMTK's TLS layer, because the node performs each handshake itself, in the connection's own thread and within acse_timeout, before DCMTK sees the association. TLS 1.0 and 1.1, RC4, CBC, static RSA key exchange and anonymous suites are never offered."},
    {"tls", "verify_peer", ISO_CFG_ENUM, NODE(tls_verify_peer), "require", 0, 0, "require|optional|none",
     "require: a peer must present a certificate that chains to a trusted CA (when accepting: a client certificate, i.e. mutual authentication). optional: a presented certificate is verified, none is accepted. none: certificates are not checked (testing only).", NULL},
    {"outbox", "max_attempts", ISO_CFG_INT, NODE(ob_max_attempts), "10", 1, 1000, NULL,
     "Attempts to deliver an object before it is dead-lettered (isonode outbox retry revives it).", NULL},
    {"outbox", "retry_base_seconds", ISO_CFG_INT, NODE(ob_retry_base_seconds), "10", 1, 86400, NULL,
     "Wait before the second attempt; it doubles with every failed attempt.", NULL},
    {"outbox", "retry_max_seconds", ISO_CFG_INT, NODE(ob_retry_max_seconds), "3600", 1, 604800, NULL,
     "Longest wait between two attempts.", NULL},
    {"outbox", "commitment_timeout_seconds", ISO_CFG_INT, NODE(ob_commitment_timeout_seconds), "3600", 5, 604800, NULL,
     "How long a peer with storage_commitment = yes has to report on what it was asked to commit; without a report by then the objects are sent and asked for again (an attempt, counted towards max_attempts).", NULL},
    {"retention", "keep_days", ISO_CFG_INT, NODE(rt_keep_days), "0", 0, 36500, NULL,
     "Studies whose last instance arrived more than this many days ago are removed (0: no age limit).",
     "Never removed, whatever the age or the disk: a study with a job queued, running or waiting to be retried, a series still settling (or without a job yet), or an object the outbox has not delivered (queued, awaiting a peer's storage commitment, or dead: purge or retry those first). Each removal is logged with the de-identified Study Instance UID and the reason."},
    {"retention", "high_water_percent", ISO_CFG_INT, NODE(rt_high_water_percent), "0", 0, 99, NULL,
     "When the file system of data_dir is fuller than this (percent of its blocks), the oldest studies (by last arrival) are removed until it is below low_water_percent (0: off).", NULL},
    {"retention", "low_water_percent", ISO_CFG_INT, NODE(rt_low_water_percent), "80", 1, 99, NULL,
     "Where removal for space stops; below high_water_percent.", NULL},
    {"retention", "keep_vault_days", ISO_CFG_INT, NODE(rt_keep_vault_days), "0", 0, 36500, NULL,
     "With [anonymize] on: the vault rows that re-identify a removed study (its study and every series and instance UID) are deleted this many days after the removal, unless the study was stored again meanwhile (0: kept for ever).",
     "Patient rows stay: other studies may use them. Once a study's rows are gone, isonode vault lookup can no longer tell whose it was."},
    {"retention", "interval_seconds", ISO_CFG_INT, NODE(rt_interval_seconds), "60", 1, 86400, NULL,
     "How often isonoded applies the retention rules (when keep_days or high_water_percent is set).", NULL},
    {"http", "bind", ISO_CFG_STR, NODE(http_bind), "127.0.0.1", 0, 0, NULL,
     "IPv4 address the HTTP endpoint (/metrics, /healthz) listens on.",
     "It shows counts and destination names only, nothing identifying; keep it on the loopback or a management network."},
    {"http", "token_file", ISO_CFG_STR, NODE(http_token_file), "", 0, 0, NULL,
     "A file holding a secret token (one line); when set, every request must carry 'Authorization: Bearer TOKEN' (401 otherwise). Required when bind is not a loopback address.", NULL},
    {"http", "port", ISO_CFG_INT, NODE(http_port), "0", 0, 65535, NULL,
     "TCP port of the HTTP endpoint: /metrics (Prometheus text format) and /healthz (200, or 503 with the reason); 0: off.", NULL},
    {"route", "modality", ISO_CFG_STR, ROUTE(modality), "", 0, 0, NULL,
     "Match: Modality (glob, e.g. CT or C?; empty: any).", NULL},
    {"route", "body_part", ISO_CFG_STR, ROUTE(body_part), "", 0, 0, NULL,
     "Match: Body Part Examined (glob; empty: any).", NULL},
    {"route", "description", ISO_CFG_STR, ROUTE(description), "", 0, 0, NULL,
     "Match: Series Description (glob, case-insensitive, e.g. *bone*; empty: any).", NULL},
    {"route", "sop_class", ISO_CFG_STR, ROUTE(sop_class), "", 0, 0, NULL,
     "Match: SOP Class UID (glob; empty: any).", NULL},
    {"route", "calling_ae", ISO_CFG_STR, ROUTE(calling_ae), "", 0, 0, NULL,
     "Match: calling AE title of the sender (glob; empty: any).", NULL},
    {"route", "min_images", ISO_CFG_INT, ROUTE(min_images), "0", 0, 1000000, NULL,
     "Match: at least this many instances in the series (0: no bound).", NULL},
    {"route", "max_images", ISO_CFG_INT, ROUTE(max_images), "0", 0, 1000000, NULL,
     "Match: at most this many instances (0: no bound).",
     "For example 3 catches scouts."},
    {"route", "min_slice_mm", ISO_CFG_REAL, ROUTE(min_slice_mm), "0", 0, 1000, NULL,
     "Match: Slice Thickness at least this (mm; 0: no bound).",
     "A series without Slice Thickness never meets a thickness bound."},
    {"route", "max_slice_mm", ISO_CFG_REAL, ROUTE(max_slice_mm), "0", 0, 1000, NULL,
     "Match: Slice Thickness at most this (mm; 0: no bound).",
     "A series without Slice Thickness never meets a thickness bound."},
    {"route", "ignore", ISO_CFG_BOOL, ROUTE(ignore), "no", 0, 1, NULL,
     "Action: keep the series stored and do nothing else.", NULL},
    {"route", "reconstruct", ISO_CFG_BOOL, ROUTE(reconstruct), "yes", 0, 1, NULL,
     "Action: reconstruct the series and derive its DICOM results.",
     "The results are Secondary Capture views, a multi-frame rotation, Encapsulated STL, Surface Segmentation and SEG; the store keeps a copy of them (de-identified when [anonymize] is on)."},
    {"route", "surfaces", ISO_CFG_STR, ROUTE(surfaces), "", 0, 0, NULL,
     "Action: the [surface] sections to extract, comma separated (empty: those of the series' modality).", NULL},
    {"route", "return_results", ISO_CFG_BOOL, ROUTE(return_results), "yes", 0, 1, NULL,
     "Action: send the derived results to the [peer] whose ae_title is the calling AE that completed the series, with that peer's identity, if that AE sent every instance of the series (otherwise the return is withheld and the job says why).", NULL},
    {"route", "send_results_to", ISO_CFG_STR, ROUTE(send_results_to), "", 0, 0, NULL,
     "Action: also send the derived results to these peers ([peer] section names, comma separated), each with its identity.", NULL},
    {"route", "forward_to", ISO_CFG_STR, ROUTE(forward_to), "", 0, 0, NULL,
     "Action: forward the series as received (the originals) to these peers; with [anonymize] enabled this needs keep_originals = yes (checked at start-up).", NULL},
    {"route", "forward_anonymized_to", ISO_CFG_STR, ROUTE(forward_anonymized_to), "", 0, 0, NULL,
     "Action: forward de-identified copies of the series to these peers.",
     "These are the store's own objects when [anonymize] is on, otherwise copies de-identified with the [anonymize] options at the time of forwarding. Objects flagged for possible burned-in text are never sent."},
    {"route", "keep_days", ISO_CFG_INT, ROUTE(keep_days), "0", 0, 36500, NULL,
     "Retention: a study with a series this route decided is kept this many days after its last arrival instead of [retention] keep_days (0: that one).",
     "The longest of a study's routes wins, so a route that reconstructs can keep studies with derived results longer than plain stored ones."},
    {"surface", "modality", ISO_CFG_STR, SURF(modality), "*", 0, 0, NULL,
     "Modality whose series get this surface (CT, MR, ...; * for any).", NULL},
    {"surface", "iso", ISO_CFG_REAL, SURF(iso), NULL, -100000, 100000, NULL,
     "Iso-value of the surface, in the series' modality units (HU for CT).", NULL},
    {"surface", "label", ISO_CFG_STR, SURF(label), "", 0, 0, NULL,
     "Segment label and file name part (default: the section's NAME).", NULL},
    {"surface", "color", ISO_CFG_STR, SURF(color), "220 210 190", 0, 0, NULL,
     "Display colour as three numbers 0..255 (red green blue).", NULL},
    {"surface", "category_code", ISO_CFG_STR, SURF(category_code), "85756007", 0, 0, NULL,
     "Segmented Property Category code value (default SCT 85756007 Tissue).", NULL},
    {"surface", "category_scheme", ISO_CFG_STR, SURF(category_scheme), "SCT", 0, 0, NULL,
     "Coding scheme of the category code.", NULL},
    {"surface", "category_meaning", ISO_CFG_STR, SURF(category_meaning), "Tissue", 0, 0, NULL,
     "Code meaning of the category.", NULL},
    {"surface", "type_code", ISO_CFG_STR, SURF(type_code), "85756007", 0, 0, NULL,
     "Segmented Property Type code value (e.g. SCT 272673000 Bone, 39937001 Skin).", NULL},
    {"surface", "type_scheme", ISO_CFG_STR, SURF(type_scheme), "SCT", 0, 0, NULL,
     "Coding scheme of the type code.", NULL},
    {"surface", "type_meaning", ISO_CFG_STR, SURF(type_meaning), "Tissue", 0, 0, NULL,
     "Code meaning of the type.", NULL},
    {"peer", "port", ISO_CFG_INT, PEER(port), NULL, 1, 65535, NULL,
     "TCP port of the remote node's DICOM service.", NULL},
    {"peer", "query", ISO_CFG_BOOL, PEER(query), "no", 0, 1, NULL,
     "This peer may query the store with C-FIND (Patient Root and Study Root).",
     "With [anonymize] enabled, a peer with identity = anonymized sees and matches the store's pseudonyms only; a peer with identity = original finds studies by their real Patient's Name, Patient ID, accession number, dates and UIDs, and its answers carry the original identity (re-identified through the vault)."},
    {"peer", "retrieve", ISO_CFG_BOOL, PEER(retrieve), "no", 0, 1, NULL,
     "This peer may retrieve from the store with C-MOVE (Patient Root and Study Root), to itself or to another configured [peer], and with C-GET.",
     "With [anonymize] enabled, a requester with identity = original names objects by their original UIDs or Patient ID; a destination with identity = original receives them with the sender's identity (the received objects with keep_originals = yes, else copies re-identified through the vault), one with identity = anonymized the store's pseudonymous objects."},
    {"peer", "storage_commitment", ISO_CFG_BOOL, PEER(storage_commitment), "no", 0, 1, NULL,
     "After each delivery to this peer the node asks it to commit the objects (Storage Commitment Push Model, N-ACTION); they stay \"awaiting\" in isonode outbox until its N-EVENT-REPORT says committed. Those it reports failed, and all of a request without a report within [outbox] commitment_timeout_seconds, are sent and asked for again, then dead-lettered after max_attempts. Nothing awaiting commitment is removed.",
     "The peer sends its report on a new association to the node's port calling with its ae_title (the node accepts the Storage Commitment context in the SCP role it proposes); the node releases the request's association as soon as the N-ACTION is answered. A report is accepted only from that peer and only on a Transaction UID the node asked of it (128 random bits)."},
    {"peer", "tls", ISO_CFG_BOOL, PEER(tls), "no", 0, 1, NULL,
     "Every association the node opens to this peer (deliveries, forwarding, isonode echo and send) uses DICOM TLS, verifying the peer's certificate against the trusted CAs and its host name, or its pinned certificate_sha256.",
     "With check_calling_ae, a peer with tls = yes may only send over TLS: a plain association calling with its AE title is rejected."},
    {"peer", "certificate_sha256", ISO_CFG_STR, PEER(certificate_sha256), "", 0, 0, NULL,
     "Pins the peer's server certificate by the SHA-256 of its DER encoding (64 hex digits, colons allowed): checked instead of the host name.", NULL},
    {"peer", "client_certificate_sha256", ISO_CFG_STR, PEER(client_certificate_sha256), "", 0, 0, NULL,
     "With check_calling_ae: an association calling with this peer's AE title must come over TLS with exactly this client certificate (SHA-256 of its DER encoding); a calling AE title alone is not an identity.", NULL},
    {"peer", "client_certificate_subject", ISO_CFG_STR, PEER(client_certificate_subject), "", 0, 0, NULL,
     "With check_calling_ae: the subject its client certificate must carry, as OpenSSL prints it in RFC 2253 form (e.g. CN=ct1.example.org,O=Hospital); the certificate must still chain to a trusted CA.", NULL},
    {"peer", "identity", ISO_CFG_ENUM, PEER(identity), "original", 0, 0, "original|anonymized",
     "Derived results sent to this peer carry the patient's original identity (restored from the vault) or the store's pseudonyms.",
     "original is what a sender expects, so the results file next to the source study; anonymized suits research destinations and needs [anonymize] enabled = yes (without it the store holds the original identity, and the node refuses to start)."},
};
const size_t iso_config_nkeys = sizeof iso_config_keys / sizeof iso_config_keys[0];
/* Which key rows a section has set already (a bit per row of the table). */
typedef struct keyset {
    uint64_t bits[4];
} keyset;
_Static_assert(sizeof iso_config_keys / sizeof iso_config_keys[0] <= 4 * 64,
               "keyset has a bit per key row");

static const iso_config_key *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < iso_config_nkeys; i++)
        if (strcmp(iso_config_keys[i].section, section) == 0 &&
            strcmp(iso_config_keys[i].key, key) == 0)
            return &iso_config_keys[i];
    return NULL;
}

static iso_code parse_bool(const char *v, long *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = 0;
    else
        return ISO_EINVAL;
    return ISO_OK;
}

/* The position of v among choices ("a|b|c"), or -1. */
static int choice_index(const char *choices, const char *v)
{
    size_t n = strlen(v);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* The choice at position index of choices, into out. */
static const char *choice_at(const char *choices, int index, char *out, size_t size)
{
    const char *p = choices;
    for (int i = 0; i < index && p != NULL; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (p == NULL)
        return "?";
    snprintf(out, size, "%.*s", (int)strcspn(p, "|"), p);
    return out;
}

/* Stores text value v into the field a key describes, inside base. */
static iso_code set_value(const iso_config_key *k, void *base, const char *v, iso_err *err)
{
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case ISO_CFG_STR:
        if (strlen(v) >= k->size)
            return iso_fail(err, ISO_ECONFIG, "%s: value too long (max %zu)", k->key, k->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return ISO_OK;
    case ISO_CFG_ENUM: {
        int index = choice_index(k->choices, v);
        if (index < 0)
            return iso_fail(err, ISO_ECONFIG, "%s: '%s' is not one of %s", k->key, v, k->choices);
        *(int *)field = index; /* every enum field is an int-sized C enum */
        return ISO_OK;
    }
    case ISO_CFG_INT: {
        char *end = NULL;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end != '\0')
            return iso_fail(err, ISO_ECONFIG, "%s: '%s' is not an integer", k->key, v);
        if (n < k->min || n > k->max)
            return iso_fail(err, ISO_ECONFIG, "%s: %ld is outside %ld..%ld", k->key, n, k->min,
                            k->max);
        *(long *)field = n;
        return ISO_OK;
    }
    case ISO_CFG_REAL: {
        char *end = NULL;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end != '\0' || d != d)
            return iso_fail(err, ISO_ECONFIG, "%s: '%s' is not a number", k->key, v);
        if (d < (double)k->min || d > (double)k->max)
            return iso_fail(err, ISO_ECONFIG, "%s: %g is outside %ld..%ld", k->key, d, k->min,
                            k->max);
        *(double *)field = d;
        return ISO_OK;
    }
    case ISO_CFG_BOOL: {
        long b;
        if (parse_bool(v, &b) != ISO_OK)
            return iso_fail(err, ISO_ECONFIG, "%s: '%s' is not yes/no", k->key, v);
        *(long *)field = b;
        return ISO_OK;
    }
    }
    return iso_fail(err, ISO_ECONFIG, "%s: bad key type", k->key);
}

const iso_config_section iso_config_sections[] = {
    {"node", 0}, {"reconstruct", 0}, {"anonymize", 0}, {"outbox", 0}, {"retention", 0}, {"http", 0}, {"tls", 0},
    {"peer", 1}, {"surface", 1},     {"route", 1},
};
const size_t iso_config_nsections = sizeof iso_config_sections / sizeof iso_config_sections[0];

/* The repeating sections ([KIND NAME]): where their items live in iso_config. */
typedef struct repeating_kind {
    const char *kind;
    size_t items_offset, count_offset, item_size;
} repeating_kind;

static const repeating_kind repeating[] = {
    {"peer", offsetof(iso_config, peers), offsetof(iso_config, n_peers), sizeof(iso_peer)},
    {"surface", offsetof(iso_config, surfaces), offsetof(iso_config, n_surfaces),
     sizeof(iso_surface_conf)},
    {"route", offsetof(iso_config, routes), offsetof(iso_config, n_routes), sizeof(iso_route_conf)},
};
enum { N_REPEATING = sizeof repeating / sizeof repeating[0] };

static int is_singleton(const char *section)
{
    for (size_t s = 0; s < iso_config_nsections; s++)
        if (!iso_config_sections[s].repeating && strcmp(iso_config_sections[s].name, section) == 0)
            return 1;
    return 0;
}

void iso_config_defaults(iso_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        if (is_singleton(k->section) && k->def != NULL) {
            iso_err e = {0};
            /* The table's own defaults are checked by the unit test. */
            (void)set_value(k, cfg, k->def, &e);
        }
    }
}


typedef struct {
    iso_config *cfg;
    iso_err err;
    keyset node_seen;            /* rows set in the singleton sections */
    keyset *seen[N_REPEATING];   /* the same, per item of each repeating kind */
} load_ctx;

/* A key given twice in one section is a mistake (often a copied block):
 * say so instead of letting the last value win silently. */
static bool first_time(keyset *seen, const iso_config_key *k)
{
    size_t row = (size_t)(k - iso_config_keys);
    uint64_t bit = UINT64_C(1) << (row % 64);
    if (seen->bits[row / 64] & bit)
        return false;
    seen->bits[row / 64] |= bit;
    return true;
}

/* The item of a repeating section ([peer NAME], [surface NAME]) with this
 * name, appended (zeroed, named) the first time the name is seen. */
static void *item_for_section(void **items, size_t *n, size_t size, keyset **seen,
                              const char *kind, const char *name, iso_err *err)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((char *)*items + i * size, name) == 0) /* the name is the first field */
            return (char *)*items + i * size;
    if (name[0] == '\0' || strlen(name) >= 64) {
        iso_fail(err, ISO_ECONFIG, "[%s NAME] needs a name of 1..63 characters", kind);
        return NULL;
    }
    void *ni = realloc(*items, (*n + 1) * size);
    if (ni != NULL)
        *items = ni;
    keyset *ns = realloc(*seen, (*n + 1) * sizeof *ns);
    if (ns != NULL)
        *seen = ns;
    if (ni == NULL || ns == NULL) {
        iso_fail(err, ISO_ENOMEM, "out of memory");
        return NULL;
    }
    memset(&(*seen)[*n], 0, sizeof **seen);
    char *it = (char *)*items + *n * size;
    memset(it, 0, size);
    snprintf(it, 64, "%s", name);
    (*n)++;
    return it;
}

/* Sets one key of a repeating section's item. */
static int repeating_entry(load_ctx *ctx, const char *kind, const char *iname, const char *name,
                           const char *value, void *item, keyset *seen)
{
    const iso_config_key *k = find_key(kind, name);
    if (k == NULL) {
        iso_fail(&ctx->err, ISO_ECONFIG, "unknown key '%s' in [%s %s]", name, kind, iname);
        return 0;
    }
    if (!first_time(seen, k)) {
        iso_fail(&ctx->err, ISO_ECONFIG, "[%s %s] sets %s twice", kind, iname, name);
        return 0;
    }
    return set_value(k, item, value, &ctx->err) == ISO_OK;
}

/* A new item of a repeating section starts from the table's defaults. */
static void item_defaults(const char *kind, void *item)
{
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        if (strcmp(k->section, kind) == 0 && k->def != NULL) {
            iso_err e = {0};
            (void)set_value(k, item, k->def, &e);
        }
    }
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *ctx = user;
    if (ctx->err.code != ISO_OK)
        return 1; /* report only the first problem */
    if (is_singleton(section)) {
        const iso_config_key *k = find_key(section, name);
        if (k == NULL) {
            iso_fail(&ctx->err, ISO_ECONFIG, "unknown key '%s' in [%s]", name, section);
            return 0;
        }
        if (!first_time(&ctx->node_seen, k)) {
            iso_fail(&ctx->err, ISO_ECONFIG, "[%s] sets %s twice", section, name);
            return 0;
        }
        return set_value(k, ctx->cfg, value, &ctx->err) == ISO_OK;
    }
    for (size_t r = 0; r < N_REPEATING; r++) {
        const repeating_kind *rk = &repeating[r];
        size_t klen = strlen(rk->kind);
        if (strncmp(section, rk->kind, klen) != 0 || section[klen] != ' ')
            continue;
        const char *iname = section + klen + 1;
        while (*iname == ' ')
            iname++;
        void **items = (void **)((char *)ctx->cfg + rk->items_offset);
        size_t *n = (size_t *)((char *)ctx->cfg + rk->count_offset);
        size_t before = *n;
        char *item = item_for_section(items, n, rk->item_size, &ctx->seen[r], rk->kind, iname,
                                      &ctx->err);
        if (item == NULL)
            return 0;
        size_t idx = (size_t)(item - (char *)*items) / rk->item_size;
        if (*n > before)
            item_defaults(rk->kind, item);
        return repeating_entry(ctx, rk->kind, iname, name, value, item, &ctx->seen[r][idx]);
    }
    iso_fail(&ctx->err, ISO_ECONFIG, "unknown section [%s]", section);
    return 0;
}

/* Every item of a repeating section sets the keys the table gives no
 * default (def NULL: required). */
static void check_required(load_ctx *ctx)
{
    for (size_t r = 0; r < N_REPEATING && ctx->err.code == ISO_OK; r++) {
        const repeating_kind *rk = &repeating[r];
        const char *items = *(const char *const *)((const char *)ctx->cfg + rk->items_offset);
        size_t n = *(const size_t *)((const char *)ctx->cfg + rk->count_offset);
        for (size_t i = 0; i < n && ctx->err.code == ISO_OK; i++)
            for (size_t k = 0; k < iso_config_nkeys; k++) {
                const iso_config_key *key = &iso_config_keys[k];
                if (key->def != NULL || strcmp(key->section, rk->kind) != 0 ||
                    (ctx->seen[r][i].bits[k / 64] & (UINT64_C(1) << (k % 64))) != 0)
                    continue;
                iso_fail(&ctx->err, ISO_ECONFIG, "[%s %s] needs %s", rk->kind,
                         items + i * rk->item_size, key->key);
                break;
            }
    }
}

const char *iso_config_list_next(const char *p, char *item, size_t size)
{
    p += strspn(p, ", ");
    size_t len = strcspn(p, ", ");
    if (len == 0)
        return NULL;
    snprintf(item, size, "%.*s", (int)len, p);
    return p + len;
}

/* Every name in a comma-separated list is a [peer] (or a [surface]). */
static iso_code check_names(const iso_config *cfg, const char *route, const char *key,
                            const char *list, int surfaces, iso_err *err)
{
    char t[64];
    for (const char *p = list; (p = iso_config_list_next(p, t, sizeof t)) != NULL;) {
        int found = 0;
        if (surfaces) {
            for (size_t i = 0; i < cfg->n_surfaces; i++)
                found |= strcmp(cfg->surfaces[i].name, t) == 0;
        } else {
            found = iso_config_peer_by_name(cfg, t) != NULL;
        }
        if (!found)
            return iso_fail(err, ISO_ECONFIG, "[route %s] %s names '%s', which is no [%s] section",
                            route, key, t, surfaces ? "surface" : "peer");
    }
    return ISO_OK;
}

static iso_code validate_route(const iso_config *cfg, const iso_route_conf *r, iso_err *err)
{
    if (check_names(cfg, r->name, "surfaces", r->surfaces, 1, err) != ISO_OK ||
        check_names(cfg, r->name, "send_results_to", r->send_results_to, 0, err) != ISO_OK ||
        check_names(cfg, r->name, "forward_to", r->forward_to, 0, err) != ISO_OK ||
        check_names(cfg, r->name, "forward_anonymized_to", r->forward_anonymized_to, 0, err) !=
            ISO_OK)
        return err->code;
    if (r->forward_to[0] != '\0' && cfg->an_enabled && !cfg->an_keep_originals)
        return iso_fail(err, ISO_ECONFIG,
                        "[route %s] forward_to sends originals: with [anonymize] enabled it needs "
                        "keep_originals = yes",
                        r->name);
    if (r->max_images > 0 && r->min_images > r->max_images)
        return iso_fail(err, ISO_ECONFIG, "[route %s] min_images is above max_images", r->name);
    return ISO_OK;
}

/* key_file: a path, or credential:NAME in systemd's credentials directory. */
static iso_code resolve_key_path(iso_config *cfg, iso_err *err)
{
    const char *k = cfg->an_key_file;
    cfg->an_key_path[0] = '\0';
    if (k[0] == '\0')
        return ISO_OK;
    if (strncmp(k, "credential:", 11) != 0) {
        snprintf(cfg->an_key_path, sizeof cfg->an_key_path, "%s", k);
        return ISO_OK;
    }
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] == '\0')
        return iso_fail(err, ISO_ECONFIG,
                        "[anonymize] key_file = %s needs systemd's CREDENTIALS_DIRECTORY "
                        "(LoadCredential= in the unit)", k);
    if (k[11] == '\0' || strchr(k + 11, '/') != NULL)
        return iso_fail(err, ISO_ECONFIG, "[anonymize] key_file = %s: a credential name has no '/'",
                        k);
    int n = snprintf(cfg->an_key_path, sizeof cfg->an_key_path, "%s/%s", dir, k + 11);
    if (n < 0 || (size_t)n >= sizeof cfg->an_key_path)
        return iso_fail(err, ISO_ECONFIG, "[anonymize] key_file = %s: $CREDENTIALS_DIRECTORY/%s "
                        "is too long a path", k, k + 11);
    return ISO_OK;
}

/* A SHA-256 fingerprint as 64 hex digits, colons allowed: made lower-case
 * hex without colons in place; "" stays "". */
static iso_code normalize_sha256(const char *peer, const char *key, char *v, iso_err *err)
{
    if (v[0] == '\0')
        return ISO_OK;
    char out[65];
    size_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 64)
            return iso_fail(err, ISO_ECONFIG, "[peer %s] %s is not a SHA-256 fingerprint "
                            "(64 hex digits, colons allowed)", peer, key);
        out[n++] = (char)tolower((unsigned char)*p);
    }
    if (n != 64)
        return iso_fail(err, ISO_ECONFIG, "[peer %s] %s is not a SHA-256 fingerprint "
                        "(64 hex digits, colons allowed)", peer, key);
    out[64] = '\0';
    memcpy(v, out, sizeof out);
    return ISO_OK;
}

/* Listeners and TLS: at least one port; a TLS listener has a certificate
 * and key; whoever verifies peers has somewhere to find trusted CAs. */
static iso_code validate_tls(iso_config *cfg, iso_err *err)
{
    if (cfg->port == 0 && cfg->tls_port == 0)
        return iso_fail(err, ISO_ECONFIG, "[node] port and tls_port are both 0: nothing to listen on");
    if (cfg->port == cfg->tls_port)
        return iso_fail(err, ISO_ECONFIG, "[node] port and tls_port are both %ld", cfg->port);
    bool client = false;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        iso_peer *p = &cfg->peers[i];
        client |= p->tls != 0;
        if (normalize_sha256(p->name, "certificate_sha256", p->certificate_sha256, err) != ISO_OK ||
            normalize_sha256(p->name, "client_certificate_sha256", p->client_certificate_sha256,
                             err) != ISO_OK)
            return err->code;
        if ((p->client_certificate_sha256[0] || p->client_certificate_subject[0]) &&
            !cfg->check_calling_ae)
            return iso_fail(err, ISO_ECONFIG, "[peer %s] binds a client certificate: that needs "
                            "[node] check_calling_ae = yes", p->name);
        if ((p->client_certificate_sha256[0] || p->client_certificate_subject[0]) &&
            cfg->tls_port == 0)
            return iso_fail(err, ISO_ECONFIG, "[peer %s] binds a client certificate: that needs "
                            "a TLS listener ([node] tls_port)", p->name);
    }
    if (cfg->tls_port != 0 && (cfg->tls_certificate[0] == '\0' || cfg->tls_private_key[0] == '\0'))
        return iso_fail(err, ISO_ECONFIG, "[node] tls_port needs [tls] certificate and private_key");
    if ((cfg->tls_certificate[0] == '\0') != (cfg->tls_private_key[0] == '\0'))
        return iso_fail(err, ISO_ECONFIG, "[tls] certificate and private_key go together");
    if ((client || cfg->tls_port != 0) && cfg->tls_verify_peer != ISO_VERIFY_NONE &&
        cfg->tls_ca_file[0] == '\0' && cfg->tls_ca_dir[0] == '\0')
        return iso_fail(err, ISO_ECONFIG, "[tls] verify_peer = %s needs ca_file or ca_dir "
                        "(the CAs that peers' certificates must chain to)",
                        cfg->tls_verify_peer == ISO_VERIFY_REQUIRE ? "require" : "optional");
    return ISO_OK;
}

static iso_code validate(iso_config *cfg, iso_err *err)
{
    if (validate_tls(cfg, err) != ISO_OK)
        return err->code;
    if (resolve_key_path(cfg, err) != ISO_OK)
        return err->code;
    if (!iso_ae_valid(cfg->ae_title))
        return iso_fail(err, ISO_ECONFIG, "[node] ae_title '%s' is not a valid AE title",
                        cfg->ae_title);
    if (cfg->data_dir[0] == '\0')
        return iso_fail(err, ISO_ECONFIG, "[node] data_dir must not be empty");
    if (cfg->http_port != 0 && strncmp(cfg->http_bind, "127.", 4) != 0 &&
        cfg->http_token_file[0] == '\0')
        return iso_fail(err, ISO_ECONFIG,
                        "[http] bind %s is not a loopback address: set [http] token_file so only "
                        "holders of its token can read the metrics",
                        cfg->http_bind);
    if (cfg->rt_high_water_percent > 0 && cfg->rt_low_water_percent >= cfg->rt_high_water_percent)
        return iso_fail(err, ISO_ECONFIG,
                        "[retention] low_water_percent (%ld) must be below high_water_percent (%ld)",
                        cfg->rt_low_water_percent, cfg->rt_high_water_percent);
    for (size_t i = 0; i < cfg->n_surfaces; i++) {
        const iso_surface_conf *sf = &cfg->surfaces[i];
        int r, g, b;
        char extra;
        if (sscanf(sf->color, "%d %d %d %c", &r, &g, &b, &extra) != 3 || r < 0 || r > 255 ||
            g < 0 || g > 255 || b < 0 || b > 255)
            return iso_fail(err, ISO_ECONFIG, "[surface %s] color '%s' is not three numbers 0..255",
                            sf->name, sf->color);
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        const iso_peer *p = &cfg->peers[i];
        if (!iso_ae_valid(p->ae_title))
            return iso_fail(err, ISO_ECONFIG, "[peer %s] ae_title '%s' is not a valid AE title",
                            p->name, p->ae_title);
        if (p->identity == ISO_IDENTITY_ANONYMIZED && !cfg->an_enabled)
            return iso_fail(err, ISO_ECONFIG,
                            "[peer %s] identity = anonymized would send the original identity: it "
                            "needs [anonymize] enabled = yes",
                            p->name);
        for (size_t j = 0; j < i; j++)
            if (iso_ae_equal(cfg->peers[j].ae_title, p->ae_title))
                return iso_fail(err, ISO_ECONFIG, "[peer %s] and [peer %s] share ae_title %s",
                                cfg->peers[j].name, p->name, p->ae_title);
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        iso_code rc = validate_route(cfg, &cfg->routes[i], err);
        if (rc != ISO_OK)
            return rc;
    }
    return ISO_OK;
}

iso_code iso_config_load(iso_config *cfg, const char *path, iso_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return iso_fail(err, ISO_ECONFIG, "%s: %s", path, strerror(errno));
    load_ctx ctx = {.cfg = cfg};
    int line = ini_parse_file(f, on_ini_entry, &ctx);
    fclose(f);
    if (line == 0)
        check_required(&ctx);
    for (size_t r = 0; r < N_REPEATING; r++)
        free(ctx.seen[r]);
    /* a configuration that failed to load holds nothing to free */
    if (line != 0) {
        iso_config_free(cfg);
        if (line < 0)
            return iso_fail(err, ISO_ECONFIG, "%s: cannot read", path);
        if (ctx.err.code == ISO_OK)
            iso_fail(&ctx.err, ISO_ECONFIG, "syntax error");
        return iso_fail(err, ctx.err.code, "%s:%d: %s", path, line, ctx.err.msg);
    }
    if (ctx.err.code != ISO_OK || validate(cfg, &ctx.err) != ISO_OK) {
        iso_config_free(cfg);
        return iso_fail(err, ctx.err.code, "%s: %s", path, ctx.err.msg);
    }
    snprintf(cfg->source, sizeof cfg->source, "%s", path);
    return ISO_OK;
}

iso_code iso_config_set(iso_config *cfg, const char *section, const char *key, const char *value,
                        iso_err *err)
{
    const iso_config_key *k = is_singleton(section) ? find_key(section, key) : NULL;
    if (k == NULL)
        return iso_fail(err, ISO_ECONFIG, "no key %s in [%s]", key, section);
    return set_value(k, cfg, value, err);
}

const iso_config_key *iso_config_key_find(const char *section, const char *key)
{
    return find_key(section, key);
}

iso_code iso_config_init(iso_config *cfg, const char *path, iso_err *err)
{
    iso_config_defaults(cfg);
    if (path == NULL)
        return ISO_OK;
    iso_code rc = iso_config_load(cfg, path, err);
    if (rc != ISO_OK)
        iso_config_free(cfg);
    return rc;
}

void iso_config_free(iso_config *cfg)
{
    free(cfg->peers);
    cfg->peers = NULL;
    cfg->n_peers = 0;
    free(cfg->surfaces);
    cfg->surfaces = NULL;
    cfg->n_surfaces = 0;
    free(cfg->routes);
    cfg->routes = NULL;
    cfg->n_routes = 0;
}

/* A field's value as the file would say it. */
static void print_value(const iso_config_key *k, const void *base, FILE *out)
{
    const char *field = (const char *)base + k->offset;
    char name[64];
    switch (k->type) {
    case ISO_CFG_STR:
        fputs(field, out);
        break;
    case ISO_CFG_ENUM:
        fputs(choice_at(k->choices, *(const int *)field, name, sizeof name), out);
        break;
    case ISO_CFG_INT:
        fprintf(out, "%ld", *(const long *)field);
        break;
    case ISO_CFG_BOOL:
        fputs(*(const long *)field ? "yes" : "no", out);
        break;
    case ISO_CFG_REAL:
        fprintf(out, "%.17g", *(const double *)field);
        break;
    }
}

static void dump_value(const iso_config_key *k, const void *base, FILE *out)
{
    fprintf(out, "%s = ", k->key);
    print_value(k, base, out);
    fputc('\n', out);
}

void iso_config_dump_value(const iso_config *cfg, const char *section, const char *key, FILE *out)
{
    const iso_config_key *k = is_singleton(section) ? find_key(section, key) : NULL;
    if (k != NULL)
        print_value(k, cfg, out);
}

void iso_config_comment(const char *prefix, const char *text, FILE *out)
{
    size_t width = 78 - strlen(prefix);
    const char *p = text;
    while (*p != '\0') {
        size_t take = strlen(p);
        if (take > width) {
            take = width;
            while (take > 0 && p[take] != ' ')
                take--;
            if (take == 0) /* one word longer than a line */
                take = strcspn(p, " ");
        }
        fprintf(out, "%s%.*s\n", prefix, (int)take, p);
        p += take;
        while (*p == ' ')
            p++;
    }
}

void iso_config_dump(const iso_config *cfg, FILE *out)
{
    fprintf(out, "# effective configuration (%s)\n",
            cfg->source[0] ? cfg->source : "built-in defaults");
    for (size_t s = 0; s < iso_config_nsections; s++) {
        const iso_config_section *sec = &iso_config_sections[s];
        if (sec->repeating)
            continue;
        fprintf(out, "%s[%s]\n", s ? "\n" : "", sec->name);
        for (size_t i = 0; i < iso_config_nkeys; i++)
            if (strcmp(iso_config_keys[i].section, sec->name) == 0) {
                iso_config_comment("# ", iso_config_keys[i].doc, out);
                if (iso_config_keys[i].more != NULL)
                    iso_config_comment("# ", iso_config_keys[i].more, out);
                dump_value(&iso_config_keys[i], cfg, out);
            }
    }
    for (size_t r = 0; r < N_REPEATING; r++) {
        const repeating_kind *rk = &repeating[r];
        const char *items = *(const char *const *)((const char *)cfg + rk->items_offset);
        size_t n = *(const size_t *)((const char *)cfg + rk->count_offset);
        for (size_t i = 0; i < n; i++) {
            const char *item = items + i * rk->item_size;
            fprintf(out, "\n[%s %s]\n", rk->kind, item); /* the name is the first field */
            for (size_t k = 0; k < iso_config_nkeys; k++)
                if (strcmp(iso_config_keys[k].section, rk->kind) == 0)
                    dump_value(&iso_config_keys[k], item, out);
        }
    }
}

const iso_peer *iso_config_peer_by_ae(const iso_config *cfg, const char *ae)
{
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (iso_ae_equal(cfg->peers[i].ae_title, ae))
            return &cfg->peers[i];
    return NULL;
}

const iso_peer *iso_config_peer_by_name(const iso_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (strcmp(cfg->peers[i].name, name) == 0)
            return &cfg->peers[i];
    return NULL;
}
