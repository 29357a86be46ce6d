/* verify.h — checking that the store and its index agree.
 *
 * Every index row must name a file that exists, has the recorded size and
 * SHA-256, parses as DICOM and carries the row's SOP Instance UID; every file
 * under objects/ must have a row, and every kept original under originals/
 * an object with a row.  Safe to run while isonoded stores: the files seen
 * without a row are looked up again after one pause before they count,
 * since they may be between rename and COMMIT.
 */
#ifndef ISO_VERIFY_H
#define ISO_VERIFY_H

#include <stdio.h>

#include "util/err.h"

typedef struct iso_verify_report {
    unsigned long rows;
    unsigned long files;
    unsigned long problems;
} iso_verify_report;

/* Checks data_dir; writes one line per problem to out.  Returns ISO_OK when
 * the check could run (see report->problems for the verdict). */
iso_code iso_store_verify(const char *data_dir, FILE *out, iso_verify_report *report,
                          iso_err *err);

#endif
