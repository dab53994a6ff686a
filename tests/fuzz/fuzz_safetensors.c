/* libFuzzer target: any byte string through the safetensors validator; on
 * success every tensor's bytes are touched so ASan sees any read past the
 * image. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_st_file_t *f = NULL;
    rf_err_clear();
    if (rf_st_parse(data, size, "fuzz.safetensors", &f) != REFIT_OK) {
        /* every failure must leave a message */
        if (!rf_err_msg()[0]) __builtin_trap();
        return 0;
    }
    volatile uint8_t sink = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < rf_st_count(f); i++) {
        const rf_st_tensor_t *t = rf_st_at(f, i);
        if (t->begin != prev_end || t->end < t->begin) __builtin_trap();
        prev_end = t->end;
        if (rf_st_find(f, t->name) != t) __builtin_trap();
        const uint8_t *d = rf_st_data(f, t);
        if (t->end > t->begin) {
            sink ^= d[0];
            sink ^= d[t->end - t->begin - 1];
        }
    }
    if (rf_st_data_start(f) + prev_end != size) __builtin_trap();
    for (size_t i = 0; i < rf_st_meta_count(f); i++) {
        const char *k, *v;
        rf_st_meta_at(f, i, &k, &v);
        if (rf_st_meta(f, k) != v) __builtin_trap();
    }
    (void)sink;
    rf_st_close(f);
    return 0;
}
