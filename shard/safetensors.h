/* safetensors files (SPEC §6): a validating reader (pread, never a mapping)
 * (safetensors_read.c) and a writer (safetensors_write.c).
 * Every error names the file and, where it applies, the byte offset. */
#ifndef RF_SAFETENSORS_H
#define RF_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

typedef enum {
    RF_DT_BOOL, RF_DT_U8, RF_DT_I8, RF_DT_U16, RF_DT_I16, RF_DT_U32, RF_DT_I32,
    RF_DT_U64, RF_DT_I64, RF_DT_F16, RF_DT_BF16, RF_DT_F32, RF_DT_F64,
    RF_DT_F8_E4M3, RF_DT_F8_E5M2,
    RF_DT_COUNT
} rf_dtype_t;

const char *rf_dtype_name(rf_dtype_t dt); /* "BF16", "F8_E4M3", ... */
size_t rf_dtype_size(rf_dtype_t dt);      /* bytes per element */
bool rf_dtype_parse(const char *name, rf_dtype_t *out);
/* "[4096, 11008]" into buf, for messages. */
const char *rf_st_shape_str(char *buf, size_t cap, int ndim, const uint64_t *shape);

#define RF_ST_MAX_DIMS 8
#define RF_ST_MAX_HEADER 100000000ull /* SPEC §6: N <= 100,000,000 */

typedef struct {
    const char *name;  /* owned by the file object */
    rf_dtype_t dtype;
    int ndim;
    uint64_t shape[RF_ST_MAX_DIMS];
    uint64_t nelem;
    uint64_t begin, end; /* [begin, end) relative to the data buffer */
} rf_st_tensor_t;

typedef struct rf_st_file rf_st_file_t;

/* Opens and validates a file (every rule of SPEC §6) without mapping it:
 * the header is read with pread, the data stays in the file (rf_st_read,
 * rf_st_fd), so a writer truncating the file gives a short read, never a
 * SIGBUS. Anything but a regular file is refused by name without blocking
 * ("PATH: not a regular file (fifo)"). The file's identity is recorded. */
refit_status rf_st_open(const char *path, rf_st_file_t **out);
/* Validates a file image held in memory; `buf` is borrowed and must outlive
 * the object. `label` names it in errors. Used by rf_st_open and the fuzzer. */
refit_status rf_st_parse(const void *buf, size_t len, const char *label, rf_st_file_t **out);
void rf_st_close(rf_st_file_t *f);

const char *rf_st_label(const rf_st_file_t *f);
size_t rf_st_count(const rf_st_file_t *f);
/* Tensors in data-offset order. */
const rf_st_tensor_t *rf_st_at(const rf_st_file_t *f, size_t i);
const rf_st_tensor_t *rf_st_find(const rf_st_file_t *f, const char *name); /* NULL if absent */
/* Tensor bytes of an image parsed from memory (rf_st_parse); NULL for a
 * file opened with rf_st_open, whose bytes are read with rf_st_read. */
const uint8_t *rf_st_data(const rf_st_file_t *f, const rf_st_tensor_t *t);
/* n bytes of tensor t from byte off of its data into dst (pread for a file;
 * REFIT_ERR_IO naming the file when it shrank or the read failed). */
refit_status rf_st_read(const rf_st_file_t *f, const rf_st_tensor_t *t, uint64_t off, uint64_t n, void *dst);
/* The open file of rf_st_open (-1 for an image in memory). */
int rf_st_fd(const rf_st_file_t *f);
/* REFIT_ERR_IO "PATH changed while it was read (...)" when the file, by
 * descriptor or by name, is no longer the one opened (rf_fileid.h). */
refit_status rf_st_check_unchanged(const rf_st_file_t *f);
uint64_t rf_st_data_start(const rf_st_file_t *f); /* file offset of the data buffer (8 + N) */
const char *rf_st_meta(const rf_st_file_t *f, const char *key); /* __metadata__ value or NULL */
size_t rf_st_meta_count(const rf_st_file_t *f);
void rf_st_meta_at(const rf_st_file_t *f, size_t i, const char **key, const char **value);

/* ---- writer -------------------------------------------------------------
 * Collect tensor declarations, then write the file in one pass: header
 * (padded with spaces to a multiple of 8), then each tensor's bytes in the
 * order added. The file is written to PATH.tmp and renamed, so a reader never
 * sees a half-written file. */
typedef struct rf_st_writer rf_st_writer_t;

/* Fills `nbytes` bytes of tensor number `index` (order of rf_st_writer_add) at dst. */
typedef refit_status (*rf_st_fill_fn)(void *user, size_t index, uint8_t *dst, uint64_t nbytes);

refit_status rf_st_writer_create(rf_st_writer_t **out);
void rf_st_writer_destroy(rf_st_writer_t *w);
/* `data` (nelem * dtype size bytes) is copied at write time if not NULL;
 * when NULL the fill callback provides the bytes. */
refit_status rf_st_writer_add(rf_st_writer_t *w, const char *name, rf_dtype_t dtype, int ndim,
                              const uint64_t *shape, const void *data);
refit_status rf_st_writer_meta(rf_st_writer_t *w, const char *key, const char *value);
refit_status rf_st_writer_write(rf_st_writer_t *w, const char *path, rf_st_fill_fn fill,
                                void *user);

#endif
