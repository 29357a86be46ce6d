/* layout.h — where objects live under data_dir, in one place: the path of
 * an object (never built from peer text) and a walk over every stored file.
 * store.c, its recovery and verify.c all go through here. */
#ifndef ISO_LAYOUT_H
#define ISO_LAYOUT_H

#include <stddef.h>

#include "util/err.h"

/* Relative object path for a SOP Instance UID and version (1 = first):
 * objects/XX/YY/H.dcm or objects/XX/YY/H.vN.dcm, H = 40 hex digits of
 * SHA-256(UID). */
void iso_store_object_path(const char *sop_uid, int version, char *out, size_t size);

/* Relative path of the kept original of a de-identified object, from the
 * stored (de-identified) SOP Instance UID: originals/XX/YY/H.dcm. */
void iso_store_original_path(const char *stored_sop_uid, char *out, size_t size);

/* Calls fn(user, rel, abs) for each file under data_dir/objects/XX/YY/, rel
 * being relative to data_dir.  A non-OK return from fn stops the walk and is
 * returned. */
typedef iso_code (*iso_object_fn)(void *user, const char *rel, const char *abs, iso_err *err);
iso_code iso_layout_walk(const char *data_dir, iso_object_fn fn, void *user, iso_err *err);

#endif
