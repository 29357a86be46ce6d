/* routes.c — matching a complete series against the [route] rules (see
 * routes.h).  Text matches are shell globs, case-insensitive (fnmatch). */
#include "jobs/routes.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

static int glob_ok(const char *pattern, const char *value)
{
    return pattern[0] == '\0' || fnmatch(pattern, value ? value : "", FNM_CASEFOLD) == 0;
}

static int matches(const iso_route_conf *r, const iso_series_facts *f)
{
    if (!glob_ok(r->modality, f->modality) || !glob_ok(r->body_part, f->body_part) ||
        !glob_ok(r->description, f->description) || !glob_ok(r->sop_class, f->sop_class) ||
        !glob_ok(r->calling_ae, f->calling_ae))
        return 0;
    if ((r->min_images > 0 && f->images < r->min_images) ||
        (r->max_images > 0 && f->images > r->max_images))
        return 0;
    /* a thickness bound needs a known thickness */
    if ((r->min_slice_mm > 0 || r->max_slice_mm > 0) && f->slice_thickness <= 0)
        return 0;
    if ((r->min_slice_mm > 0 && f->slice_thickness < r->min_slice_mm) ||
        (r->max_slice_mm > 0 && f->slice_thickness > r->max_slice_mm))
        return 0;
    return 1;
}

void iso_route_decide(const iso_config *cfg, const iso_series_facts *f, iso_route_decision *d)
{
    memset(d, 0, sizeof *d);
    d->surfaces = d->send_results_to = d->forward_to = d->forward_anonymized_to = "";
    if (cfg->n_routes == 0) {
        snprintf(d->rule, sizeof d->rule, "default");
        int ct_mr = f->modality != NULL &&
                    (strcmp(f->modality, "CT") == 0 || strcmp(f->modality, "MR") == 0);
        d->reconstruct = ct_mr;
        d->return_results = ct_mr;
        return;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const iso_route_conf *r = &cfg->routes[i];
        if (!matches(r, f))
            continue;
        snprintf(d->rule, sizeof d->rule, "route %s", r->name);
        if (r->ignore) {
            d->ignore = 1;
            return;
        }
        d->reconstruct = (int)r->reconstruct;
        d->return_results = (int)r->return_results;
        d->surfaces = r->surfaces;
        d->send_results_to = r->send_results_to;
        d->forward_to = r->forward_to;
        d->forward_anonymized_to = r->forward_anonymized_to;
        return;
    }
    snprintf(d->rule, sizeof d->rule, "no route");
}
