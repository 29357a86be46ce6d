/* cli_reconstruct.h — the `isonode reconstruct` command (cli_reconstruct.c). */
#ifndef ISO_CLI_RECONSTRUCT_H
#define ISO_CLI_RECONSTRUCT_H

/* argv: the arguments after "reconstruct".  Returns the exit status. */
int iso_cli_reconstruct(int argc, char **argv);

#endif
