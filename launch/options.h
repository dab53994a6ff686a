/* Every setting of the refit command, declared once: a flag --NAME, an
 * environment variable REFIT_NAME (dashes become underscores), a default
 * and a one-line doc. Flags override the environment. `--help`, `refit env`
 * and docs/cli.md (`refit help-md`) are all printed from this table. */
#ifndef RF_OPTIONS_H
#define RF_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "rf_common.h"

enum {
    RF_CMD_RUN = 1u << 0,
    RF_CMD_SYNTH = 1u << 1,
    RF_CMD_PLAN = 1u << 2,
    RF_CMD_INSPECT = 1u << 3,
    RF_CMD_TOPO = 1u << 4,
    RF_CMD_ENV = 1u << 5,
    RF_CMD_VERSION = 1u << 6,
};

#define RF_OPT_MAX_LIST 64
#define RF_OPT_MAX 32

typedef struct {
    const char *name;    /* flag without "--" */
    const char *metavar; /* NULL: a switch without a value */
    const char *def;     /* default value as text (NULL: unset) */
    unsigned cmds;       /* RF_CMD_* that take it */
    bool repeat;         /* may be given several times */
    const char *choices; /* "a|b|c": the only values accepted (NULL: any) */
    const char *doc;
} rf_opt_def_t;

/* A subcommand as the user sees it: its name, usage line and summary. */
typedef struct {
    unsigned bit;
    const char *name, *usage, *doc;
    int positional; /* words it takes besides options (inspect: its FILE|DIR) */
} rf_cmd_def_t;

typedef struct {
    unsigned cmd;
    const char *val[RF_OPT_MAX];        /* by table index; NULL = unset */
    bool from_env[RF_OPT_MAX];          /* the value came from REFIT_NAME, not --name */
    const char *list[RF_OPT_MAX_LIST];  /* values of the repeatable option */
    int n_list;
    const char *positional[8];
    int n_positional;
} rf_opts_t;

const rf_opt_def_t *rf_opt_table(int *count);
const rf_cmd_def_t *rf_cmd_table(int *count);
const rf_cmd_def_t *rf_cmd_find(unsigned bit);

/* Parses argv (after the subcommand) and checks every choice option.
 * Unknown flags (with the nearest known one), stray words, missing values
 * and values outside an option's choices are REFIT_ERR_INVALID_ARG naming
 * the flag, or the variable when the value came from the environment.
 * Sets *want_help when --help/-h is seen. */
refit_status rf_opts_parse(unsigned cmd, int argc, char **argv, rf_opts_t *o, bool *want_help);
/* The command's front door: parses; on --help prints the usage and the
 * options to stdout and returns 0; on a usage error prints
 * "refit CMD: why" (and "see 'refit CMD --help'") to stderr and returns 2;
 * otherwise returns -1 (go on). `quiet` suppresses the printing (MPI ranks
 * other than 0). `extra_help` (may be NULL) prints the command's own text
 * between the usage line and the options. */
int rf_opts_front(unsigned cmd, int argc, char **argv, rf_opts_t *o, bool quiet, void (*extra_help)(FILE *));

const char *rf_opt_str(const rf_opts_t *o, const char *name);
/* Integer value; REFIT_ERR_INVALID_ARG naming the flag or variable when not an integer in [lo, hi]. */
refit_status rf_opt_int(const rf_opts_t *o, const char *name, long lo, long hi, long *out);
/* Number; REFIT_ERR_INVALID_ARG naming the flag or variable when not a number in [lo, hi]. */
refit_status rf_opt_double(const rf_opts_t *o, const char *name, double lo, double hi, double *out);
bool rf_opt_flag(const rf_opts_t *o, const char *name);
/* "--tp" or "REFIT_TP": where the value of `name` came from. */
const char *rf_opt_origin(const rf_opts_t *o, const char *name, char *buf, size_t cap);

/* Help text for a subcommand's options. */
void rf_opts_help(unsigned cmd, FILE *out);
/* `refit env`: every setting, its variable, current value, default and doc:
 * the command's options, then the library's own (rf_settings.h). */
void rf_opts_print_env(FILE *out);

#endif
