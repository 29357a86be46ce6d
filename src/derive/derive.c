/* derive.c — composes the derived IODs (see derive.h) with the adapter's
 * object builder: the modules shared by every object (Patient, General
 * Study, series, equipment, SOP Common) once, then each IOD's own. */
#include "derive/derive.h"
#include "anon/vault.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recon/stl.h"
#include "util/fsx.h"
#include "util/uid.h"
#include "util/hex.h"

void iso_derive_uid(const uint8_t *key, const char *series_uid, const char *version,
                    const char *kind, int index, char out[65])
{
    char in[256];
    snprintf(in, sizeof in, "isonode derived\\%s\\%s\\%s\\%d", series_uid, version, kind, index);
    unsigned char md[32];
    unsigned int n = 0;
    if (key != NULL)
        HMAC(EVP_sha256(), key, ISO_KEY_LEN, (const unsigned char *)in, strlen(in), md, &n);
    else
        EVP_Digest(in, strlen(in), md, &n, EVP_sha256(), NULL);
    iso_uid_from_hash(md, out);
}

void iso_derive_version(const iso_recon_result *r, const char *content, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int n = 0;
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        snprintf(out, 65, "0");
        return;
    }
    for (size_t i = 0; i < r->series.n_files; i++) {
        EVP_DigestUpdate(c, r->series.instance_uids[i], strlen(r->series.instance_uids[i]) + 1);
        /* two volumes of one multi-frame object are different sources */
        const char *frames = r->series.frame_numbers ? r->series.frame_numbers[i] : NULL;
        if (frames != NULL)
            EVP_DigestUpdate(c, frames, strlen(frames) + 1);
    }
    for (int s = 0; s < r->n_surf; s++) {
        char level[64];
        int len = snprintf(level, sizeof level, "\\%s\\%.6g", r->surf[s].spec.label,
                           r->surf[s].spec.iso);
        EVP_DigestUpdate(c, level, (size_t)len);
    }
    if (content != NULL && content[0] != '\0') {
        EVP_DigestUpdate(c, "\\content\\", 9);
        EVP_DigestUpdate(c, content, strlen(content));
    }
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    iso_hex(md, 32, out);
}

#define SC_IMAGE "1.2.840.10008.5.1.4.1.1.7" /* and .7.x for the multi-frame ones */
#define MF_TRUE_COLOR_SC "1.2.840.10008.5.1.4.1.1.7.4"
#define ENCAPSULATED_STL "1.2.840.10008.5.1.4.1.1.104.3"
#define SURFACE_SEGMENTATION "1.2.840.10008.5.1.4.1.1.66.5"
#define SEGMENTATION "1.2.840.10008.5.1.4.1.1.66.4"

/* sRGB (0..1) to the scaled CIELab of PS3.3 C.10.7.1.1 (L 0..100 and a, b
 * -128..127 mapped onto 0..65535). */
static void cielab(const float rgb[3], char *out, size_t size)
{
    double lin[3];
    for (int i = 0; i < 3; i++) {
        double c = rgb[i];
        lin[i] = c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
    }
    double X = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
    double Y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    double Z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
    double f[3] = {X, Y, Z};
    for (int i = 0; i < 3; i++)
        f[i] = f[i] > 216.0 / 24389 ? cbrt(f[i]) : (24389.0 / 27 * f[i] + 16) / 116;
    double L = 116 * f[1] - 16, a = 500 * (f[0] - f[1]), b = 200 * (f[1] - f[2]);
    long sl = lrint(L / 100 * 65535), sa = lrint((a + 128) / 255 * 65535),
         sb = lrint((b + 128) / 255 * 65535);
    sl = sl < 0 ? 0 : sl > 65535 ? 65535 : sl;
    sa = sa < 0 ? 0 : sa > 65535 ? 65535 : sa;
    sb = sb < 0 ? 0 : sb > 65535 ? 65535 : sb;
    snprintf(out, size, "%ld\\%ld\\%ld", sl, sa, sb);
}

/* Algorithm Identification Macro (PS3.3 Table 10-19). */
static void algorithm(iso_dcmb *b, uint16_t g, uint16_t e, const char *name,
                      const char *parameters)
{
    iso_dcmb_item_begin(b, g, e);
    iso_dcmb_item_begin(b, 0x0066, 0x002F); /* Algorithm Family Code Sequence */
    iso_dcmb_str(b, 0x0008, 0x0100, "123101");
    iso_dcmb_str(b, 0x0008, 0x0102, "DCM");
    iso_dcmb_str(b, 0x0008, 0x0104, "Neighborhood Analysis");
    iso_dcmb_item_end(b);
    iso_dcmb_str(b, 0x0066, 0x0036, name);
    iso_dcmb_str(b, 0x0066, 0x0031, PACKAGE_VERSION);
    iso_dcmb_str(b, 0x0066, 0x0032, parameters);
    iso_dcmb_item_end(b);
}

typedef struct ctx {
    const iso_derive_source *src;
    const iso_recon_result *r;
    char date[16], time[16];
} ctx;

static void common(iso_dcmb *b, const ctx *c, const char *sop_class, const char *sop_uid,
                   const char *series_uid, const char *modality, int series_number,
                   const char *series_description, int instance_number)
{
    const iso_attrs *a = &c->src->first;
    char num[32];
    /* the text below is UTF-8, unless the source's could not be decoded:
     * then its bytes stay under its own character set (our own text is
     * ASCII, which every set keeps) */
    bool raw = a->charset[0] != '\0' && strcmp(a->charset, "ISO_IR 192") != 0 &&
               strcmp(a->charset, "ISO_IR 6") != 0;
    iso_dcmb_str(b, 0x0008, 0x0005, raw ? a->charset : "ISO_IR 192");
    iso_dcmb_str(b, 0x0008, 0x0016, sop_class);
    iso_dcmb_str(b, 0x0008, 0x0018, sop_uid);
    if (!c->src->deidentified) {
        iso_dcmb_str(b, 0x0008, 0x0012, c->date); /* Instance Creation Date/Time */
        iso_dcmb_str(b, 0x0008, 0x0013, c->time);
    }
    /* Patient */
    iso_dcmb_str(b, 0x0010, 0x0010, a->patient_name);
    iso_dcmb_str(b, 0x0010, 0x0020, a->patient_id);
    if (a->issuer[0])
        iso_dcmb_str(b, 0x0010, 0x0021, a->issuer);
    iso_dcmb_str(b, 0x0010, 0x0030, a->birth_date);
    iso_dcmb_str(b, 0x0010, 0x0040, a->sex);
    /* General Study */
    iso_dcmb_str(b, 0x0020, 0x000D, a->study_uid);
    iso_dcmb_str(b, 0x0008, 0x0020, a->study_date);
    iso_dcmb_str(b, 0x0008, 0x0030, a->study_time);
    iso_dcmb_str(b, 0x0008, 0x0090, a->referring_physician);
    iso_dcmb_str(b, 0x0020, 0x0010, a->study_id);
    iso_dcmb_str(b, 0x0008, 0x0050, a->accession);
    if (a->study_description[0])
        iso_dcmb_str(b, 0x0008, 0x1030, a->study_description);
    /* Patient Study: as the sender sent them (type 3: only when known) */
    if (a->patient_age[0])
        iso_dcmb_str(b, 0x0010, 0x1010, a->patient_age);
    if (a->patient_size[0])
        iso_dcmb_str(b, 0x0010, 0x1020, a->patient_size);
    if (a->patient_weight[0])
        iso_dcmb_str(b, 0x0010, 0x1030, a->patient_weight);
    /* series */
    iso_dcmb_str(b, 0x0008, 0x0060, modality);
    iso_dcmb_str(b, 0x0020, 0x000E, series_uid);
    snprintf(num, sizeof num, "%d", series_number);
    iso_dcmb_str(b, 0x0020, 0x0011, num);
    iso_dcmb_str(b, 0x0008, 0x103E, series_description);
    if (!c->src->deidentified) { /* Series Date/Time */
        iso_dcmb_str(b, 0x0008, 0x0021, c->date);
        iso_dcmb_str(b, 0x0008, 0x0031, c->time);
    }
    /* General Series (every result but the STL, whose Encapsulated Document
     * Series has neither): the source's Body Part Examined, and Laterality
     * only where it has a value and belongs -- the captures; segmentations
     * describe anatomy per segment, where General Series Laterality may not
     * appear (PS3.3 C.7.3.1, its condition excludes a Segment Sequence) */
    if (strcmp(sop_class, ENCAPSULATED_STL) != 0 && a->body_part[0] != '\0')
        iso_dcmb_str(b, 0x0018, 0x0015, a->body_part);
    if (strncmp(sop_class, SC_IMAGE, strlen(SC_IMAGE)) == 0 && a->laterality[0] != '\0' &&
        a->body_part[0] != '\0')
        iso_dcmb_str(b, 0x0020, 0x0060, a->laterality);
    /* equipment */
    iso_dcmb_str(b, 0x0008, 0x0070, ISO_DERIVE_MANUFACTURER);
    iso_dcmb_str(b, 0x0008, 0x1090, ISO_DERIVE_MODEL);
    iso_dcmb_str(b, 0x0018, 0x1020, PACKAGE_VERSION);
    snprintf(num, sizeof num, "%d", instance_number);
    iso_dcmb_str(b, 0x0020, 0x0013, num);
    iso_dcmb_str(b, 0x0008, 0x0023, c->date); /* Content Date/Time */
    iso_dcmb_str(b, 0x0008, 0x0033, c->time);
}

/* One item per source instance (Referenced SOP Class and Instance UIDs) in
 * sequence (group, element) of the current item. */
/* Referenced Frame Number (0008,1160) of instance i, when only some of
 * its frames were used (another volume shares the object). */
static void frame_reference(iso_dcmb *b, const iso_derive_source *src, size_t i)
{
    if (src->frame_numbers != NULL && src->frame_numbers[i] != NULL)
        iso_dcmb_str(b, 0x0008, 0x1160, src->frame_numbers[i]);
}

/* image: the sequence's items are Image SOP Instance References (PS3.3
 * 10-3), which may name frames; otherwise SOP Instance References. */
static void instance_items(iso_dcmb *b, const ctx *c, uint16_t group, uint16_t element, bool image)
{
    for (size_t i = 0; i < c->src->n_instances; i++) {
        iso_dcmb_item_begin(b, group, element);
        iso_dcmb_str(b, 0x0008, 0x1150, c->src->class_uids[i]);
        iso_dcmb_str(b, 0x0008, 0x1155, c->src->instance_uids[i]);
        if (image)
            frame_reference(b, c->src, i);
        iso_dcmb_item_end(b);
    }
}

/* The source images, as the Source Image Sequence of a derived image. */
static void references(iso_dcmb *b, const ctx *c) { instance_items(b, c, 0x0008, 0x2112, true); }

static void code(iso_dcmb *b, uint16_t g, uint16_t e, const char *value, const char *scheme,
                 const char *meaning)
{
    iso_dcmb_item_begin(b, g, e);
    iso_dcmb_str(b, 0x0008, 0x0100, value);
    iso_dcmb_str(b, 0x0008, 0x0102, scheme);
    iso_dcmb_str(b, 0x0008, 0x0104, meaning);
    iso_dcmb_item_end(b);
}

static void rgb_pixels(iso_dcmb *b, const iso_image *img, int frames, const uint8_t *data)
{
    char num[32];
    iso_dcmb_str(b, 0x0028, 0x0002, "3");
    iso_dcmb_str(b, 0x0028, 0x0004, "RGB");
    iso_dcmb_str(b, 0x0028, 0x0006, "0");
    snprintf(num, sizeof num, "%d", img->h);
    iso_dcmb_str(b, 0x0028, 0x0010, num);
    snprintf(num, sizeof num, "%d", img->w);
    iso_dcmb_str(b, 0x0028, 0x0011, num);
    iso_dcmb_str(b, 0x0028, 0x0100, "8");
    iso_dcmb_str(b, 0x0028, 0x0101, "8");
    iso_dcmb_str(b, 0x0028, 0x0102, "7");
    iso_dcmb_str(b, 0x0028, 0x0103, "0");
    iso_dcmb_bytes(b, 0x7FE0, 0x0010, "OB", data, (size_t)img->w * img->h * 3 * frames);
}

/* Patient Orientation of a standard view: the patient directions of the
 * row (left to right) and column (top to bottom) of the picture. */
static const char *view_orientation(const char *name)
{
    if (strcmp(name, "anterior") == 0)
        return "L\\F";
    if (strcmp(name, "left-lateral") == 0)
        return "P\\F";
    if (strcmp(name, "superior") == 0)
        return "R\\P";
    return "";
}

static iso_code finish(iso_dcmb *b, const char *dir, const char *name, iso_path *paths,
                       int max_paths, int *n_paths, iso_err *err)
{
    iso_code rc = ISO_OK;
    if (*n_paths >= max_paths)
        rc = iso_fail(err, ISO_ELIMIT, "more than %d derived objects", max_paths);
    else if ((rc = iso_path_fmt(&paths[*n_paths], err, "%s/%s", dir, name)) == ISO_OK &&
             (rc = iso_dcmb_write(b, paths[*n_paths].s, err)) == ISO_OK)
        (*n_paths)++;
    iso_dcmb_free(b);
    return rc;
}

static void common_instance_reference(iso_dcmb *b, const ctx *c)
{
    iso_dcmb_item_begin(b, 0x0008, 0x1115);
    iso_dcmb_str(b, 0x0020, 0x000E, c->src->first.series_uid);
    instance_items(b, c, 0x0008, 0x114A, false);
    iso_dcmb_item_end(b);
}

/* Enhanced General Equipment's serial number, the Frame of Reference
 * module, and a Content Identification: what every spatial result has. */
static void spatial(iso_dcmb *b, const ctx *c, const char *label, const char *description)
{
    iso_dcmb_str(b, 0x0018, 0x1000, "1");
    iso_dcmb_str(b, 0x0020, 0x0052, c->src->frame_of_reference_uid);
    iso_dcmb_str(b, 0x0020, 0x1040, "");
    if (label != NULL) {
        iso_dcmb_str(b, 0x0070, 0x0080, label);
        iso_dcmb_str(b, 0x0070, 0x0081, description);
        iso_dcmb_str(b, 0x0070, 0x0084, "");
    }
}

/* The start of a Segment Sequence item (Segment Description Macro); the
 * caller adds what its IOD needs and closes the item. */
static void segment_begin(iso_dcmb *b, int number, const iso_surface_spec *spec)
{
    char num[32];
    iso_dcmb_item_begin(b, 0x0062, 0x0002);
    snprintf(num, sizeof num, "%d", number);
    iso_dcmb_str(b, 0x0062, 0x0004, num);
    iso_dcmb_str(b, 0x0062, 0x0005, spec->label);
    iso_dcmb_str(b, 0x0062, 0x0008, "AUTOMATIC");
    code(b, 0x0062, 0x0003, spec->category[0], spec->category[1], spec->category[2]);
    code(b, 0x0062, 0x000F, spec->type[0], spec->type[1], spec->type[2]);
}

/* One Surface Segmentation: a segment and a surface per reconstructed
 * surface, the meshes in the source's Frame of Reference. */
static iso_code surface_segmentation(const ctx *c, const char *dir, iso_path *paths,
                                     int max_paths, int *n_paths, iso_err *err)
{
    const iso_recon_result *r = c->r;
    const char *series = c->src->first.series_uid;
    char uid[65], series_uid[65], num[64], lab[64], params[512];
    iso_derive_uid(c->src->key, series, c->src->version, "surfseg-series", 0, series_uid);
    iso_derive_uid(c->src->key, series, c->src->version, "surfseg", 0, uid);
    iso_dcmb *b = iso_dcmb_new();
    if (b == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    common(b, c, SURFACE_SEGMENTATION, uid, series_uid, "SEG", 9004, "isonode surfaces", 1);
    spatial(b, c, "SURFACES", "Iso-surfaces reconstructed by isonode");
    common_instance_reference(b, c);
    for (int s = 0; s < r->n_surf; s++) {
        const iso_surface_result *sr = &r->surf[s];
        segment_begin(b, s + 1, &sr->spec);
        snprintf(num, sizeof num, "%d", s + 1);
        iso_dcmb_str(b, 0x0066, 0x002A, "1"); /* Surface Count */
        iso_dcmb_item_begin(b, 0x0066, 0x002B); /* Referenced Surface Sequence */
        iso_dcmb_str(b, 0x0066, 0x002C, num);
        snprintf(params, sizeof params,
                 "iso-value %g; Flying Edges on a %g mm isotropic grid; small islands dropped, "
                 "Taubin smoothing, quadric decimation (%zu of %zu triangles kept)",
                 sr->spec.iso, r->grid_spacing_mm, sr->mesh.nt, sr->extracted_triangles);
        algorithm(b, 0x0066, 0x002D, "isonode iso-surface and mesh clean-up", params);
        instance_items(b, c, 0x0066, 0x002E, true);
        iso_dcmb_item_end(b);
        iso_dcmb_item_end(b);
    }
    snprintf(num, sizeof num, "%d", r->n_surf);
    iso_dcmb_str(b, 0x0066, 0x0001, num);
    for (int s = 0; s < r->n_surf; s++) {
        const iso_surface_result *sr = &r->surf[s];
        const iso_mesh *m = &sr->mesh;
        const iso_mesh_stats *st = &sr->stats;
        int closed = st->boundary_edges == 0;
        int manifold = st->nonmanifold_edges == 0 && st->misoriented_edges == 0;
        iso_dcmb_item_begin(b, 0x0066, 0x0002); /* Surface Sequence */
        snprintf(num, sizeof num, "%d", s + 1);
        iso_dcmb_str(b, 0x0066, 0x0003, num);
        /* The surface is what the generation algorithm named in the
         * segment made (iso-surface and clean-up are one generation step),
         * not a later modification of it. */
        iso_dcmb_str(b, 0x0066, 0x0009, "NO");
        cielab(sr->spec.color, lab, sizeof lab);
        iso_dcmb_str(b, 0x0062, 0x000D, lab);
        snprintf(num, sizeof num, "%ld", lrint(0.2126 * sr->spec.color[0] * 65535 +
                                                0.7152 * sr->spec.color[1] * 65535 +
                                                0.0722 * sr->spec.color[2] * 65535));
        iso_dcmb_str(b, 0x0062, 0x000C, num);
        iso_dcmb_str(b, 0x0066, 0x000C, "1.0");
        iso_dcmb_str(b, 0x0066, 0x000D, "SURFACE");
        iso_dcmb_str(b, 0x0066, 0x000E, closed && manifold ? "YES" : "NO");
        iso_dcmb_str(b, 0x0066, 0x0010, manifold ? "YES" : "NO");
        iso_dcmb_item_begin(b, 0x0066, 0x0011); /* Surface Points Sequence */
        snprintf(num, sizeof num, "%zu", m->nv);
        iso_dcmb_str(b, 0x0066, 0x0015, num);
        iso_dcmb_bytes(b, 0x0066, 0x0016, "OF", m->v, m->nv * 3 * sizeof(float));
        iso_dcmb_item_end(b);
        iso_dcmb_item_begin(b, 0x0066, 0x0012); /* Surface Points Normals Sequence */
        iso_dcmb_str(b, 0x0066, 0x001E, num);
        iso_dcmb_str(b, 0x0066, 0x001F, "3");
        if (m->n != NULL)
            iso_dcmb_bytes(b, 0x0066, 0x0021, "OF", m->n, m->nv * 3 * sizeof(float));
        iso_dcmb_item_end(b);
        iso_dcmb_item_begin(b, 0x0066, 0x0013); /* Surface Mesh Primitives Sequence */
        uint32_t *idx = malloc((m->nt ? m->nt : 1) * 3 * sizeof *idx);
        if (idx == NULL) {
            iso_dcmb_free(b);
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m->nt * 3; i++)
            idx[i] = m->t[i] + 1; /* 1-based */
        iso_dcmb_bytes(b, 0x0066, 0x0041, "OL", idx, m->nt * 3 * sizeof *idx);
        free(idx);
        iso_dcmb_str(b, 0x0066, 0x0042, ""); /* the other primitive lists: present, empty */
        iso_dcmb_str(b, 0x0066, 0x0043, "");
        iso_dcmb_empty_seq(b, 0x0066, 0x0026);
        iso_dcmb_empty_seq(b, 0x0066, 0x0027);
        iso_dcmb_empty_seq(b, 0x0066, 0x0028);
        iso_dcmb_empty_seq(b, 0x0066, 0x0034);
        iso_dcmb_item_end(b);
        iso_dcmb_item_end(b);
    }
    return finish(b, dir, "surface-segmentation.dcm", paths, max_paths, n_paths, err);
}

static void format_vec(char *out, size_t size, const double *v, int n)
{
    size_t k = 0;
    for (int i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(out + k, size - k, "%s%.6f", i ? "\\" : "", v[i]);
}

/* One binary Segmentation of all surfaces' voxel masks on the isotropic
 * grid: a frame per segment and grid plane that holds any voxel. */
static iso_code binary_segmentation(const ctx *c, const char *dir, iso_path *paths,
                                    int max_paths, int *n_paths, iso_err *err)
{
    const iso_recon_result *r = c->r;
    const char *series = c->src->first.series_uid;
    int nx = r->grid_dim[0], ny = r->grid_dim[1], nz = r->grid_dim[2];
    size_t plane = (size_t)nx * ny;
    char uid[65], series_uid[65], dim_uid[65], num[128], text[256];
    iso_derive_uid(c->src->key, series, c->src->version, "seg-series", 0, series_uid);
    iso_derive_uid(c->src->key, series, c->src->version, "seg", 0, uid);
    iso_derive_uid(c->src->key, series, c->src->version, "seg-dimensions", 0, dim_uid);
    /* frames: (segment, plane) with something in them */
    size_t n_frames = 0;
    for (int s = 0; s < r->n_surf; s++)
        for (int k = 0; k < nz; k++)
            if (memchr(r->surf[s].mask + (size_t)k * plane, 1, plane) != NULL)
                n_frames++;
    if (n_frames == 0)
        return ISO_OK; /* nothing segmented: no object */
    size_t bits = n_frames * plane, bytes = (bits + 7) / 8;
    bytes += bytes % 2;
    uint8_t *px = calloc(bytes, 1);
    iso_dcmb *b = iso_dcmb_new();
    if (px == NULL || b == NULL) {
        free(px);
        iso_dcmb_free(b);
        return iso_fail(err, ISO_ENOMEM, "out of memory for a segmentation");
    }
    common(b, c, SEGMENTATION, uid, series_uid, "SEG", 9005, "isonode segmentation", 1);
    spatial(b, c, "SEGMENTATION", "Voxels at or above each surface's iso-value");
    iso_dcmb_str(b, 0x0008, 0x0008, "DERIVED\\PRIMARY");
    iso_dcmb_str(b, 0x0062, 0x0001, "BINARY");
    iso_dcmb_str(b, 0x0028, 0x2110, "00");
    iso_dcmb_str(b, 0x0028, 0x0002, "1");
    iso_dcmb_str(b, 0x0028, 0x0004, "MONOCHROME2");
    snprintf(num, sizeof num, "%d", ny);
    iso_dcmb_str(b, 0x0028, 0x0010, num);
    snprintf(num, sizeof num, "%d", nx);
    iso_dcmb_str(b, 0x0028, 0x0011, num);
    iso_dcmb_str(b, 0x0028, 0x0100, "1");
    iso_dcmb_str(b, 0x0028, 0x0101, "1");
    iso_dcmb_str(b, 0x0028, 0x0102, "0");
    iso_dcmb_str(b, 0x0028, 0x0103, "0");
    snprintf(num, sizeof num, "%zu", n_frames);
    iso_dcmb_str(b, 0x0028, 0x0008, num);
    common_instance_reference(b, c);
    for (int s = 0; s < r->n_surf; s++) {
        const iso_surface_result *sr = &r->surf[s];
        segment_begin(b, s + 1, &sr->spec);
        snprintf(text, sizeof text, "isonode threshold at %g on the smoothed %g mm grid",
                 sr->spec.iso, r->grid_spacing_mm);
        iso_dcmb_str(b, 0x0062, 0x0009, text);
        cielab(sr->spec.color, num, sizeof num);
        iso_dcmb_str(b, 0x0062, 0x000D, num);
        iso_dcmb_item_end(b);
    }
    /* dimensions: segment, then position */
    iso_dcmb_item_begin(b, 0x0020, 0x9221);
    iso_dcmb_str(b, 0x0020, 0x9164, dim_uid);
    iso_dcmb_item_end(b);
    static const char *const dims[2][3] = {{"(0062,000B)", "(0062,000A)", "Segment"},
                                           {"(0020,0032)", "(0020,9113)", "Position"}};
    for (int d = 0; d < 2; d++) { /* Dimension Index Sequence: pointer, group, label */
        iso_dcmb_item_begin(b, 0x0020, 0x9222);
        iso_dcmb_str(b, 0x0020, 0x9164, dim_uid);
        iso_dcmb_str(b, 0x0020, 0x9165, dims[d][0]);
        iso_dcmb_str(b, 0x0020, 0x9167, dims[d][1]);
        iso_dcmb_str(b, 0x0020, 0x9421, dims[d][2]);
        iso_dcmb_item_end(b);
    }
    /* shared: pixel measures and orientation */
    double sp = r->grid_spacing_mm > 0 ? r->grid_spacing_mm : 1.0;
    double iop[6];
    for (int a = 0; a < 3; a++) {
        iop[a] = r->grid_axis[0][a] / sp;
        iop[3 + a] = r->grid_axis[1][a] / sp;
    }
    iso_dcmb_item_begin(b, 0x5200, 0x9229);
    iso_dcmb_item_begin(b, 0x0028, 0x9110);
    double spv[2] = {sp, sp};
    format_vec(text, sizeof text, spv, 2);
    iso_dcmb_str(b, 0x0028, 0x0030, text);
    snprintf(num, sizeof num, "%.6f", sp);
    iso_dcmb_str(b, 0x0018, 0x0050, num);
    iso_dcmb_str(b, 0x0018, 0x0088, num);
    iso_dcmb_item_end(b);
    iso_dcmb_item_begin(b, 0x0020, 0x9116);
    format_vec(text, sizeof text, iop, 6);
    iso_dcmb_str(b, 0x0020, 0x0037, text);
    iso_dcmb_item_end(b);
    /* every frame derives from the whole source series (it was resampled) */
    iso_dcmb_item_begin(b, 0x0008, 0x9124);
    code(b, 0x0008, 0x9215, "113076", "DCM", "Segmentation");
    for (size_t i = 0; i < c->src->n_instances; i++) {
        /* as instance_items, plus the purpose of each reference */
        iso_dcmb_item_begin(b, 0x0008, 0x2112);
        iso_dcmb_str(b, 0x0008, 0x1150, c->src->class_uids[i]);
        iso_dcmb_str(b, 0x0008, 0x1155, c->src->instance_uids[i]);
        frame_reference(b, c->src, i);
        code(b, 0x0040, 0xA170, "121322", "DCM",
             "Source image for image processing operation");
        iso_dcmb_item_end(b);
    }
    iso_dcmb_item_end(b);
    iso_dcmb_item_end(b);
    /* per frame */
    size_t f = 0;
    for (int s = 0; s < r->n_surf; s++) {
        const uint8_t *m = r->surf[s].mask;
        for (int k = 0; k < nz; k++) {
            const uint8_t *pl = m + (size_t)k * plane;
            if (memchr(pl, 1, plane) == NULL)
                continue;
            size_t bit0 = f * plane;
            for (size_t i = 0; i < plane; i++)
                if (pl[i])
                    px[(bit0 + i) >> 3] |= (uint8_t)(1u << ((bit0 + i) & 7));
            f++;
            iso_dcmb_item_begin(b, 0x5200, 0x9230);
            iso_dcmb_item_begin(b, 0x0020, 0x9111);
            snprintf(num, sizeof num, "%d\\%d", s + 1, k + 1);
            iso_dcmb_str(b, 0x0020, 0x9157, num);
            iso_dcmb_item_end(b);
            iso_dcmb_item_begin(b, 0x0020, 0x9113);
            double pos[3];
            for (int a = 0; a < 3; a++)
                pos[a] = r->grid_origin[a] + k * r->grid_axis[2][a];
            format_vec(text, sizeof text, pos, 3);
            iso_dcmb_str(b, 0x0020, 0x0032, text);
            iso_dcmb_item_end(b);
            iso_dcmb_item_begin(b, 0x0062, 0x000A);
            snprintf(num, sizeof num, "%d", s + 1);
            iso_dcmb_str(b, 0x0062, 0x000B, num);
            iso_dcmb_item_end(b);
            iso_dcmb_item_end(b);
        }
    }
    iso_dcmb_bytes(b, 0x7FE0, 0x0010, "OB", px, bytes);
    free(px);
    return finish(b, dir, "segmentation.dcm", paths, max_paths, n_paths, err);
}

iso_code iso_derive_write(const iso_recon_result *r, const iso_derive_source *src,
                          const char *dir, iso_path *paths, int max_paths, int *n_paths,
                          iso_err *err)
{
    *n_paths = 0;
    if (fsx_mkdir_p(dir, err) != ISO_OK)
        return err->code;
    ctx c = {.src = src, .r = r};
    if (src->deidentified) {
        /* Content Date/Time (type 1 in some of these IODs) take the
         * de-identified study's, shifted or dummy as [anonymize] dates made
         * them: the job's clock next to a shifted Study Date would give the
         * patient's date offset away */
        snprintf(c.date, sizeof c.date, "%.8s",
                 src->first.study_date[0] ? src->first.study_date : "19000101");
        snprintf(c.time, sizeof c.time, "%.6s",
                 src->first.study_time[0] ? src->first.study_time : "000000");
    } else {
        time_t now = src->created > 0 ? (time_t)src->created : time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(c.date, sizeof c.date, "%Y%m%d", &tm);
        strftime(c.time, sizeof c.time, "%H%M%S", &tm);
    }
    const char *series = src->first.series_uid;
    char uid[65], series_uid[65], name[128], desc[64];
    iso_code rc = ISO_OK;

    /* 1. the standard views, one Secondary Capture image each */
    iso_derive_uid(src->key, series, src->version, "sc-series", 0, series_uid);
    int inst = 0;
    for (int s = 0; s < r->n_surf && rc == ISO_OK; s++) {
        const iso_surface_result *sr = &r->surf[s];
        for (int k = 0; k < sr->n_views && rc == ISO_OK; k++) {
            inst++;
            iso_derive_uid(src->key, series, src->version, "sc", inst, uid);
            iso_dcmb *b = iso_dcmb_new();
            if (b == NULL)
                return iso_fail(err, ISO_ENOMEM, "out of memory");
            common(b, &c, SC_IMAGE, uid, series_uid, "OT", 9001, "isonode 3D views", inst);
            iso_dcmb_str(b, 0x0008, 0x0064, "SYN"); /* Conversion Type: synthetic image */
            iso_dcmb_str(b, 0x0008, 0x0008, "DERIVED\\SECONDARY");
            iso_dcmb_str(b, 0x0020, 0x0020, view_orientation(sr->views[k].name));
            snprintf(desc, sizeof desc, "%s surface, %s view", sr->spec.label, sr->views[k].name);
            iso_dcmb_str(b, 0x0008, 0x2111, desc); /* Derivation Description */
            iso_dcmb_str(b, 0x0028, 0x0301, "NO");  /* only orientation letters are drawn */
            references(b, &c);
            rgb_pixels(b, &sr->view_images[k], 1, sr->view_images[k].rgb);
            snprintf(name, sizeof name, "sc-%s-%s.dcm", sr->spec.label, sr->views[k].name);
            rc = finish(b, dir, name, paths, max_paths, n_paths, err);
        }
    }

    /* 2. the rotation, one multi-frame true colour Secondary Capture per surface */
    iso_derive_uid(src->key, series, src->version, "cine-series", 0, series_uid);
    for (int s = 0; s < r->n_surf && rc == ISO_OK; s++) {
        const iso_surface_result *sr = &r->surf[s];
        if (sr->n_rotation < 1)
            continue;
        size_t frame = (size_t)sr->rotation[0].w * sr->rotation[0].h * 3;
        uint8_t *all = malloc(frame * (size_t)sr->n_rotation);
        if (all == NULL)
            return iso_fail(err, ISO_ENOMEM, "out of memory for the rotation");
        for (int k = 0; k < sr->n_rotation; k++)
            memcpy(all + frame * (size_t)k, sr->rotation[k].rgb, frame);
        iso_derive_uid(src->key, series, src->version, "cine", s, uid);
        iso_dcmb *b = iso_dcmb_new();
        if (b == NULL) {
            free(all);
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        }
        common(b, &c, MF_TRUE_COLOR_SC, uid, series_uid, "OT", 9002, "isonode 3D rotation", s + 1);
        char num[32];
        iso_dcmb_str(b, 0x0008, 0x0064, "SYN");
        iso_dcmb_str(b, 0x0008, 0x0008, "DERIVED\\SECONDARY");
        iso_dcmb_str(b, 0x0020, 0x0020, "");
        snprintf(desc, sizeof desc, "%s surface, 360 degree rotation", sr->spec.label);
        iso_dcmb_str(b, 0x0008, 0x2111, desc);
        iso_dcmb_str(b, 0x0028, 0x0301, "NO");
        snprintf(num, sizeof num, "%d", sr->n_rotation);
        iso_dcmb_str(b, 0x0028, 0x0008, num);        /* Number of Frames */
        iso_dcmb_str(b, 0x0028, 0x0009, "(0018,1063)"); /* Frame Increment Pointer: Frame Time */
        iso_dcmb_str(b, 0x0018, 0x1063, "100");      /* ms per frame */
        iso_dcmb_str(b, 0x0018, 0x0040, "10");       /* Cine Rate */
        iso_dcmb_str(b, 0x0008, 0x2144, "10");       /* Recommended Display Frame Rate */
        references(b, &c);
        rgb_pixels(b, &sr->rotation[0], sr->n_rotation, all);
        snprintf(name, sizeof name, "cine-%s.dcm", sr->spec.label);
        rc = finish(b, dir, name, paths, max_paths, n_paths, err);
        free(all);
    }

    /* 3. Encapsulated STL, one per surface */
    iso_derive_uid(src->key, series, src->version, "stl-series", 0, series_uid);
    for (int s = 0; s < r->n_surf && rc == ISO_OK; s++) {
        const iso_surface_result *sr = &r->surf[s];
        uint8_t *stl = NULL;
        size_t len = 0;
        char header[80];
        snprintf(header, sizeof header, "isonode %s iso %g mm LPS", sr->spec.label, sr->spec.iso);
        if ((rc = iso_stl_encode(&sr->mesh, header, &stl, &len, err)) != ISO_OK)
            break;
        iso_derive_uid(src->key, series, src->version, "stl", s, uid);
        iso_dcmb *b = iso_dcmb_new();
        if (b == NULL) {
            free(stl);
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        }
        common(b, &c, ENCAPSULATED_STL, uid, series_uid, "M3D", 9003, "isonode 3D models (STL)",
               s + 1);
        spatial(b, &c, NULL, NULL);
        /* Manufacturing 3D Model */
        code(b, 0x0040, 0x08EA, "mm", "UCUM", "mm");
        /* Encapsulated Document */
        iso_dcmb_str(b, 0x0008, 0x002A, "");  /* Acquisition DateTime */
        iso_dcmb_str(b, 0x0028, 0x0301, "NO");
        snprintf(desc, sizeof desc, "%s surface (iso %g)", sr->spec.label, sr->spec.iso);
        iso_dcmb_str(b, 0x0042, 0x0010, desc); /* Document Title */
        iso_dcmb_empty_seq(b, 0x0040, 0xA043); /* Concept Name Code Sequence */
        iso_dcmb_str(b, 0x0042, 0x0012, "model/stl");
        if (len % 2) { /* OB values have even length: STL readers ignore a trailing pad */
            uint8_t *p = realloc(stl, len + 1);
            if (p == NULL) {
                free(stl);
                iso_dcmb_free(b);
                return iso_fail(err, ISO_ENOMEM, "out of memory");
            }
            stl = p;
            stl[len++] = 0;
        }
        char num[32];
        snprintf(num, sizeof num, "%zu", len);
        iso_dcmb_str(b, 0x0042, 0x0015, num); /* Encapsulated Document Length */
        iso_dcmb_bytes(b, 0x0042, 0x0011, "OB", stl, len);
        free(stl);
        common_instance_reference(b, &c);
        iso_dcmb_item_begin(b, 0x0042, 0x0013); /* Source Instance Sequence */
        iso_dcmb_str(b, 0x0008, 0x1150, src->class_uids[0]);
        iso_dcmb_str(b, 0x0008, 0x1155, src->instance_uids[0]);
        iso_dcmb_item_end(b);
        snprintf(name, sizeof name, "stl-%s.dcm", sr->spec.label);
        rc = finish(b, dir, name, paths, max_paths, n_paths, err);
    }
    if (rc == ISO_OK && r->n_surf > 0)
        rc = surface_segmentation(&c, dir, paths, max_paths, n_paths, err);
    if (rc == ISO_OK && r->n_surf > 0 && r->surf[0].mask != NULL)
        rc = binary_segmentation(&c, dir, paths, max_paths, n_paths, err);
    return rc;
}

bool iso_derive_is_ours(const iso_attrs *a)
{
    return strcmp(a->manufacturer, ISO_DERIVE_MANUFACTURER) == 0 &&
           strcmp(a->model, ISO_DERIVE_MODEL) == 0;
}
