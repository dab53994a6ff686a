/* libFuzzer target: model.safetensors.index.json parsing. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_index_t *ix = NULL;
    rf_err_clear();
    if (rf_index_parse((const char *)data, size, "fuzz.index.json", &ix) != REFIT_OK) {
        if (!rf_err_msg()[0]) __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < rf_index_count(ix); i++) {
        const char *t, *f;
        rf_index_at(ix, i, &t, &f);
        if (!t || !f || !*f || strchr(f, '/') || !strcmp(f, "..")) __builtin_trap();
    }
    for (size_t i = 0; i < rf_index_file_count(ix); i++)
        if (!rf_index_file(ix, i)) __builtin_trap();
    rf_index_free(ix);
    return 0;
}
