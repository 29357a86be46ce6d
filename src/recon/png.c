/* png.c — writes 8-bit RGB PNG files (PNG spec, ISO/IEC 15948): signature,
 * IHDR, one zlib-compressed IDAT with filter type 0 per row, IEND.  zlib
 * supplies deflate and the CRC; libpng would add a dependency for forty
 * lines. */
#include "recon/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC) at *at. */
static void chunk(uint8_t **at, const char type[4], const uint8_t *data, uint32_t len)
{
    be32(*at, len);
    memcpy(*at + 4, type, 4);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len) {
        memcpy(*at + 8, data, len);
        crc = crc32(crc, data, len);
    }
    be32(*at + 8 + len, (uint32_t)crc);
    *at += 12 + len;
}

iso_code iso_png_encode(const iso_image *img, uint8_t **png, size_t *png_len, iso_err *err)
{
    *png = NULL;
    *png_len = 0;
    size_t row = (size_t)img->w * 3 + 1, raw_len = row * img->h;
    uint8_t *raw = malloc(raw_len);
    uLongf z_len = compressBound(raw_len);
    uint8_t *z = malloc(z_len);
    if (raw == NULL || z == NULL) {
        free(raw);
        free(z);
        return iso_fail(err, ISO_ENOMEM, "out of memory for a PNG");
    }
    for (int y = 0; y < img->h; y++) {
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, img->rgb + (size_t)y * img->w * 3, (size_t)img->w * 3);
    }
    int zr = compress2(z, &z_len, raw, raw_len, 6);
    free(raw);
    uint8_t *out = zr == Z_OK ? malloc(8 + 25 + 12 + z_len + 12) : NULL;
    if (out == NULL) {
        free(z);
        return iso_fail(err, zr == Z_OK ? ISO_ENOMEM : ISO_EIO, "cannot compress a PNG");
    }
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)img->w);
    be32(ihdr + 4, (uint32_t)img->h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering, type per row */
    ihdr[12] = 0; /* no interlace */
    uint8_t *at = out;
    memcpy(at, sig, 8);
    at += 8;
    chunk(&at, "IHDR", ihdr, 13);
    chunk(&at, "IDAT", z, (uint32_t)z_len);
    chunk(&at, "IEND", NULL, 0);
    free(z);
    *png = out;
    *png_len = (size_t)(at - out);
    return ISO_OK;
}

iso_code iso_png_write(const char *path, const iso_image *img, iso_err *err)
{
    uint8_t *png = NULL;
    size_t len = 0;
    if (iso_png_encode(img, &png, &len, err) != ISO_OK)
        return err->code;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        free(png);
        return iso_fail(err, ISO_EIO, "cannot create %s", path);
    }
    int bad = fwrite(png, 1, len, f) != len;
    free(png);
    if (fclose(f) != 0 || bad)
        return iso_fail(err, ISO_EIO, "cannot write %s", path);
    return ISO_OK;
}
