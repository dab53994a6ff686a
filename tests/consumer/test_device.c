/* refit_options.device and the caller's current device (refit.h), on the
 * cuda backend through the public API at np 1:
 *   - a device the process does not see is refused at create, with the
 *     count, and the cause is in refit_last_error(NULL);
 *   - the caller makes its own device current (the last one), asks refit for
 *     device 0, and after create, load, dump and destroy its device is still
 *     current (with one GPU both are 0: the calls still run the path);
 *   - the dump of generation 0 works from that context.
 * Exit 77 with "SKIP: reason" without a usable GPU.
 * usage: test_device CHECKPOINT_DIR DUMP_DIR */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "refit.h"

static int failures;

static void fail(const char *what, const char *why) {
    failures++;
    fprintf(stderr, "test_device FAIL: %s: %s\n", what, why);
}

static void expect_current(int want, const char *after) {
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess || dev != want) {
        char why[96];
        snprintf(why, sizeof why, "current device %d, the caller had made %d current", dev, want);
        fail(after, why);
    }
}

static refit_status create(int device, refit_ctx **ctx) {
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_CUDA;
    opt.device = device;
    return refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, ctx);
}

static void bad_device(int n) {
    refit_ctx *ctx = NULL;
    refit_status st = create(n, &ctx);
    char want[64];
    snprintf(want, sizeof want, "refit_options.device %d: this process sees %d GPU", n, n);
    if (st != REFIT_ERR_INVALID_ARG || ctx || !strstr(refit_last_error(NULL), want))
        fail("create with a device out of range", refit_last_error(NULL));
    refit_destroy(ctx);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int n = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: test_device CHECKPOINT_DIR DUMP_DIR\n");
        failures++;
    } else if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("SKIP: no GPU (no usable CUDA device)\n");
        MPI_Finalize();
        return 77;
    } else {
        bad_device(n);
        int mine = n - 1;
        if (cudaSetDevice(mine) != cudaSuccess) fail("cudaSetDevice", cudaGetErrorString(cudaGetLastError()));
        refit_ctx *ctx = NULL;
        if (create(0, &ctx) != REFIT_OK) {
            fail("create on device 0", refit_last_error(NULL));
        } else {
            expect_current(mine, "refit_create");
            if (refit_load(ctx, argv[1]) != REFIT_OK) fail("load", refit_last_error(ctx));
            expect_current(mine, "refit_load");
            if (refit_dump(ctx, argv[2]) != REFIT_OK) fail("dump", refit_last_error(ctx));
            expect_current(mine, "refit_dump");
            if (refit_generation(ctx) != 0) fail("generation", "not 0 after the first load");
            refit_destroy(ctx);
            expect_current(mine, "refit_destroy");
        }
    }
    MPI_Finalize();
    if (failures == 0) printf("ok: %d GPU(s), context on device 0, caller's device %d kept\n", n, n - 1);
    return failures != 0;
}
