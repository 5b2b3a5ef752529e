// C helpers for package h5 (attributes, error printing). Built by cgo.
#include <stdlib.h>
#include <string.h>
#include "hdf5.h"

void h5go_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// read_str_attr reads a scalar (or first element of a 1-D) string attribute named name on
// object loc. Returns a malloc'd NUL-terminated copy in *out, or a negative code:
// -1 missing, -2 not a string, -3 read error.
int h5go_read_str_attr(hid_t loc, const char *name, char **out) {
	*out = NULL;
	if (H5Aexists(loc, name) <= 0) return -1;
	hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
	if (a < 0) return -3;
	hid_t ft = H5Aget_type(a);
	if (ft < 0) { H5Aclose(a); return -3; }
	if (H5Tget_class(ft) != H5T_STRING) { H5Tclose(ft); H5Aclose(a); return -2; }
	hid_t sp = H5Aget_space(a);
	hssize_t n = H5Sget_simple_extent_npoints(sp);
	if (n < 1) n = 1;
	int rc = 0;
	if (H5Tis_variable_str(ft) > 0) {
		hid_t mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, H5T_VARIABLE);
		H5Tset_cset(mt, H5Tget_cset(ft));
		char **buf = calloc((size_t)n, sizeof(char*));
		if (H5Aread(a, mt, buf) < 0) rc = -3;
		else if (buf[0] != NULL) *out = strdup(buf[0]);
		else *out = strdup("");
		if (rc == 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
		free(buf);
		H5Tclose(mt);
	} else {
		size_t sz = H5Tget_size(ft);
		char *buf = calloc((size_t)n * sz + 1, 1);
		hid_t mt = H5Tcopy(ft);
		if (H5Aread(a, mt, buf) < 0) rc = -3;
		else {
			buf[sz] = 0;
			*out = strdup(buf);
		}
		free(buf);
		H5Tclose(mt);
	}
	H5Sclose(sp);
	H5Tclose(ft);
	H5Aclose(a);
	return rc;
}

int h5go_write_vlen_str_attr(hid_t loc, const char *name, const char *val) {
	hid_t mt = H5Tcopy(H5T_C_S1);
	H5Tset_size(mt, H5T_VARIABLE);
	H5Tset_cset(mt, H5T_CSET_UTF8);
	hid_t sp = H5Screate(H5S_SCALAR);
	if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
	hid_t a = H5Acreate2(loc, name, mt, sp, H5P_DEFAULT, H5P_DEFAULT);
	int rc = 0;
	if (a < 0) rc = -1;
	else {
		if (H5Awrite(a, mt, &val) < 0) rc = -1;
		H5Aclose(a);
	}
	H5Sclose(sp);
	H5Tclose(mt);
	return rc;
}

int h5go_write_fixed_str_attr(hid_t loc, const char *name, const char *val, size_t n) {
	hid_t mt = H5Tcopy(H5T_C_S1);
	H5Tset_size(mt, n > 0 ? n : 1);
	H5Tset_strpad(mt, H5T_STR_NULLPAD);
	hid_t sp = H5Screate(H5S_SCALAR);
	if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
	hid_t a = H5Acreate2(loc, name, mt, sp, H5P_DEFAULT, H5P_DEFAULT);
	int rc = 0;
	if (a < 0) rc = -1;
	else {
		char *buf = calloc(n + 1, 1);
		memcpy(buf, val, n);
		if (H5Awrite(a, mt, buf) < 0) rc = -1;
		free(buf);
		H5Aclose(a);
	}
	H5Sclose(sp);
	H5Tclose(mt);
	return rc;
}

int h5go_num_attrs(hid_t loc) {
	H5O_info_t info;
	if (H5Oget_info(loc, &info) < 0) return -1;
	return (int)info.num_attrs;
}

int h5go_attr_name(hid_t loc, int idx, char *buf, size_t n) {
	return (int)H5Aget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx, buf, n, H5P_DEFAULT);
}

// Reads a whole dataset converted to native float (libhdf5 converts f64/ints).
int h5go_read_float(hid_t ds, float *buf) {
	return H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
}

// h5go_storage_size is the number of bytes the dataset occupies in the file (0 when its
// chunks were never written).
long long h5go_storage_size(hid_t ds) {
	return (long long)H5Dget_storage_size(ds);
}

// h5go_create_unwritten creates a chunked float32 dataset of the given dims and writes
// nothing: its declared size has no storage behind it, as a writer killed before its data
// leaves it.
int h5go_create_unwritten(hid_t file, const char *name, int rank, const unsigned long long *dims) {
	hsize_t d[32], c[32];
	if (rank < 1 || rank > 32) return -1;
	for (int i = 0; i < rank; i++) {
		d[i] = dims[i];
		c[i] = dims[i] < 16 ? (dims[i] ? dims[i] : 1) : 16;
	}
	hid_t sp = H5Screate_simple(rank, d, NULL);
	if (sp < 0) return -1;
	hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(pl, rank, c);
	hid_t ds = H5Dcreate2(file, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
	H5Pclose(pl);
	H5Sclose(sp);
	if (ds < 0) return -1;
	H5Dclose(ds);
	return 0;
}
