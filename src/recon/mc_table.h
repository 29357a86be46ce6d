/* mc_table.h — the cube case table for iso-surface extraction, generated at
 * build time by tools/mctable.c (which explains its construction).
 * iso_mc_tris[case][0] is the triangle count; then three cube edge numbers
 * per triangle.  Bit c of case is set when corner c (x | y<<1 | z<<2) is at
 * or above the iso-value. */
#ifndef ISO_MC_TABLE_H
#define ISO_MC_TABLE_H

extern const signed char iso_mc_tris[256][37];

#endif
