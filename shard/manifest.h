/* A source's manifest (issue 11): every tensor a source offers — name,
 * dtype, shape — and where its bytes are (rf_src_t), whatever the source
 * is: a checkpoint directory (rf_manifest_from_ckpt) or tensors in memory
 * (rf_manifest_from_memory). R0 checks a manifest against the snapshot
 * before any weight byte is read (coord/snapshot.c:rf_snap_check_manifest);
 * rf_sources_open then resolves every param's parts in it, and packing
 * reads bytes on demand, by tensor and element range (source.c). */
#ifndef RF_MANIFEST_H
#define RF_MANIFEST_H

#include "checkpoint.h"
#include "source.h"

typedef struct {
    const char *name;  /* borrowed: the checkpoint's or the caller's string */
    rf_dtype_t dtype;
    int ndim;
    uint64_t shape[RF_ST_MAX_DIMS];
    rf_src_t src;      /* src.file: the file, or "rank R's memory"; src.tensor = name */
} rf_mf_entry_t;

typedef struct rf_manifest {
    char where[4096]; /* the directory, or "rank R's memory": "WHERE: tensor NAME missing" */
    size_t n;
    rf_mf_entry_t *e; /* sorted by name */
    bool any_device;  /* some entry's bytes are in device memory (src.device) */
} rf_manifest_t; /* never copied by value: entries point at `where` */

/* Every tensor of an open checkpoint; borrows its strings and descriptors
 * (valid until rf_ckpt_close). */
refit_status rf_manifest_from_ckpt(const rf_ckpt_t *c, rf_manifest_t *out);
/* Tensors in this rank's memory (refit.h: refit_tensor). REFIT_ERR_INVALID_ARG
 * naming the tensor for a NULL name or data, ndim outside 1..3, a shape entry
 * < 1, a name given twice, or device memory where `device_ok` is false (the
 * host backend); REFIT_ERR_UNSUPPORTED "unsupported dtype D in tensor T of
 * rank R's memory" for a dtype other than BF16, F16, F32. */
refit_status rf_manifest_from_memory(const refit_tensor *t, size_t n, int rank, bool device_ok,
                                     rf_manifest_t *out);
void rf_manifest_free(rf_manifest_t *m);
/* NULL when absent. */
const rf_mf_entry_t *rf_manifest_find(const rf_manifest_t *m, const char *name);
/* REFIT_ERR_MISMATCH "WHERE: tensor NAME missing" when absent. */
refit_status rf_manifest_need(const rf_manifest_t *m, const char *name, const rf_mf_entry_t **out);
/* The conversion of a source dtype to bf16 (false: not a SPEC §1 source dtype). */
bool rf_conv_of(rf_dtype_t dt, rf_conv_t *out);

#endif
