/* stl.c — binary STL encoding (see stl.h). */
#include "recon/stl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void le32f(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

iso_code iso_stl_encode(const iso_mesh *m, const char *header, uint8_t **out, size_t *len,
                        iso_err *err)
{
    if (m->nt > UINT32_MAX)
        return iso_fail(err, ISO_EINVAL, "too many triangles for STL");
    size_t n = 84 + 50 * m->nt;
    uint8_t *b = calloc(1, n);
    if (b == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for STL");
    snprintf((char *)b, 80, "%s", header ? header : "isonode");
    uint32_t nt = (uint32_t)m->nt;
    b[80] = (uint8_t)nt;
    b[81] = (uint8_t)(nt >> 8);
    b[82] = (uint8_t)(nt >> 16);
    b[83] = (uint8_t)(nt >> 24);
    for (size_t t = 0; t < m->nt; t++) {
        uint8_t *p = b + 84 + 50 * t;
        const float *a = m->v + 3 * m->t[3 * t], *c = m->v + 3 * m->t[3 * t + 1],
                    *d = m->v + 3 * m->t[3 * t + 2];
        float u[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float w[3] = {d[0] - a[0], d[1] - a[1], d[2] - a[2]};
        float nn[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
        float l = sqrtf(nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2]);
        for (int k = 0; k < 3; k++) {
            le32f(p + 4 * k, l > 0 ? nn[k] / l : 0);
            le32f(p + 12 + 4 * k, a[k]);
            le32f(p + 24 + 4 * k, c[k]);
            le32f(p + 36 + 4 * k, d[k]);
        }
    }
    *out = b;
    *len = n;
    return ISO_OK;
}

iso_code iso_stl_write(const char *path, const iso_mesh *m, const char *header, iso_err *err)
{
    uint8_t *b;
    size_t n;
    if (iso_stl_encode(m, header, &b, &n, err) != ISO_OK)
        return err->code;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        free(b);
        return iso_fail(err, ISO_EIO, "cannot create %s", path);
    }
    size_t w = fwrite(b, 1, n, f);
    free(b);
    if (fclose(f) != 0 || w != n)
        return iso_fail(err, ISO_EIO, "cannot write %s", path);
    return ISO_OK;
}
