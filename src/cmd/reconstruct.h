/* reconstruct.h — the `isonode reconstruct` command (reconstruct.c). */
#ifndef ISO_CLI_RECONSTRUCT_H
#define ISO_CLI_RECONSTRUCT_H

struct iso_config;

/* argv: the arguments after "reconstruct"; defaults come from the
 * configuration's [reconstruct] section.  Returns the exit status. */
int iso_cli_reconstruct(const struct iso_config *cfg, int argc, char **argv);

#endif
