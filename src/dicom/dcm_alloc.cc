/* dcm_alloc.cc — a per-thread ceiling on DCMTK's value allocations.
 *
 * DCMTK allocates an element's value with `new (std::nothrow) T[length]`
 * using the length the stream declares, before it knows the bytes exist.
 * For command sets (parsed from memory) and deflated data, a peer could thus
 * make it reserve gigabytes with a few bytes (found by the association
 * fuzzer).  This file replaces that one operator: while a cap is set on the
 * current thread (only while DCMTK parses peer input), a larger request
 * returns NULL, which DCMTK already handles as "memory exhausted" and turns
 * into a parse error.  The array forms of new and delete are replaced
 * together (all on malloc/free) so every allocation is released by its
 * matching operator.
 */
#include "dicom/dcm_internal.h"

#include <stdlib.h>

#include <new>

static thread_local size_t value_cap = 0; /* 0: no cap */

void *operator new[](std::size_t n, const std::nothrow_t &) noexcept
{
    if (value_cap != 0 && n > value_cap)
        return NULL;
    return malloc(n ? n : 1);
}

void *operator new[](std::size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        throw std::bad_alloc();
    return p;
}

void operator delete[](void *p) noexcept { free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { free(p); }
void operator delete[](void *p, std::size_t) noexcept { free(p); }

IsoAllocCap::IsoAllocCap(size_t cap) : previous_(value_cap) { value_cap = cap; }
IsoAllocCap::~IsoAllocCap() { value_cap = previous_; }
