/* Every REFIT_* environment variable the library reads, declared once in
 * RF_SETTINGS below (NCCL_PARAM-style): name, type, default, the values it
 * takes and a one-line doc. Code reads them only through rf_setting_*();
 * `refit env` lists them (rf_settings_print) next to the command's options.
 *
 * A read takes the environment as it is at that moment (a test may set a
 * variable between two contexts); nothing is cached. A malformed value is
 * REFIT_ERR_INVALID_ARG naming the variable, the value and what it takes.
 * refit_create checks them all (rf_settings_check) on every rank and logs,
 * at info, each one set from the environment. */
#ifndef RF_SETTINGS_H
#define RF_SETTINGS_H

#include <stdbool.h>
#include <stdio.h>

#include "rf_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RF_SETTING_STRING, /* any text */
    RF_SETTING_CHOICE, /* one of `choices` ("a|b|c") */
    RF_SETTING_INT,    /* a decimal integer in [lo, hi] */
    RF_SETTING_LIST,   /* a comma list of words, each one of `choices` */
} rf_setting_type_t;

/* X(ID, NAME, TYPE, DEFAULT, CHOICES, LO, HI, DOC) */
#define RF_SETTINGS(X)                                                                                      \
    X(LOG, "REFIT_LOG", RF_SETTING_CHOICE, "warn", "error|warn|info|debug", 0, 0,                           \
      "log level (info and debug lines start with the time)")                                               \
    X(LOG_SUBSYS, "REFIT_LOG_SUBSYS", RF_SETTING_LIST, "", "all|snap|io|comm|kern|launch|fault|settings",   \
      0, 0, "comma list of subsystems logged below warn (empty: all)")                                      \
    X(LOG_FILE, "REFIT_LOG_FILE", RF_SETTING_STRING, "", NULL, 0, 0,                                        \
      "log to this file instead of stderr; %h = host name, %p = process id (as NCCL_DEBUG_FILE)")          \
    X(FAULT, "REFIT_FAULT", RF_SETTING_STRING, "", NULL, 0, 0,                                              \
      "tests only: inject a fault, RANK:PHASE:KIND[:GEN] (docs/faults.md)")                                 \
    X(FAULT_RESUME, "REFIT_FAULT_RESUME", RF_SETTING_STRING, "", NULL, 0, 0,                                \
      "tests only: with REFIT_FAULT kind pause, the file whose existence lets the paused rank go on")       \
    X(NODE_ID, "REFIT_NODE_ID", RF_SETTING_STRING, "", NULL, 0, 0,                                          \
      "ranks with the same id form one node (empty: ranks with the same host name)")                       \
    X(XFER_TOPO, "REFIT_XFER_TOPO", RF_SETTING_CHOICE, "node", "node|flat", 0, 0,                           \
      "host data plane: node (a bucket crosses to each node once, then fans out in it) | flat (as rank 0 has it)") \
    X(PACK_THREADS, "REFIT_PACK_THREADS", RF_SETTING_INT, "0", NULL, 0, 1024,                               \
      "cuda backend: rank 0's bucket packing threads (0: one per online CPU, at most 32)")                  \
    X(BLOCK_KERNEL, "REFIT_BLOCK_KERNEL", RF_SETTING_CHOICE, "pdl", "pdl|nopdl|old", 0, 0,                  \
      "cuda fp8-block kernel (benchmarks): pdl (staged, launched with PDL) | nopdl | old (register kernel)")

typedef enum {
#define RF_SETTING_ENUM(id, name, type, def, choices, lo, hi, doc) RF_SET_##id,
    RF_SETTINGS(RF_SETTING_ENUM)
#undef RF_SETTING_ENUM
    RF_SET_COUNT
} rf_setting_id_t;

typedef struct {
    const char *name;
    rf_setting_type_t type;
    const char *def;     /* as text */
    const char *choices; /* CHOICE: "a|b|c"; NULL otherwise */
    long lo, hi;         /* INT */
    const char *doc;
} rf_setting_def_t;

const rf_setting_def_t *rf_setting_def(rf_setting_id_t id);

/* The value from the environment, or the default when unset or empty.
 * A malformed value is REFIT_ERR_INVALID_ARG; *out is set only on success. */
refit_status rf_setting_str(rf_setting_id_t id, const char **out);
refit_status rf_setting_int(rf_setting_id_t id, long *out);
/* CHOICE: index of the value among the choices (0 = the first). */
refit_status rf_setting_choice(rf_setting_id_t id, int *out);
/* CHOICE, for readers that cannot fail (the log): the index of the value,
 * the default's when unset or malformed; records no error. */
int rf_setting_choice_or_default(rf_setting_id_t id);
/* The text as set in the environment; NULL when unset or empty. */
const char *rf_setting_raw(rf_setting_id_t id);

/* Checks every setting; the first malformed one is the error. Logs, at
 * info ("settings" subsystem), each one set from the environment. */
refit_status rf_settings_check(void);
/* `refit env`: one line per setting (variable, value, default, meaning). */
void rf_settings_print(FILE *out);

#ifdef __cplusplus
}
#endif
#endif
