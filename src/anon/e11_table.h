/* e11_table.h — PS3.15 Table E.1-1 (Basic Application Level
 * Confidentiality Profile and its options) as the project's own table,
 * generated into e11_table.c by tools/e11_to_c.py. */
#ifndef ISO_E11_TABLE_H
#define ISO_E11_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ISO_E11_D = 1,  /* replace with a dummy value of the same VR */
    ISO_E11_Z,      /* zero length (or dummy) */
    ISO_E11_X,      /* remove */
    ISO_E11_K,      /* keep */
    ISO_E11_C,      /* clean: keep the meaning, drop the identity */
    ISO_E11_U,      /* replace the UID consistently */
    ISO_E11_XZ,     /* X unless Z needed for conformance */
    ISO_E11_XD,     /* X unless D needed */
    ISO_E11_ZD,     /* Z unless D needed */
    ISO_E11_XZD,    /* X unless Z or D needed */
    ISO_E11_XZU,    /* X unless Z or replacement of contained UIDs needed */
} iso_e11_code;

/* The option columns, in this order in iso_e11_row.opt */
enum {
    ISO_OPT_SAFE_PRIVATE = 0,
    ISO_OPT_UIDS,
    ISO_OPT_DEVICE,
    ISO_OPT_INSTITUTION,
    ISO_OPT_PATIENT_CHARS,
    ISO_OPT_FULL_DATES,
    ISO_OPT_MODIFIED_DATES,
    ISO_OPT_CLEAN_DESCRIPTORS,
    ISO_OPT_CLEAN_STRUCTURED,
    ISO_OPT_CLEAN_GRAPHICS,
    ISO_OPT_COUNT
};

typedef struct iso_e11_row {
    uint16_t group, element;
    uint16_t group_mask, element_mask; /* 0xFF00 for 50xx/60xx, 0 for xxxx */
    iso_e11_code basic;
    char opt[ISO_OPT_COUNT];           /* 'K', 'C' or 0 per option */
    const char *name;
} iso_e11_row;

extern const char iso_e11_edition[];
extern const iso_e11_row iso_e11_rows[];
extern const size_t iso_e11_nrows;

#endif
