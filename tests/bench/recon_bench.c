/* recon_bench.c — times the engine's stages on a real series, the same way
 * ../shared/bench/vtk_iso.py times VTK's filters, so `make bench` can print
 * both side by side.
 *
 * usage: recon_bench SERIES_DIR ISO [--iso-only]
 * Prints one line per figure: iso-surface (open, as VTK's; best of 3) on 1
 * and 2 threads in ms and Mvoxel/s with triangle count and area, Gaussian
 * sigma 1 voxel on the raw volume, and the load time.  With --iso-only it
 * prints just "TRIANGLES AREA_MM2" of one open iso-surface (the test that
 * compares with VTK uses that).
 */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dicom/dicom.h"
#include "recon/filter.h"
#include "recon/isosurface.h"
#include "recon/mesh.h"
#include "recon/series.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: recon_bench SERIES_DIR ISO\n");
        return 2;
    }
    iso_err err = {0};
    double iso = atof(argv[2]);
    if (iso_dcm_init(&err) != ISO_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char **paths;
    size_t n;
    if (iso_series_list_dir(argv[1], &paths, &n, &err) != ISO_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    iso_series_opts so = {ISO_SERIES_DEFAULT_MAX_GAP_MM, 0, ISO_VOLUMES_FIRST, 0, 0};
    iso_stack st;
    iso_series_info info;
    double t0 = now();
    if (iso_series_load(paths, n, &so, &st, &info, &err) != ISO_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_load = now() - t0;
    iso_series_paths_free(paths, n);
    iso_series_info_free(&info);
    size_t vox = iso_volume_count(&st.vol);
    if (argc > 3 && strcmp(argv[3], "--iso-only") == 0) {
        iso_mesh m;
        iso_mesh_stats ms;
        if (iso_isosurface(&st.vol, iso, 0, 0, &m, &err) != ISO_OK ||
            iso_mesh_measure(&m, &ms, &err) != ISO_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        printf("%zu %.3f\n", m.nt, ms.area_mm2);
        iso_mesh_free(&m);
        iso_stack_free(&st);
        return 0;
    }
    printf("volume %dx%dx%d voxels=%.1fM load=%.3fs\n", st.vol.dim[0], st.vol.dim[1],
           st.vol.dim[2], vox / 1e6, t_load);
    for (int threads = 1; threads <= 2; threads++) {
        double best = 1e9;
        iso_mesh m = {0};
        for (int rep = 0; rep < 3; rep++) {
            iso_mesh_free(&m);
            double t = now();
            if (iso_isosurface(&st.vol, iso, 0, threads, &m, &err) != ISO_OK) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            double dt = now() - t;
            best = dt < best ? dt : best;
        }
        iso_mesh_stats ms;
        if (iso_mesh_measure(&m, &ms, &err) != ISO_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        printf("isonode isosurface threads=%d %8.1f ms %7.1f Mvox/s tris=%zu pts=%zu area=%.1f\n",
               threads, best * 1000, vox / best / 1e6, m.nt, m.nv, ms.area_mm2);
        iso_mesh_free(&m);
    }
    iso_volume f;
    if (iso_volume_to_float(&st.vol, &f, &err) != ISO_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    iso_stack_free(&st);
    /* sigma of one voxel along x, as vtk_iso.py's SetStandardDeviations(1,1,1) */
    double len = 0;
    for (int a = 0; a < 3; a++)
        len += f.axis[0][a] * f.axis[0][a];
    for (int threads = 1; threads <= 2; threads++) {
        double t = now();
        /* per-axis sigma of 1 voxel: scale the axes to 1 mm for the call */
        iso_volume g = f;
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 3; c++)
                g.axis[a][c] = a == c ? 1.0 : 0.0;
        if (iso_gaussian(&g, 1.0, threads, &err) != ISO_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        printf("isonode gaussian(s=1 voxel) threads=%d %8.1f ms\n", threads, (now() - t) * 1000);
    }
    iso_volume_free(&f);
    return 0;
}
