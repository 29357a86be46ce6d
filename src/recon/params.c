/* params.c — the pipeline's parameters from the [reconstruct] section of the
 * configuration, so the daemon and `isonode reconstruct` start from the
 * same defaults (the config table's defaults equal ISO_RECON_DEFAULT_*,
 * which test_recon checks). */
#include "config/config.h"
#include "recon/recon.h"

void iso_recon_params_from_config(const iso_config *cfg, iso_recon_params *p)
{
    iso_recon_defaults(p);
    p->spacing_mm = cfg->rc_spacing_mm;
    p->sigma_mm = cfg->rc_sigma_mm;
    p->smooth_iterations = (int)cfg->rc_smooth_iterations;
    p->max_triangles = (size_t)cfg->rc_max_triangles;
    p->max_gap_mm = cfg->rc_max_gap_mm;
    p->min_island_mm3 = cfg->rc_min_island_mm3;
    p->threads = (int)cfg->rc_threads;
    p->render = (int)cfg->rc_render;
    p->render_size = (int)cfg->rc_render_size;
    p->rotation_frames = (int)cfg->rc_rotation_frames;
}
