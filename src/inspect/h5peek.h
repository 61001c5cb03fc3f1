/* Read-only helpers for `inspect`: whole 1-D datasets and scalar attributes
 * of a run file, converted to doubles/strings. Every failure is reported as
 * "absent" (NULL / -1) so a summary of a partial or unusual file can skip a
 * section instead of aborting; HDF5's own error stack is kept silent. */
#ifndef LR_H5PEEK_H
#define LR_H5PEEK_H

#include <hdf5.h>
#include <stdint.h>

/* 1 when `path` (absolute, e.g. "/train/log") names a link in f. */
int h5peek_exists(hid_t f, const char *path);
/* The elements of a 1-D numeric dataset as doubles (malloc'd); *n its length.
 * NULL when absent or not numeric. */
double *h5peek_doubles(hid_t f, const char *path, int64_t *n);
/* Numeric scalar attribute of object `obj` (e.g. "/", "/samples"). 0 ok. */
int h5peek_attr_double(hid_t f, const char *obj, const char *name, double *out);
/* String attribute (fixed or variable length), malloc'd; NULL when absent. */
char *h5peek_attr_str(hid_t f, const char *obj, const char *name);
/* One element of a 1-D variable-length string dataset, malloc'd; NULL when absent. */
char *h5peek_string_at(hid_t f, const char *path, int64_t i);

#endif
