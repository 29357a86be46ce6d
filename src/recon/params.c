/* params.c — the pipeline's parameters from the [reconstruct] section of the
 * configuration: the daemon, `isonode reconstruct` (whose options are these
 * keys) and the built-in defaults (the table's) all go through here. */
#include "config/config.h"
#include "recon/recon.h"

#include <stdio.h>
#include <string.h>

/* Is name in the list of names? */
static int listed(const char *list, const char *name)
{
    char item[64];
    for (const char *p = list; (p = iso_config_list_next(p, item, sizeof item)) != NULL;)
        if (strcmp(item, name) == 0)
            return 1;
    return 0;
}

const iso_recon_key iso_recon_keys[] = {
    {"spacing_mm", "spacing"},       {"sigma_mm", "sigma"},         {"smooth_iterations", "smooth"},
    {"max_triangles", "triangles"},  {"max_gap_mm", "max-gap"},     {"min_island_mm3", "min-island"},
    {"threads", NULL},               {"render", NULL},              {"render_size", "size"},
    {"rotation_frames", "frames"},   {"rotation_size", NULL},       {"volumes", NULL},
    {"volume", NULL},
};
const size_t iso_recon_nkeys = sizeof iso_recon_keys / sizeof iso_recon_keys[0];

void iso_recon_defaults(iso_recon_params *p)
{
    iso_config cfg;
    iso_config_defaults(&cfg);
    iso_recon_params_from_config(&cfg, p);
}

void iso_recon_params_from_config(const iso_config *cfg, iso_recon_params *p)
{
    iso_recon_params_for_surfaces(cfg, NULL, p);
}

/* Every field is set from the configuration, which starts from the table's
 * defaults (iso_recon_keys lists the keys read here). */
void iso_recon_params_for_surfaces(const iso_config *cfg, const char *names, iso_recon_params *p)
{
    memset(p, 0, sizeof *p);
    p->mip = 1;
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
    p->rotation_size = (int)cfg->rc_rotation_size;
    p->volumes = cfg->rc_volumes;
    p->volume = (int)cfg->rc_volume;
    /* [surface NAME] sections replace the built-in surfaces */
    for (size_t i = 0; i < cfg->n_surfaces && p->n_surfaces < ISO_RECON_MAX_SURFACES; i++) {
        const iso_surface_conf *c = &cfg->surfaces[i];
        if (names != NULL && names[0] != '\0' && !listed(names, c->name))
            continue;
        iso_surface_spec *s = &p->surfaces[p->n_surfaces++];
        memset(s, 0, sizeof *s);
        snprintf(s->label, sizeof s->label, "%s", c->label[0] ? c->label : c->name);
        s->iso = c->iso;
        snprintf(s->modality, sizeof s->modality, "%s", c->modality);
        int rgb[3] = {220, 210, 190};
        if (sscanf(c->color, "%d %d %d", &rgb[0], &rgb[1], &rgb[2]) == 3)
            for (int k = 0; k < 3; k++)
                s->color[k] = (float)rgb[k] / 255.0f;
        snprintf(s->category[0], sizeof s->category[0], "%s", c->category_code);
        snprintf(s->category[1], sizeof s->category[1], "%s", c->category_scheme);
        snprintf(s->category[2], sizeof s->category[2], "%s", c->category_meaning);
        snprintf(s->type[0], sizeof s->type[0], "%s", c->type_code);
        snprintf(s->type[1], sizeof s->type[1], "%s", c->type_scheme);
        snprintf(s->type[2], sizeof s->type[2], "%s", c->type_meaning);
        p->configured = 1;
    }
}
