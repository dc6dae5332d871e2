/*
 * main.c - the `agent` executable: everything is in the agent_cli library
 * so that tests drive the same code.
 */
#include "cli.h"
#include "plat_secure.h"

int main(int argc, char **argv)
{
    /* No core dumps, no ptrace by other processes: the 121 password and
     * the session cookie are in memory. A failure is not fatal. */
    (void)plat_harden_process();
    return agent_cli_main(argc, argv);
}
