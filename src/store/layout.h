/* layout.h — where objects live under data_dir, in one place: the path of
 * an object (never built from peer text) and a walk over every stored file.
 * store.c, its recovery and verify.c all go through here. */
#ifndef ISO_LAYOUT_H
#define ISO_LAYOUT_H

#include <stddef.h>

#include "util/err.h"

/* Relative object path for an instance of a series, and its version (1 =
 * first): objects/XX/S/H.dcm or objects/XX/S/H.vN.dcm, S and H = 40 hex
 * digits of SHA-256 of the Series and SOP Instance UIDs, XX = S's first two.
 * The index row records the path, so older layouts stay readable. */
void iso_store_object_path(const char *series_uid, const char *sop_uid, int version, char *out,
                           size_t size);

/* objects/XX for XX = i (0..255): the store creates all 256 when it opens. */
void iso_store_fan_dir(unsigned i, char *out, size_t size);

/* Relative path of the kept original of a de-identified object, from the
 * stored (de-identified) Series and SOP Instance UIDs: originals/XX/S/H.dcm. */
void iso_store_original_path(const char *stored_series_uid, const char *stored_sop_uid,
                             char *out, size_t size);

/* Calls fn(user, rel, abs) for each file under data_dir/objects/XX/S/, rel
 * being relative to data_dir.  A non-OK return from fn stops the walk and is
 * returned. */
typedef iso_code (*iso_object_fn)(void *user, const char *rel, const char *abs, iso_err *err);
iso_code iso_layout_walk(const char *data_dir, iso_object_fn fn, void *user, iso_err *err);

#endif
