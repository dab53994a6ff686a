/* libFuzzer target: config.json parsing. */
#include <stddef.h>
#include <stdint.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_model_config_t c;
    rf_err_clear();
    if (rf_cfg_parse((const char *)data, size, "fuzz/config.json", &c) != REFIT_OK) {
        if (!rf_err_msg()[0]) __builtin_trap();
        return 0;
    }
    /* accepted configs satisfy the documented bounds */
    if (c.hidden <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 ||
        c.intermediate <= 0 || c.vocab <= 0 || c.n_layers <= 0 || c.n_heads > (1 << 24) ||
        c.hidden > (1ll << 31))
        __builtin_trap();
    return 0;
}
