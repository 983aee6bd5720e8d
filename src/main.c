/*
 * mstream: command line entry point.  Parses the options and hands over to
 * the engine; everything else lives in src/engine/ms_engine.c.  `mstream
 * checkpoint ...` goes to the checkpoint tools (src/tools/ms_ckpt_tool.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/ms_config.h"
#include "core/ms_log.h"
#include "engine/ms_engine.h"
#include "mstream/mstream.h"
#include "tools/ms_ckpt_tool.h"

int main(int argc, char **argv)
{
    /* Subcommands come before the engine's options. */
    if (argc >= 2 && !strcmp(argv[1], "checkpoint"))
        return ms_ckpt_tool_main(argc - 1, argv + 1);
    ms_config cfg;
    char err[512];
    if (ms_config_parse(&cfg, argc, argv, err, sizeof(err)) != 0) {
        ms_say("mstream: %s", err);
        ms_say("usage: mstream --input-dir DIR | --kafka BROKERS --checkpoint-dir DIR "
               "[options]; see mstream --help");
        ms_config_free(&cfg);
        return MS_EXIT_USAGE;
    }
    if (cfg.help) {
        ms_config_usage(stdout);
        ms_config_free(&cfg);
        return MS_EXIT_OK;
    }
    if (cfg.version) {
        printf("mstream %s (RocksDB %s, C11)\n", MS_VERSION, MS_ROCKSDB_VERSION);
        ms_config_free(&cfg);
        return MS_EXIT_OK;
    }
    ms_log_level_parse(cfg.log_level, &ms_log_threshold);
    int status = ms_engine_run(&cfg);
    ms_config_free(&cfg);
    return status;
}
