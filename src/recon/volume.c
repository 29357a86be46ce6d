/* volume.c — allocation and small helpers for volumes, stacks and meshes. */
#include "recon/volume.h"

#include <stdlib.h>
#include <string.h>

#include "util/par.h"

size_t iso_volume_count(const iso_volume *v)
{
    return (size_t)v->dim[0] * v->dim[1] * v->dim[2];
}

iso_code iso_volume_alloc(iso_volume *v, const int dim[3], iso_voxel_type type, iso_err *err)
{
    memset(v, 0, sizeof *v);
    if (dim[0] < 1 || dim[1] < 1 || dim[2] < 1)
        return iso_fail(err, ISO_EINVAL, "empty volume %dx%dx%d", dim[0], dim[1], dim[2]);
    memcpy(v->dim, dim, sizeof v->dim);
    v->type = type;
    size_t bytes = iso_volume_count(v) * (type == ISO_VOX_I16 ? 2 : 4);
    v->data = calloc(1, bytes);
    if (v->data == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for a %dx%dx%d volume (%zu MB)", dim[0],
                        dim[1], dim[2], bytes >> 20);
    return ISO_OK;
}

void iso_volume_free(iso_volume *v)
{
    if (v != NULL) {
        free(v->data);
        v->data = NULL;
    }
}

void iso_volume_range(const iso_volume *v, double *lo, double *hi)
{
    size_t n = iso_volume_count(v);
    if (v->type == ISO_VOX_I16) {
        const int16_t *p = v->data;
        int16_t a = p[0], b = p[0];
        for (size_t i = 1; i < n; i++) {
            a = p[i] < a ? p[i] : a;
            b = p[i] > b ? p[i] : b;
        }
        *lo = a;
        *hi = b;
    } else {
        const float *p = v->data;
        float a = p[0], b = p[0];
        for (size_t i = 1; i < n; i++) {
            a = p[i] < a ? p[i] : a;
            b = p[i] > b ? p[i] : b;
        }
        *lo = a;
        *hi = b;
    }
}

void iso_volume_to_patient(const iso_volume *v, double i, double j, double k, double out[3])
{
    for (int a = 0; a < 3; a++)
        out[a] = v->origin[a] + i * v->axis[0][a] + j * v->axis[1][a] + k * v->axis[2][a];
}

void iso_stack_free(iso_stack *s)
{
    if (s != NULL) {
        iso_volume_free(&s->vol);
        free(s->position);
        free(s->depth);
        s->position = NULL;
        s->depth = NULL;
        if (s->free_src != NULL)
            s->free_src(s->src);
        s->src = NULL;
        s->free_src = NULL;
        s->read_slice = NULL;
    }
}

size_t iso_stack_slice_bytes(const iso_stack *s)
{
    return (size_t)s->vol.dim[0] * s->vol.dim[1] * (s->vol.type == ISO_VOX_I16 ? 2 : 4);
}

typedef struct read_all_job {
    iso_stack *s;
    iso_err *errs;
} read_all_job;

static void read_one(void *ctx, size_t k, int worker)
{
    (void)worker;
    read_all_job *j = ctx;
    iso_stack *s = j->s;
    if (j->errs[worker].code != ISO_OK)
        return;
    (void)s->read_slice(s->src, (int)k, (char *)s->vol.data + k * iso_stack_slice_bytes(s),
                        &j->errs[worker]);
}

iso_code iso_stack_read_all(iso_stack *s, int threads, iso_err *err)
{
    if (s->vol.data != NULL || s->read_slice == NULL)
        return ISO_OK;
    int dim[3] = {s->vol.dim[0], s->vol.dim[1], s->vol.dim[2]};
    iso_volume v;
    if (iso_volume_alloc(&v, dim, s->vol.type, err) != ISO_OK)
        return err->code;
    s->vol.data = v.data;
    int t = iso_threads(threads);
    iso_err *errs = calloc((size_t)t, sizeof *errs);
    if (errs == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    read_all_job j = {s, errs};
    iso_parallel_for((size_t)dim[2], t, read_one, &j);
    iso_code rc = ISO_OK;
    for (int i = 0; i < t && rc == ISO_OK; i++)
        if (errs[i].code != ISO_OK)
            rc = iso_fail(err, errs[i].code, "%s", errs[i].msg);
    free(errs);
    return rc;
}

void iso_mesh_free(iso_mesh *m)
{
    if (m != NULL) {
        free(m->v);
        free(m->t);
        free(m->n);
        memset(m, 0, sizeof *m);
    }
}
