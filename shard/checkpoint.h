/* A Hugging Face checkpoint directory: config.json plus either
 * model.safetensors or model.safetensors.index.json and the files it names.
 * All files are validated on open (headers read with pread, never mapped);
 * the identity of every file and the directory's listing are recorded then,
 * so rf_ckpt_check_unchanged can tell a checkpoint that changed while it
 * was read (a trainer saving into the same directory). */
#ifndef RF_CHECKPOINT_H
#define RF_CHECKPOINT_H

#include <stddef.h>

#include "model.h"
#include "safetensors.h"

typedef struct rf_ckpt rf_ckpt_t;

refit_status rf_ckpt_open(const char *dir, rf_ckpt_t **out);
void rf_ckpt_close(rf_ckpt_t *c);
/* After the last byte was read: REFIT_ERR_IO "FILE changed while it was
 * read (what changed)" when config.json, the index, a safetensors file (by
 * name or open descriptor) or the directory's listing is not what it was
 * at open. Replaces any earlier error message: the change explains it. */
refit_status rf_ckpt_check_unchanged(const rf_ckpt_t *c);

const char *rf_ckpt_dir(const rf_ckpt_t *c);
const rf_model_config_t *rf_ckpt_config(const rf_ckpt_t *c);

/* All tensors of all files (names unique across files). */
size_t rf_ckpt_count(const rf_ckpt_t *c);
void rf_ckpt_at(const rf_ckpt_t *c, size_t i, const rf_st_file_t **file, const rf_st_tensor_t **t);
/* REFIT_ERR_MISMATCH "DIR: tensor NAME missing" when absent. */
refit_status rf_ckpt_find(const rf_ckpt_t *c, const char *name, const rf_st_file_t **file,
                          const rf_st_tensor_t **t);

/* ---- model.safetensors.index.json ------------------------------------- */
typedef struct rf_index rf_index_t;
/* Parses {"metadata":{...},"weight_map":{tensor:file}}; file names must be
 * plain names (no '/', no ".."). Errors name `label`. */
refit_status rf_index_parse(const char *json, size_t len, const char *label, rf_index_t **out);
void rf_index_free(rf_index_t *ix);
size_t rf_index_count(const rf_index_t *ix);
void rf_index_at(const rf_index_t *ix, size_t i, const char **tensor, const char **file);
/* Distinct file names in first-seen order. */
size_t rf_index_file_count(const rf_index_t *ix);
const char *rf_index_file(const rf_index_t *ix, size_t i);

#endif
