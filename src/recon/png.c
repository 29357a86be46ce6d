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

static int chunk(FILE *f, const char type[4], const uint8_t *data, uint32_t len)
{
    uint8_t hdr[8];
    be32(hdr, len);
    memcpy(hdr + 4, type, 4);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    uint8_t tail[4];
    be32(tail, (uint32_t)crc);
    return fwrite(hdr, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
                   fwrite(tail, 1, 4, f) == 4
               ? 0
               : -1;
}

iso_code iso_png_write(const char *path, const iso_image *img, iso_err *err)
{
    size_t row = (size_t)img->w * 3 + 1, raw_len = row * img->h;
    uint8_t *raw = malloc(raw_len);
    uLongf z_len = compressBound(raw_len);
    uint8_t *z = malloc(z_len);
    if (raw == NULL || z == NULL) {
        free(raw);
        free(z);
        return iso_fail(err, ISO_ENOMEM, "out of memory writing %s", path);
    }
    for (int y = 0; y < img->h; y++) {
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, img->rgb + (size_t)y * img->w * 3, (size_t)img->w * 3);
    }
    int zr = compress2(z, &z_len, raw, raw_len, 6);
    free(raw);
    if (zr != Z_OK) {
        free(z);
        return iso_fail(err, ISO_EIO, "cannot compress %s", path);
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        free(z);
        return iso_fail(err, ISO_EIO, "cannot create %s", path);
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
    int bad = fwrite(sig, 1, 8, f) != 8 || chunk(f, "IHDR", ihdr, 13) != 0 ||
              chunk(f, "IDAT", z, (uint32_t)z_len) != 0 || chunk(f, "IEND", NULL, 0) != 0;
    free(z);
    if (fclose(f) != 0 || bad)
        return iso_fail(err, ISO_EIO, "cannot write %s", path);
    return ISO_OK;
}
