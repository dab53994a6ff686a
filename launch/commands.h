/* The subcommands of the refit command; each returns the process exit code. */
#ifndef RF_COMMANDS_H
#define RF_COMMANDS_H

int rf_cmd_run(int argc, char **argv);
int rf_cmd_synth(int argc, char **argv);
int rf_cmd_plan(int argc, char **argv);
int rf_cmd_inspect(int argc, char **argv);
int rf_cmd_env(int argc, char **argv);
int rf_cmd_topo(int argc, char **argv);
int rf_cmd_version(int argc, char **argv);
int rf_cmd_help_md(int argc, char **argv);

#endif
