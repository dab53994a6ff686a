/* The snapshot (SPEC §1): rank 0's record of every param — name, rank-local
 * shape, layout and its attributes, source tensors, quant scheme — as vLLM
 * keeps in original_weights_rebuild_keys / recorded_weight_attr, made
 * explicit. Serialized to a versioned little-endian binary with a CRC-32 so
 * every rank can check the copy it holds. */
#ifndef RF_SNAPSHOT_H
#define RF_SNAPSHOT_H

#include <stdio.h>

#include "checkpoint.h"
#include "manifest.h"
#include "model.h"
#include "quant.h"
#include "quant_moe.h"

#define RF_SNAP_MAGIC "RFSNAP\r\n"
#define RF_SNAP_VERSION 2u /* 2: MoE (mode, config fields, expert params) */
#define RF_SNAP_HEADER_BYTES 24 /* magic 8, version 4, crc32 4, payload length 8 */

typedef struct {
    uint32_t version;
    int tp;
    rf_moe_mode_t moe; /* how expert params are split (SPEC §3a) */
    rf_qscheme_t scheme;
    rf_model_config_t cfg;
    size_t n_params;
    rf_param_t *params;
} rf_snap_t;

/* Records the params of `cfg` at `tp` with experts split by `moe` (rank 0,
 * first load). */
refit_status rf_snap_build(const rf_model_config_t *cfg, int tp, rf_moe_mode_t moe, rf_qscheme_t scheme,
                           rf_snap_t **out);
void rf_snap_free(rf_snap_t *s);

refit_status rf_snap_encode(const rf_snap_t *s, uint8_t **buf, size_t *len);
/* Validates everything (magic, version, checksum, bounds, enums, sizes);
 * errors name `label` and the byte offset. */
refit_status rf_snap_decode(const uint8_t *buf, size_t len, const char *label, rf_snap_t **out);
/* Digest of an encoded snapshot: its CRC-32 and payload length. */
uint64_t rf_snap_digest(const uint8_t *encoded, size_t len);

/* Step R0: the source's manifest has every source tensor of every param
 * (every expert's, SPEC §3a) as BF16, F16 or F32 (SPEC §1) of the recorded
 * shape, and nothing unknown. REFIT_ERR_MISMATCH naming the tensor and the
 * directory (or the rank's memory) otherwise; another dtype is
 * REFIT_ERR_UNSUPPORTED "unsupported dtype D in tensor T of file F"; an
 * expert tensor whose index is >= E is REFIT_ERR_UNSUPPORTED naming it. */
refit_status rf_snap_check_manifest(const rf_snap_t *s, const rf_manifest_t *m);
/* rf_snap_check_manifest of a checkpoint's manifest (refit plan). */
refit_status rf_snap_check_ckpt(const rf_snap_t *s, const rf_ckpt_t *c);

/* Human-readable listing (refit inspect / refit plan). */
void rf_snap_print(const rf_snap_t *s, FILE *out);

/* Whether param p is stored quantized (fp8) under the snapshot's scheme;
 * its bf16 size is rf_param_bf16_bytes (model.h). */
bool rf_snap_param_quantized(const rf_snap_t *s, const rf_param_t *p);

/* Bytes param p holds on tp rank `tp_rank` once processed: *data = fp8 codes
 * (fp8-block experts: padded to [E_r, 2*Ip, Hp] / [E_r, Hp, Ip], SPEC §3a) or
 * the bf16 slice, *scales = its F32 scales (0 when not quantized). */
void rf_snap_param_sizes(const rf_snap_t *s, const rf_param_t *p, int tp_rank, uint64_t *data, uint64_t *scales);

#endif
