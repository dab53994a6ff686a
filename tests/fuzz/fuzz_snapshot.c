/* libFuzzer target: the snapshot decoder every rank runs on bytes from the
 * wire must reject anything malformed without crashing or over-reading. */
#include <stdint.h>
#include <stdlib.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_err_clear();
    rf_snap_t *s = NULL;
    if (rf_snap_decode(data, size, "fuzz", &s) == REFIT_OK) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (rf_snap_encode(s, &buf, &len) == REFIT_OK) free(buf);
        rf_snap_free(s);
    }
    return 0;
}
