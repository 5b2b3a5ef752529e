#include <stdlib.h>
#include "hdf5.h"
void h5go_quiet(void);
int h5go_read_str_attr(hid_t loc, const char *name, char **out);
int h5go_write_vlen_str_attr(hid_t loc, const char *name, const char *val);
int h5go_write_fixed_str_attr(hid_t loc, const char *name, const char *val, size_t n);
int h5go_num_attrs(hid_t loc);
int h5go_attr_name(hid_t loc, int idx, char *buf, size_t n);
int h5go_read_float(hid_t ds, float *buf);
long long h5go_storage_size(hid_t ds);
int h5go_create_unwritten(hid_t file, const char *name, int rank, const unsigned long long *dims);
