/* Before the first load of `refit run`: can the outputs be written? A
 * report or dump that fails only after minutes of loading wastes the job,
 * so both are tried first and every failure is reported at once. */
#ifndef RF_PREFLIGHT_H
#define RF_PREFLIGHT_H

#include <stdbool.h>

/* Collective over MPI_COMM_WORLD. report (rank 0's; NULL: none): its file
 * can be created or overwritten; dump (NULL: none): on every rank the
 * directory exists or is created and takes a file (written, then removed).
 * report_who / dump_who name the setting ("--report" or "REFIT_REPORT").
 * Rank 0 prints one line per failure (the same failure on several ranks
 * once, with the ranks counted). Returns true when every check passed. */
bool rf_preflight(const char *report, const char *report_who, const char *dump, const char *dump_who);

#endif
