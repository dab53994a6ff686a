/* The C compiler's layout of refit.h's structs, as JSON, for
 * check_layout.py to compare with the ctypes mirrors of python/refit/_lib.py:
 * {"struct": {"sizeof": N, "fields": {"field": offset, ...}}, ...}. */
#include <stddef.h>
#include <stdio.h>

#include "refit.h"

#define FIELD(T, f, last) printf("\"%s\": %zu%s", #f, offsetof(T, f), (last) ? "" : ", ")
#define BEGIN(T) printf("\"%s\": {\"sizeof\": %zu, \"fields\": {", #T, sizeof(T))
#define END(last) printf("}}%s\n", (last) ? "" : ",")

int main(void) {
    printf("{\n");
    BEGIN(refit_options);
    FIELD(refit_options, struct_size, 0); FIELD(refit_options, tp, 0); FIELD(refit_options, quant, 0);
    FIELD(refit_options, backend, 0); FIELD(refit_options, bucket_bytes, 0); FIELD(refit_options, commit, 0);
    FIELD(refit_options, transfer, 0); FIELD(refit_options, moe, 0); FIELD(refit_options, timeout_s, 0);
    FIELD(refit_options, device, 0); FIELD(refit_options, verify, 0); FIELD(refit_options, on_timeout, 0);
    FIELD(refit_options, readers, 1);
    END(0);
    BEGIN(refit_param_info);
    FIELD(refit_param_info, name, 0); FIELD(refit_param_info, dtype, 0); FIELD(refit_param_info, ndim, 0);
    FIELD(refit_param_info, shape, 0); FIELD(refit_param_info, layout, 0); FIELD(refit_param_info, scale_name, 0);
    FIELD(refit_param_info, scale_dtype, 0); FIELD(refit_param_info, scale_ndim, 0);
    FIELD(refit_param_info, scale_shape, 0); FIELD(refit_param_info, data, 0); FIELD(refit_param_info, scales, 0);
    FIELD(refit_param_info, data_bytes, 0); FIELD(refit_param_info, scale_bytes, 0);
    FIELD(refit_param_info, generation, 0); FIELD(refit_param_info, bound, 1);
    END(0);
    BEGIN(refit_load_stats);
    FIELD(refit_load_stats, generation, 0); FIELD(refit_load_stats, status, 0); FIELD(refit_load_stats, seconds, 0);
    FIELD(refit_load_stats, bytes, 0); FIELD(refit_load_stats, total_seconds, 0);
    FIELD(refit_load_stats, peak_model_bytes, 0); FIELD(refit_load_stats, stage_seconds, 0);
    FIELD(refit_load_stats, pause_seconds, 1);
    END(0);
    BEGIN(refit_tensor);
    FIELD(refit_tensor, name, 0); FIELD(refit_tensor, dtype, 0); FIELD(refit_tensor, ndim, 0);
    FIELD(refit_tensor, shape, 0); FIELD(refit_tensor, data, 0); FIELD(refit_tensor, where, 1);
    END(0);
    BEGIN(refit_source);
    FIELD(refit_source, struct_size, 0); FIELD(refit_source, kind, 0); FIELD(refit_source, dir, 0);
    FIELD(refit_source, readers, 0); FIELD(refit_source, tensors, 0); FIELD(refit_source, n_tensors, 0);
    FIELD(refit_source, config_dir, 1);
    END(1);
    printf("}\n");
    return 0;
}
