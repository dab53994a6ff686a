/* refit_options can grow without breaking callers (refit.h: struct_size):
 * refit_options_init writes only the bytes the caller's struct has, a full
 * struct gets every default, and refit_last_error(NULL) is "" on a thread
 * that never ran refit_create. No MPI: these calls are local. */
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "refit.h"

#define OLD_SIZE (offsetof(refit_options, timeout_s) + sizeof(double)) /* 0.1.0's first layout */

/* A caller of the first layout: its struct ends at timeout_s; the bytes
 * after it belong to something else of the caller and must stay. */
static void old_layout_untouched(void) {
    unsigned char buf[sizeof(refit_options) + 64];
    memset(buf, 0xA5, sizeof buf);
    refit_options_init((refit_options *)(void *)buf, OLD_SIZE);
    refit_options got;
    memcpy(&got, buf, sizeof got);
    CHECK(got.struct_size == OLD_SIZE, "struct_size %zu", got.struct_size);
    CHECK(got.timeout_s > 0 && got.backend == REFIT_BACKEND_AUTO && got.tp == 0, "defaults of the old fields");
    for (size_t i = OLD_SIZE; i < sizeof buf; i++)
        if (buf[i] != 0xA5) {
            CHECK(buf[i] == 0xA5, "byte %zu past the caller's %zu-byte struct was written", i, (size_t)OLD_SIZE);
            break;
        }
}

static void full_layout(void) {
    refit_options opt;
    memset(&opt, 0x5A, sizeof opt);
    refit_options_default(&opt);
    CHECK(opt.struct_size == sizeof opt, "struct_size %zu, want %zu", opt.struct_size, sizeof opt);
    CHECK(opt.device == -1, "device default %d, want -1 (by local rank)", opt.device);
    CHECK(opt.quant && !strcmp(opt.quant, "fp8-tensor"), "quant default");
    CHECK(opt.commit == REFIT_COMMIT_SHADOW && opt.bucket_bytes == 0, "commit/bucket defaults");
}

int main(void) {
    old_layout_untouched();
    full_layout();
    refit_options_init(NULL, sizeof(refit_options)); /* no crash */
    CHECK(refit_last_error(NULL) && refit_last_error(NULL)[0] == '\0', "no create ran on this thread");
    CHECK(!strcmp(refit_version(), REFIT_VERSION), "refit_version %s vs REFIT_VERSION %s", refit_version(), REFIT_VERSION);
    return failures != 0;
}
