/* Synthetic Hugging Face checkpoints: a config.json plus random bf16 weights
 * for every tensor the layout of SPEC §3 reads, so tests, benchmarks and
 * `refit synth --out DIR --preset NAME` need no hub download.
 *
 * Values are a pure function of (seed, tensor name, element index): the
 * same call always writes the same bytes, whatever the file split or the
 * number of threads. Weights and biases are normal with std 0.02, norm
 * weights normal around 1.0 (std 0.02) like trained RMSNorm gains; all are
 * finite bf16 (|x| < 5 std). */
#ifndef RF_SYNTH_H
#define RF_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "safetensors.h"

/* ---- presets ----------------------------------------------------------
 * tiny, tiny-qwen2, tiny-qwen3, tiny-mistral (CI-sized, divide at tp 1..8),
 * bench-160m (320 MB, benchmarks), many-10k (10,002 tensors, control-plane
 * scaling), llama3-8b, qwen2-7b (real shapes, ~16 GB); MoE (SPEC §3a):
 * tiny-qwen3-moe, tiny-qwen2-moe, tiny-mixtral (tests/ref's --preset tiny
 * shapes: fp8-block padding, the ep remainder, dense layers between MoE
 * ones) and qwen3-30b-a3b (the real shape, 61 GB). */
size_t rf_synth_preset_count(void);
const char *rf_synth_preset_name(size_t i); /* NULL when i >= count */
const char *rf_synth_preset_doc(size_t i);  /* one line; NULL when i >= count */

/* Config and default file count of preset `name`. Unknown names are
 * REFIT_ERR_INVALID_ARG with a message listing the known presets.
 * `n_files` may be NULL. Outputs are set only on success. */
refit_status rf_synth_preset(const char *name, rf_model_config_t *cfg, int *n_files);

/* ---- writing ----------------------------------------------------------- */

typedef struct {
    const char *file;     /* file name inside the directory (no path) */
    int file_index;       /* 0-based */
    int n_files;
    const char *tensor;   /* tensor just filled; NULL once `file` is complete */
    uint64_t bytes_done;  /* tensor bytes filled so far, over all files */
    uint64_t bytes_total; /* tensor bytes of the whole checkpoint */
} rf_synth_progress_t;

/* Called on the writing thread after each tensor and after each file. */
typedef void (*rf_synth_progress_fn)(void *user, const rf_synth_progress_t *p);

/* Checkpoint tensors of `cfg` (the sources of rf_model_params(cfg, 1), one per
 * expert for expert params) with
 * their total byte size; useful to print what rf_synth_write will make. */
refit_status rf_synth_total_bytes(const rf_model_config_t *cfg, uint64_t *bytes,
                                  size_t *n_tensors);

/* Creates `dir` (like mkdir -p) and writes into it:
 *  - config.json: model_type, architectures, the SPEC §3 fields (head_dim
 *    always explicit), tie_word_embeddings, "torch_dtype": "bfloat16";
 *  - n_files == 1: model.safetensors;
 *  - n_files > 1:  model-0000K-of-0000N.safetensors (K from 1), tensors in
 *    rf_model_params order split by cumulative bytes into balanced,
 *    non-empty files, and model.safetensors.index.json
 *    {"metadata":{"total_size":N},"weight_map":{tensor: file}}.
 * Each file is written to a temporary name and renamed. An index left by an
 * earlier run is removed before anything is written (and model.safetensors
 * too when writing several files), and the new index is written last, so a
 * directory is either complete or fails to open, never a silent mix.
 * 1 <= n_files <= number of tensors (and <= 99999). `progress` may be NULL. */
refit_status rf_synth_write(const char *dir, const rf_model_config_t *cfg, int n_files,
                            uint64_t seed, rf_synth_progress_fn progress, void *user);

/* rf_synth_write with the tensors stored as `dtype` (RF_DT_BF16, RF_DT_F16
 * or RF_DT_F32; config.json's torch_dtype says which): the same bf16
 * values, widened exactly to F32, or rounded
 * to F16 (nearest even: a value below F16's normal range loses bits, so an
 * F16 checkpoint's bf16 conversion can differ from the BF16 one's there). */
refit_status rf_synth_write_as(const char *dir, const rf_model_config_t *cfg, int n_files, uint64_t seed,
                               rf_dtype_t dtype, rf_synth_progress_fn progress, void *user);

/* The bf16 value of element `index` of tensor `name` as rf_synth_write
 * writes it: lets tests check bytes without keeping a copy. */
uint16_t rf_synth_value(uint64_t seed, const char *name, uint64_t index);

#endif
