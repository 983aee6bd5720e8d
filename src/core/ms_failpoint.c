#include "core/ms_failpoint.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ms_log.h"

static char fp_name[64];
static long fp_countdown;

void ms_failpoint_init(void)
{
    const char *env = getenv("MSTREAM_FAILPOINT");
    fp_name[0] = '\0';
    if (!env || !*env)
        return;
    const char *colon = strchr(env, ':');
    size_t n = colon ? (size_t)(colon - env) : strlen(env);
    if (n >= sizeof(fp_name))
        n = sizeof(fp_name) - 1;
    memcpy(fp_name, env, n);
    fp_name[n] = '\0';
    fp_countdown = colon ? strtol(colon + 1, NULL, 10) : 1;
    if (fp_countdown < 1)
        fp_countdown = 1;
    ms_warn("failpoint armed: %s (hit %ld)", fp_name, fp_countdown);
}

void ms_failpoint(const char *name)
{
    if (fp_name[0] == '\0' || strcmp(fp_name, name) != 0)
        return;
    if (--fp_countdown > 0)
        return;
    ms_warn("failpoint %s reached: killing this process with SIGKILL", name);
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}

int ms_failpoint_hit(const char *name)
{
    if (fp_name[0] == '\0' || strcmp(fp_name, name) != 0)
        return 0;
    if (--fp_countdown != 0)
        return 0;
    ms_warn("failpoint %s reached", name);
    return 1;
}
