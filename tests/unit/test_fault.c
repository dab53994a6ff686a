/* REFIT_FAULT parsing, the fault points (error and nomem once; crash and
 * hang in a child process) and the watchdog timer. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "watchdog.h"

#include "check.h"


static void test_parse_good(void) {
    rf_fault_t f;
    CHECK(rf_fault_parse(NULL, &f) == REFIT_OK && f.kind == RF_FAULT_NONE, "NULL spec");
    CHECK(rf_fault_parse("", &f) == REFIT_OK && f.kind == RF_FAULT_NONE, "empty spec");
    CHECK(rf_fault_parse("3:transfer:hang", &f) == REFIT_OK && f.rank == 3 && f.phase == REFIT_PHASE_TRANSFER &&
              f.kind == RF_FAULT_HANG && f.generation == 1,
          "3:transfer:hang: %s", rf_err_msg());
    CHECK(rf_fault_parse("0:commit:error:7", &f) == REFIT_OK && f.rank == 0 && f.phase == REFIT_PHASE_COMMIT &&
              f.kind == RF_FAULT_ERROR && f.generation == 7 && !strcmp(f.spec, "0:commit:error:7"),
          "0:commit:error:7");
    CHECK(rf_fault_parse("12:open:crash:0", &f) == REFIT_OK && f.kind == RF_FAULT_CRASH && f.generation == 0,
          "generation 0");
    CHECK(rf_fault_parse("1:restore:nomem:0", &f) == REFIT_OK && f.kind == RF_FAULT_NOMEM &&
              f.phase == REFIT_PHASE_RESTORE && f.generation == 0,
          "1:restore:nomem:0: %s", rf_err_msg());
    const char *phases[] = {"open", "snapshot", "restore", "transfer", "quantize", "commit"};
    for (int p = 0; p < 6; p++) {
        char spec[64];
        snprintf(spec, sizeof spec, "1:%s:error", phases[p]);
        CHECK(rf_fault_parse(spec, &f) == REFIT_OK && f.phase == (refit_phase)p, "%s", spec);
    }
}

static void test_parse_bad(void) {
    const char *bad[] = {"1",          "1:open",          "x:open:error",     "-1:open:error", "1:opn:error",
                         "1:open:boom", "1:open:error:-1", "1:open:error:1:2", "1::error",      ":open:error",
                         "1:open:error:", "1:OPEN:error",  "+1:open:error",    "1:open:error:x", "99999999999:open:error",
                         "1:open:nomem", "1:transfer:nomem", /* nomem: restore only */
                         "1:open:corrupt", "1:commit:corrupt"}; /* corrupt: transfer only */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_err_clear();
        rf_fault_t f = {.kind = RF_FAULT_HANG};
        refit_status st = rf_fault_parse(bad[i], &f);
        CHECK(st == REFIT_ERR_INVALID_ARG, "'%s' accepted", bad[i]);
        CHECK(strstr(rf_err_msg(), "REFIT_FAULT='") && strstr(rf_err_msg(), "RANK:PHASE:KIND[:GEN]"),
              "'%s': message %s", bad[i], rf_err_msg());
        CHECK(f.kind == RF_FAULT_HANG, "'%s': output written on failure", bad[i]);
    }
    setenv("REFIT_FAULT", "4:open:error", 1);
    rf_err_clear();
    rf_fault_t f;
    CHECK(rf_fault_from_env(4, &f) == REFIT_ERR_INVALID_ARG && strstr(rf_err_msg(), "rank 4 out of range"),
          "rank = world accepted: %s", rf_err_msg());
    CHECK(rf_fault_from_env(5, &f) == REFIT_OK && f.kind == RF_FAULT_ERROR, "rank < world refused");
    unsetenv("REFIT_FAULT");
    CHECK(rf_fault_from_env(1, &f) == REFIT_OK && f.kind == RF_FAULT_NONE, "no REFIT_FAULT");
}

static void test_point_error(void) {
    rf_fault_t f;
    rf_fault_parse("2:quantize:error:3", &f);
    CHECK(rf_fault_point(&f, 1, REFIT_PHASE_QUANTIZE, 3, NULL) == REFIT_OK, "fired on another rank");
    CHECK(rf_fault_point(&f, 2, REFIT_PHASE_TRANSFER, 3, NULL) == REFIT_OK, "fired in another phase");
    CHECK(rf_fault_point(&f, 2, REFIT_PHASE_QUANTIZE, 2, NULL) == REFIT_OK, "fired in another generation");
    rf_err_clear();
    refit_status st = rf_fault_point(&f, 2, REFIT_PHASE_QUANTIZE, 3, "model.norm.weight");
    CHECK(st == REFIT_ERR_INTERNAL, "did not fire: %s", refit_status_str(st));
    CHECK(strstr(rf_err_msg(), "injected fault: error in phase quantize of generation 3 at model.norm.weight"),
          "message: %s", rf_err_msg());
    CHECK(rf_fault_point(&f, 2, REFIT_PHASE_QUANTIZE, 3, NULL) == REFIT_OK, "an error fault fired twice");
}

/* nomem fires at an allocation point only, once; never where a phase starts */
static void test_point_nomem(void) {
    rf_fault_t f;
    rf_fault_parse("1:restore:nomem:0", &f);
    CHECK(rf_fault_point(&f, 1, REFIT_PHASE_RESTORE, 0, NULL) == REFIT_OK, "nomem fired at the phase start");
    CHECK(rf_fault_alloc_point(&f, 0, 0, "x") == REFIT_OK, "nomem fired on another rank");
    CHECK(rf_fault_alloc_point(&f, 1, 1, "x") == REFIT_OK, "nomem fired in another generation");
    rf_err_clear();
    refit_status st = rf_fault_alloc_point(&f, 1, 0, "model.layers.1.mlp.down_proj.weight");
    CHECK(st == REFIT_ERR_NOMEM, "did not fire: %s", refit_status_str(st));
    CHECK(strstr(rf_err_msg(), "injected fault: nomem in phase restore of generation 0 at model.layers.1"),
          "message: %s", rf_err_msg());
    CHECK(rf_fault_alloc_point(&f, 1, 0, "x") == REFIT_OK, "nomem fired twice");
    rf_fault_parse("1:restore:error:0", &f);
    CHECK(rf_fault_alloc_point(&f, 1, 0, "x") == REFIT_OK, "an error fault fired at an allocation point");
}

/* corrupt fires at the corrupt point only, once, on its rank and generation;
 * pause is a kind of its own (its resume file comes from the environment) */
static void test_point_corrupt(void) {
    rf_fault_t f;
    CHECK(rf_fault_parse("1:transfer:corrupt", &f) == REFIT_OK && f.kind == RF_FAULT_CORRUPT, "corrupt parse");
    CHECK(rf_fault_point(&f, 1, REFIT_PHASE_TRANSFER, 1, "x") == REFIT_OK, "corrupt fired at the phase point");
    CHECK(!rf_fault_corrupt_point(&f, 0, 1, "x"), "corrupt fired on another rank");
    CHECK(!rf_fault_corrupt_point(&f, 1, 2, "x"), "corrupt fired in another generation");
    CHECK(rf_fault_corrupt_point(&f, 1, 1, "x"), "corrupt did not fire");
    CHECK(!rf_fault_corrupt_point(&f, 1, 1, "x"), "corrupt fired twice");
    CHECK(rf_fault_parse("0:transfer:pause:3", &f) == REFIT_OK && f.kind == RF_FAULT_PAUSE && f.generation == 3,
          "pause parse");
    CHECK(!rf_fault_corrupt_point(&f, 0, 3, "x"), "a pause fault fired as corrupt");
}

/* crash and hang end or stop the process: run them in a child */
static void test_point_crash_hang(void) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        rf_fault_t f;
        rf_fault_parse("0:restore:crash", &f);
        rf_fault_point(&f, 0, REFIT_PHASE_RESTORE, 1, NULL);
        _exit(0);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT, "crash: child status 0x%x", ws);

    pid = fork();
    if (pid == 0) {
        rf_fault_t f;
        rf_fault_parse("0:commit:hang", &f);
        rf_fault_point(&f, 0, REFIT_PHASE_COMMIT, 1, NULL);
        _exit(0);
    }
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(waitpid(pid, &ws, WNOHANG) == 0, "hang: child returned");
    kill(pid, SIGKILL);
    waitpid(pid, &ws, 0);
}

static atomic_int fired;
static void on_fire(void *user, double seconds) {
    (void)user;
    (void)seconds;
    atomic_fetch_add(&fired, 1);
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void test_watchdog(void) {
    rf_watchdog_t *w = NULL;
    CHECK(rf_watchdog_create(on_fire, NULL, &w) == REFIT_OK, "create");
    rf_watchdog_arm(w, 0.05);
    nap(0.3);
    CHECK(atomic_load(&fired) == 1, "armed 0.05 s: fired %d times after 0.3 s", atomic_load(&fired));
    rf_watchdog_arm(w, 0.5);
    nap(0.05);
    rf_watchdog_disarm(w);
    nap(0.6);
    CHECK(atomic_load(&fired) == 1, "disarmed watchdog fired");
    rf_watchdog_arm(w, 0.3);
    nap(0.1);
    rf_watchdog_arm(w, 0.3); /* re-arming restarts the countdown */
    nap(0.25);
    CHECK(atomic_load(&fired) == 1, "re-armed watchdog fired on the old deadline");
    nap(0.3);
    CHECK(atomic_load(&fired) == 2, "re-armed watchdog did not fire");
    rf_watchdog_arm(w, 0); /* <= 0: disarmed */
    nap(0.1);
    CHECK(atomic_load(&fired) == 2, "armed with 0 fired");
    rf_watchdog_arm(w, 100);
    rf_watchdog_destroy(w); /* armed: destroy must not wait for it */
}

int main(void) {
    test_parse_good();
    test_parse_bad();
    test_point_error();
    test_point_nomem();
    test_point_corrupt();
    test_point_crash_hang();
    test_watchdog();
    printf("test_fault: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
