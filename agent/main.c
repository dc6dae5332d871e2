/*
 * main.c - the `agent` executable: everything is in the agent_cli library
 * so that tests drive the same code.
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return agent_cli_main(argc, argv);
}
