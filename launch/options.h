/* Every setting of the refit command, declared once: a flag --NAME, an
 * environment variable REFIT_NAME (dashes become underscores), a default
 * and a one-line doc. Flags override the environment. `refit env` lists
 * them all with their current values. */
#ifndef RF_OPTIONS_H
#define RF_OPTIONS_H

#include <stdbool.h>

#include "rf_common.h"

enum {
    RF_CMD_RUN = 1u << 0,
    RF_CMD_SYNTH = 1u << 1,
    RF_CMD_PLAN = 1u << 2,
    RF_CMD_INSPECT = 1u << 3,
    RF_CMD_TOPO = 1u << 4,
};

#define RF_OPT_MAX_LIST 64

typedef struct {
    const char *name;    /* flag without "--" */
    const char *metavar; /* NULL: a switch without a value */
    const char *def;     /* default value as text (NULL: unset) */
    unsigned cmds;       /* RF_CMD_* that take it */
    bool repeat;         /* may be given several times */
    const char *doc;
} rf_opt_def_t;

typedef struct {
    unsigned cmd;
    const char *val[32];                /* by table index; NULL = unset */
    const char *list[RF_OPT_MAX_LIST];  /* values of the repeatable option */
    int n_list;
    const char *positional[8];
    int n_positional;
} rf_opts_t;

const rf_opt_def_t *rf_opt_table(int *count);

/* Parses argv (after the subcommand). Unknown flags, missing values and
 * malformed numbers are REFIT_ERR_INVALID_ARG naming the flag. Sets
 * *want_help when --help/-h is seen. */
refit_status rf_opts_parse(unsigned cmd, int argc, char **argv, rf_opts_t *o, bool *want_help);

const char *rf_opt_str(const rf_opts_t *o, const char *name);
/* Integer value; REFIT_ERR_INVALID_ARG naming the option when not an integer in [lo, hi]. */
refit_status rf_opt_int(const rf_opts_t *o, const char *name, long lo, long hi, long *out);
/* Number; REFIT_ERR_INVALID_ARG naming the option when not a number in [lo, hi]. */
refit_status rf_opt_double(const rf_opts_t *o, const char *name, double lo, double hi, double *out);
bool rf_opt_flag(const rf_opts_t *o, const char *name);

/* Help text for a subcommand's options. */
void rf_opts_help(unsigned cmd, FILE *out);
/* `refit env`: every setting, its variable, current value, default and doc. */
void rf_opts_print_env(FILE *out);

#endif
