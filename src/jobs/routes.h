/* routes.h — what happens to a complete series: the [route NAME] rules of
 * the configuration, tried in file order, the first match deciding.  With
 * no [route] section the node does its mission: every CT and MR series is
 * reconstructed with the configured surfaces and the results go back to
 * the sender; other series are stored only. */
#ifndef ISO_JOBS_ROUTES_H
#define ISO_JOBS_ROUTES_H

#include "config/config.h"

/* What is known of a series when it is complete. */
typedef struct iso_series_facts {
    const char *modality, *body_part, *description, *sop_class, *calling_ae;
    long images;
    double slice_thickness; /* 0: unknown */
} iso_series_facts;

typedef struct iso_route_decision {
    char rule[80];          /* "route NAME", "default" or "no route" */
    int ignore;             /* the rule says: stored, nothing else */
    int reconstruct;
    int return_results;
    const char *surfaces;   /* [surface] names, "" for all of the modality */
    const char *send_results_to, *forward_to, *forward_anonymized_to;
} iso_route_decision;

void iso_route_decide(const iso_config *cfg, const iso_series_facts *f, iso_route_decision *d);

#endif
