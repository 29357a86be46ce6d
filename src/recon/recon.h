/* recon.h — the reconstruction pipeline: one series in, meshes and pictures
 * out.  This is what `isonode reconstruct` and the daemon's jobs call; the
 * stages themselves live in series.c, resample.c, gaussian.c,
 * isosurface.c, mesh.c, decimate.c and render.c.
 *
 *   load -> resample (isotropic) -> [normalize] -> MIP pictures -> threshold
 *        -> Gaussian
 *        -> per surface: iso-surface (closed) -> drop islands -> Taubin
 *           smoothing -> QEM decimation -> normals -> shaded pictures
 *
 * Defaults are the [reconstruct] defaults of the configuration's key table
 * (iso_recon_defaults reads them there), so the daemon, isonode
 * reconstruct and the docs generated from the table cannot disagree.
 */
#ifndef ISO_RECON_H
#define ISO_RECON_H

#include "recon/mesh.h"
#include "recon/render.h"
#include "recon/series.h"
#include "recon/volume.h"
#include "util/err.h"

#define ISO_RECON_MAX_SURFACES 8
#define ISO_RECON_MAX_STAGES 64
#define ISO_RECON_CT_BONE_HU 300.0
#define ISO_RECON_CT_SKIN_HU (-500.0)

typedef struct iso_surface_spec {
    char label[64]; /* as [surface] label: the Segment Label (LO) */
    double iso;
    float color[3];
    char modality[17];    /* "" or "*": any modality */
    /* what the surface is, for segmentation objects (code, scheme, meaning) */
    char category[3][65];
    char type[3][65];
} iso_surface_spec;

/* Fills the codes of a spec: SNOMED CT Tissue / the given type. */
void iso_surface_codes(iso_surface_spec *s, const char *type_code, const char *type_meaning);

typedef struct iso_recon_params {
    iso_surface_spec surfaces[ISO_RECON_MAX_SURFACES];
    int n_surfaces;            /* 0: the defaults for the modality */
    int configured;            /* surfaces came from [surface] sections: keep those of the
                                  series' modality (or *), refuse if none */
    double spacing_mm;         /* isotropic grid; <= 0 keeps the acquired grid (regular stacks) */
    double sigma_mm;           /* Gaussian; 0 = none */
    double max_gap_mm;
    double min_island_mm3;
    int smooth_iterations;
    size_t max_triangles;      /* per surface, after decimation; 0 = no limit */
    double keep_fraction;      /* if > 0, decimate to this fraction of the extracted triangles */
    int normalize;             /* map the 0.5..99.5 percentiles to 0..1000 before iso-values apply */
    int keep_masks;            /* keep each surface's voxel mask on the grid (for SEG objects) */
    int threads;               /* 0 = one per CPU */
    int render;                /* 0: no pictures */
    int render_size;
    int rotation_frames;
    int rotation_size;         /* pixels of the rotation frames (0: render_size) */
    int mip;                   /* also MIP pictures of the volume (the DICOM results do not use them) */
    iso_volume_choice volumes; /* which volume of a series holding several */
    int volume;                /* > 0: that volume (1-based) */
    int read_whole;            /* 1: read the whole stack before resampling (the results are
                                  the same; for tests and comparisons) */
    void (*progress)(void *ctx, const char *stage, double done); /* optional */
    void *progress_ctx;
} iso_recon_params;

typedef struct iso_surface_result {
    iso_surface_spec spec;
    iso_mesh mesh;
    iso_mesh_stats stats;
    size_t extracted_triangles;
    size_t islands_removed;
    iso_view views[3];
    iso_image view_images[3];
    int n_views;
    iso_image *rotation; /* rotation_frames pictures */
    int n_rotation;
    uint8_t *mask;       /* with keep_masks: 1 where the smoothed grid is at or above iso */
} iso_surface_result;

typedef struct iso_recon_result {
    iso_series_info series;
    int acquired_dim[3];
    double acquired_spacing[3];
    double first_position[3], last_position[3]; /* of the first and last slice, in order (mm) */
    double normal[3];                            /* the slices' normal, row x column */
    int uneven;
    int grid_dim[3];
    double grid_spacing_mm;
    double grid_origin[3];
    double grid_axis[3][3];    /* LPS step per grid index (orthogonal, grid_spacing_mm long) */
    int normalized;
    double normalized_from[2]; /* the input values mapped to 0 and 1000 */
    iso_surface_result surf[ISO_RECON_MAX_SURFACES];
    int n_surf;
    iso_view mip_views[3];
    iso_image mip[3];
    int n_mip;
    struct {
        char name[32];
        double seconds;
    } stage[ISO_RECON_MAX_STAGES];
    int n_stages;
    double total_seconds;
    long peak_rss_kb;
    int streamed;              /* the acquired pixels were read a window at a time, never whole */
} iso_recon_result;

/* The built-in parameters: the table's [reconstruct] defaults (params.c). */
void iso_recon_defaults(iso_recon_params *p);

/* The [reconstruct] keys the pipeline reads (the others set up the daemon's
 * jobs).  Each is also an option of isonode reconstruct, --KEY with '-' for
 * '_'; alias is a documented shorter name (or NULL). */
typedef struct iso_recon_key {
    const char *key;
    const char *alias;
} iso_recon_key;
extern const iso_recon_key iso_recon_keys[];
extern const size_t iso_recon_nkeys;

/* The parameters the [reconstruct] section configures (params.c). */
struct iso_config;
void iso_recon_params_from_config(const struct iso_config *cfg, iso_recon_params *p);
/* The same with only the [surface] sections named in names (comma
 * separated; NULL or "": all of them), as a [route] asks. */
void iso_recon_params_for_surfaces(const struct iso_config *cfg, const char *names,
                                   iso_recon_params *p);

/* Runs the pipeline on the files of one series.  A series the engine must
 * refuse returns ISO_EREFUSED with the one-line reason in err (and nothing
 * in r). */
iso_code iso_reconstruct(char *const *paths, size_t n, const iso_recon_params *p,
                         iso_recon_result *r, iso_err *err);
void iso_recon_result_free(iso_recon_result *r);

/* Otsu's threshold of a volume (256 bins between its extremes): the
 * default iso-value for modalities without calibrated units (MR). */
double iso_otsu_threshold(const iso_volume *v);

#endif
