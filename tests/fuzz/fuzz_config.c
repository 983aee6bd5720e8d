/* Fuzz the command-line parser: the input is split on NUL into argv.  Any
 * argv is either accepted with values inside their bounds or refused with a
 * message. */
#include <string.h>

#include "core/ms_config.h"
#include "fuzz.h"
#include "mstream/mstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[4096];
    char *argv[64];
    int argc = fuzz_argv(data, size, buf, sizeof(buf), argv, 64, "mstream");
    ms_config c;
    char err[256] = "";
    int rc = ms_config_parse(&c, argc, argv, err, sizeof(err));
    if (rc == 0) {
        if (!c.help && !c.version) {
            /* Exactly one source: a directory or Kafka. */
            FUZZ_CHECK(c.checkpoint_dir && *c.checkpoint_dir && (!c.input_dir) != (!c.kafka));
            FUZZ_CHECK(!c.input_dir || *c.input_dir);
            FUZZ_CHECK(c.ntopics == 0 || c.topic_list != NULL);
            for (size_t i = 0; i < c.nkafka_props; i++) /* -X key=value, key non-empty */
                FUZZ_CHECK(strchr(c.kafka_props[i], '=') > c.kafka_props[i]);
            FUZZ_CHECK(c.trigger_sec >= 0 && c.top_k >= 0 && c.max_word_bytes >= 1);
        }
    } else {
        FUZZ_CHECK(rc == MS_EUSAGE && err[0] != '\0');
    }
    ms_config_free(&c);
    return 0;
}
