/* dcm_internal.h — what the adapter's .cc files share among themselves.
 * C++ only; never included from C. */
#ifndef ISO_DCM_INTERNAL_H
#define ISO_DCM_INTERNAL_H

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"

#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcitem.h"

#include "dicom/dicom.h"

/* Sets TCP_NODELAY on a socket. */
void iso_dcm_set_nodelay(int fd);
/* Installs a transport layer on net that sets TCP_NODELAY on every
 * connection it creates (outgoing and incoming). */
OFCondition iso_dcm_use_nodelay(T_ASC_Network *net);

/* While alive, DCMTK's value allocations on this thread above cap bytes
 * fail (see dcm_alloc.cc).  Nests: the previous cap returns afterwards. */
class IsoAllocCap {
  public:
    explicit IsoAllocCap(size_t cap);
    ~IsoAllocCap();
    IsoAllocCap(const IsoAllocCap &) = delete;
    IsoAllocCap &operator=(const IsoAllocCap &) = delete;

  private:
    size_t previous_;
};

/* Copies the text of tag (all values, trailing padding removed) into out;
 * "" if absent (dcm_common.cc). */
void iso_dcm_copy_str(DcmItem *ds, const DcmTagKey &tag, char *out, size_t outsz);

/* Fills the index attributes from a data set (dcm_common.cc), and converts
 * the data set's text to UTF-8 for them (changes the data set in memory). */
void iso_dcm_fill_attrs(DcmItem *ds, iso_attrs *a);
void iso_dcm_to_utf8(DcmDataset *ds, const iso_attrs *a);

/* Ceiling for a command set: they are a few hundred bytes. */
enum { ISO_COMMAND_ALLOC_CAP = 1 << 20 };

#endif
