/* The check macros, all of them (the CUDA and NCCL ones need those headers:
 * rf_check_cuda.h, rf_check_nccl.h, the same family). Each evaluates a call
 * once and, when it failed, returns a refit_status from the enclosing
 * function: the callee's own (RF_CHECK), or one made from a foreign error
 * code with the call named (MPI_CHECK, PTHREAD_CHECK, CUDA_CHECK,
 * NCCL_CHECK). The _GOTO forms store it in a `refit_status st` in scope and
 * jump to a clean-up label instead. */
#ifndef RF_CHECK_H
#define RF_CHECK_H

#include "refit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_CHECK(call)                         \
    do {                                       \
        refit_status rf_check_st_ = (call);    \
        if (rf_check_st_ != REFIT_OK)          \
            return rf_check_st_;               \
    } while (0)

/* Requires a `refit_status st` variable in scope. */
#define RF_CHECK_GOTO(call, label) \
    do {                           \
        st = (call);               \
        if (st != REFIT_OK)        \
            goto label;            \
    } while (0)

/* ---- MPI: "CALL failed: <MPI's error string>" as REFIT_ERR_COMM ---------
 * rf_mpi_fail lives in comm/ (the one layer that calls MPI); code that uses
 * MPI_CHECK links it. The communicators must return errors
 * (MPI_ERRORS_RETURN), or MPI aborts before the check sees anything. */
refit_status rf_mpi_fail(int rc, const char *what);
#define MPI_CHECK(call)                                                   \
    do {                                                                  \
        int rf_mpi_rc_ = (call);                                          \
        if (rf_mpi_rc_ != MPI_SUCCESS) return rf_mpi_fail(rf_mpi_rc_, #call); \
    } while (0)
#define MPI_CHECK_GOTO(call, label)                                       \
    do {                                                                  \
        int rf_mpi_rc_ = (call);                                          \
        if (rf_mpi_rc_ != MPI_SUCCESS) {                                  \
            st = rf_mpi_fail(rf_mpi_rc_, #call);                          \
            goto label;                                                   \
        }                                                                 \
    } while (0)

/* ---- pthreads: the call returns an error number ------------------------
 * REFIT_ERR_NOMEM for EAGAIN/ENOMEM (no thread, no memory), otherwise
 * REFIT_ERR_INTERNAL, with the call and strerror. (base/errors.c) */
refit_status rf_pthread_fail(int rc, const char *what);
#define PTHREAD_CHECK(call)                                               \
    do {                                                                  \
        int rf_pt_rc_ = (call);                                           \
        if (rf_pt_rc_ != 0) return rf_pthread_fail(rf_pt_rc_, #call);     \
    } while (0)
/* For lock/unlock/signal of an initialised object in a function with no
 * status to return: these fail only through a bug (EINVAL, EDEADLK), so
 * the process stops there, naming the call, rather than run unlocked. */
void rf_pthread_must_fail(int rc, const char *what, const char *file, int line) __attribute__((noreturn));
#define PTHREAD_MUST(call)                                                      \
    do {                                                                        \
        int rf_pt_rc_ = (call);                                                 \
        if (rf_pt_rc_ != 0) rf_pthread_must_fail(rf_pt_rc_, #call, __FILE__, __LINE__); \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
