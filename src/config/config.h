/* config.h — the node's configuration: one table of keys, one struct.
 *
 * iso_config_keys[] lists every key of every section with its type, bounds,
 * default and documentation.  Parsing, defaults, `isonoded --dump-config`,
 * the options of `isonode reconstruct`, the pipeline's built-in parameters
 * and, at build time (tools/confdoc), the key sections of isonode.conf(5),
 * the reconstruct options of isonode(1) and the reference etc/isonode.conf
 * all come from this one table, so a key cannot exist in one place and be
 * missing or different in another.
 *
 * The file format is INI (parsed by libinih).  Unknown sections and keys are
 * errors reported as FILE:LINE.  [peer NAME] sections may repeat, one per
 * remote node.
 */
#ifndef ISO_CONFIG_H
#define ISO_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"
#include "util/log.h"

enum { ISO_AE_LEN = 16, ISO_HOST_LEN = 255, ISO_PATH_LEN = 1024 };

/* Enum keys are C enums from the moment they are loaded: each enum's
 * values are in the order of its key's choices in the table. */
typedef enum { ISO_DUP_KEEP = 0, ISO_DUP_REPLACE = 1 } iso_dup_policy;            /* keep|replace */
typedef enum { ISO_DATES_REMOVE = 0, ISO_DATES_FULL = 1, ISO_DATES_MODIFIED = 2 }
    iso_dates_option;                                                            /* remove|full|modified */
typedef enum { ISO_BURNED_IN_REJECT = 0, ISO_BURNED_IN_FLAG = 1 } iso_burned_in_policy; /* reject|flag */
typedef enum { ISO_VOLUMES_FIRST = 0, ISO_VOLUMES_LARGEST = 1, ISO_VOLUMES_ALL = 2 }
    iso_volume_choice; /* first|largest|all */
typedef enum { ISO_IDENTITY_ORIGINAL = 0, ISO_IDENTITY_ANONYMIZED = 1 } iso_peer_identity; /* original|anonymized */
typedef enum { ISO_TLS_BCP195_ND = 0, ISO_TLS_BCP195_EXTENDED = 1 } iso_tls_profile; /* bcp195-nd|bcp195-extended */
typedef enum { ISO_VERIFY_REQUIRE = 0, ISO_VERIFY_OPTIONAL = 1, ISO_VERIFY_NONE = 2 }
    iso_verify_peer;                                                             /* require|optional|none */

typedef struct iso_peer {
    char name[64];
    char ae_title[ISO_AE_LEN + 1];
    char host[ISO_HOST_LEN + 1];
    long port;
    iso_peer_identity identity; /* the identity results sent there carry */
    long tls;                   /* associations to it use DICOM TLS */
    long query;                 /* may C-FIND */
    long retrieve;              /* may C-MOVE */
    long storage_commitment;    /* asked to commit what the node delivers to it */
    char certificate_sha256[100];        /* pinned server certificate (normalized: 64 hex) */
    char client_certificate_sha256[100]; /* its client certificate, when it calls us */
    char client_certificate_subject[256];
} iso_peer;

/* A surface the reconstruction extracts: [surface NAME] sections replace the
 * built-in ones (CT bone and skin, other modalities Otsu). */
typedef struct iso_surface_conf {
    char name[64];
    char modality[17];        /* CT, MR, ... or * for any */
    double iso;
    char label[32];           /* defaults to NAME */
    char color[32];           /* "R G B", 0..255 */
    char category_code[17], category_scheme[17], category_meaning[65];
    char type_code[17], type_scheme[17], type_meaning[65];
} iso_surface_conf;

/* A routing rule ([route NAME]): which series it matches and what happens to
 * them.  Rules are tried in file order; the first that matches decides. */
typedef struct iso_route_conf {
    char name[64];
    /* matches (text: shell globs, case-insensitive; "" matches anything) */
    char modality[64];
    char body_part[64];
    char description[128];
    char sop_class[128];
    char calling_ae[64];
    long min_images, max_images;          /* 0: no bound */
    double min_slice_mm, max_slice_mm;    /* Slice Thickness bounds, 0: no bound */
    /* actions */
    long ignore;                          /* stored, nothing else */
    long reconstruct;
    char surfaces[256];                   /* [surface] names, comma separated; "": all of the modality */
    long return_results;                  /* derived results to the calling AE's [peer] */
    char send_results_to[256];            /* and to these peers */
    char forward_to[256];                 /* the series as received, to these peers */
    char forward_anonymized_to[256];      /* de-identified copies, to these peers */
    long keep_days;                       /* retention of the series' study; 0: [retention]'s */
} iso_route_conf;

typedef struct iso_config {
    /* [node] */
    char ae_title[ISO_AE_LEN + 1];
    char bind[ISO_HOST_LEN + 1];
    long port;
    long tls_port;
    char data_dir[ISO_PATH_LEN];
    long max_associations;
    long max_pdu;
    long acse_timeout;
    long dimse_timeout;
    long network_timeout;
    long shutdown_timeout;
    long min_free_mb;
    long max_associations_per_host;
    long max_nesting;
    long max_object_mb;
    long max_inflate_ratio;
    long max_memory_mb;
    iso_dup_policy duplicates;
    long check_calling_ae;
    long open_query_retrieve;
    long check_host;
    iso_log_level log_level;
    long watchdog;
    /* [reconstruct]: the pipeline's defaults (isonode reconstruct uses them too) */
    double rc_spacing_mm;
    double rc_sigma_mm;
    long rc_smooth_iterations;
    long rc_max_triangles;
    double rc_max_gap_mm;
    double rc_min_island_mm3;
    long rc_threads;
    long rc_render;
    long rc_render_size;
    long rc_rotation_frames;
    long rc_rotation_size;
    iso_volume_choice rc_volumes;
    long rc_volume;
    long rc_settle_seconds;
    long rc_workers;
    long rc_nice;
    long rc_max_attempts;
    /* [anonymize]: de-identification at ingest (src/anon) */
    long an_enabled;
    long an_retain_safe_private;
    long an_retain_uids;
    long an_retain_device_identity;
    long an_retain_institution_identity;
    long an_retain_patient_characteristics;
    iso_dates_option an_dates;
    long an_clean_descriptors;
    long an_clean_structured_content;
    long an_clean_graphics;
    iso_burned_in_policy an_burned_in;
    long an_keep_originals;
    char an_key_file[ISO_PATH_LEN];
    char an_key_path[ISO_PATH_LEN + 64]; /* an_key_file resolved ("credential:NAME"); "" = default */
    /* [tls]: DICOM TLS (src/tls) */
    char tls_certificate[ISO_PATH_LEN];
    char tls_private_key[ISO_PATH_LEN];
    char tls_ca_file[ISO_PATH_LEN];
    char tls_ca_dir[ISO_PATH_LEN];
    char tls_crl_file[ISO_PATH_LEN];
    iso_tls_profile tls_profile;
    iso_verify_peer tls_verify_peer;
    /* [outbox]: delivery retries */
    long ob_max_attempts;
    long ob_retry_base_seconds;
    long ob_retry_max_seconds;
    long ob_commitment_timeout_seconds;
    long rt_keep_days;
    long rt_high_water_percent;
    long rt_low_water_percent;
    long rt_interval_seconds;
    long rt_keep_vault_days;
    char http_bind[ISO_HOST_LEN + 1];
    long http_port;
    char http_token_file[ISO_PATH_LEN];
    /* [peer NAME] sections, in file order */
    iso_peer *peers;
    size_t n_peers;
    /* [surface NAME] sections, in file order */
    iso_surface_conf *surfaces;
    size_t n_surfaces;
    /* [route NAME] sections, in file order (none: the built-in default rule) */
    iso_route_conf *routes;
    size_t n_routes;
    /* the file it came from, or "" for built-in defaults */
    char source[ISO_PATH_LEN];
} iso_config;

typedef enum { ISO_CFG_STR, ISO_CFG_INT, ISO_CFG_BOOL, ISO_CFG_ENUM, ISO_CFG_REAL } iso_config_type;

typedef struct iso_config_key {
    const char *section;  /* "node", "reconstruct", "anonymize", or "peer"/"surface"/"route" (every [KIND NAME]) */
    const char *key;
    iso_config_type type;
    size_t offset;        /* into iso_config, or the repeating section's struct */
    size_t size;          /* buffer size for strings */
    const char *def;      /* default as text; NULL means required */
    long min, max;        /* bounds for integers and reals */
    const char *choices;  /* "a|b|c" for enums */
    const char *doc;      /* what the key does, in one or two sentences */
    const char *more;     /* further detail for isonode.conf(5) and the reference (or NULL) */
} iso_config_key;

extern const iso_config_key iso_config_keys[];
extern const size_t iso_config_nkeys;

/* The sections, in the order the docs and --dump-config give them:
 * [node], [reconstruct], [anonymize], [outbox] once each, then the
 * repeating [peer NAME], [surface NAME], [route NAME]. */
typedef struct iso_config_section {
    const char *name;
    int repeating; /* [NAME ITEM], any number of them */
} iso_config_section;
extern const iso_config_section iso_config_sections[];
extern const size_t iso_config_nsections;

/* Fills cfg with the built-in defaults. */
void iso_config_defaults(iso_config *cfg);
/* Loads path over the defaults.  On failure err says FILE:LINE: why, and
 * cfg holds nothing to free (its lists are emptied). */
iso_code iso_config_load(iso_config *cfg, const char *path, iso_err *err);
/* Sets one key of a singleton section ([node], [reconstruct], ...) from
 * text, with the checks a file gets (type, bounds, choices): a command line
 * option that names a key goes through here. */
iso_code iso_config_set(iso_config *cfg, const char *section, const char *key, const char *value,
                        iso_err *err);
/* The table's row for a key, or NULL. */
const iso_config_key *iso_config_key_find(const char *section, const char *key);
/* The configuration a main starts from: the defaults, overlaid by path if
 * it is not NULL.  On failure nothing needs freeing. */
iso_code iso_config_init(iso_config *cfg, const char *path, iso_err *err);
/* Frees the peer list. */
void iso_config_free(iso_config *cfg);
/* Writes one key's effective value of a singleton section, as a file says it. */
void iso_config_dump_value(const iso_config *cfg, const char *section, const char *key, FILE *out);
/* Writes text as comment lines of at most 78 columns, each starting with
 * prefix ("# "): the parser takes lines of up to 200 bytes, and people
 * read narrow ones (--dump-config, and tools/confdoc's reference file). */
void iso_config_comment(const char *prefix, const char *text, FILE *out);
/* Writes the effective configuration as INI, with doc lines as comments. */
void iso_config_dump(const iso_config *cfg, FILE *out);
/* Peer whose ae_title matches (spaces insignificant), or NULL. */
const iso_peer *iso_config_peer_by_ae(const iso_config *cfg, const char *ae);
/* Peer by section name, or NULL. */
const iso_peer *iso_config_peer_by_name(const iso_config *cfg, const char *name);
/* Walks a list of names ("a, b c", as routes name peers and surfaces):
 * copies the next name into item and returns where the walk goes on, or
 * NULL at the end.  for (p = list; (p = iso_config_list_next(p, n, sizeof n));) */
const char *iso_config_list_next(const char *p, char *item, size_t size);


#endif
