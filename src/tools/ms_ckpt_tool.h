/*
 * ms_ckpt_tool: `mstream checkpoint ...`, read-only views of a checkpoint
 * directory (modelled on Spark 4.0's state data source reader):
 *
 *   mstream checkpoint describe DIR [--json]
 *       query, source, format, last batch, pending plans, per statement
 *       its watermark, largest event time (per partition), latest closed
 *       window, group count and state size estimate, and the positions
 *       (files or Kafka partitions)
 *   mstream checkpoint batches DIR [--limit N] [--json]
 *       the recent batch records, newest first
 *   mstream checkpoint state DIR [--query NAME] [--format csv|json]
 *       a statement's state as rows, in group-key order
 *
 * Safe while an engine runs on the same checkpoint: the database is opened
 * read-only without its LOCK (ms_ckpt_open_readonly), so the tools see
 * the checkpoint as of their open — every commit that returned before it
 * — and never write, create or flush anything.
 *
 * Nothing read is trusted: every record goes through its codec (ms_codec.h,
 * ms_codec_kafka.h, the executor's value layout), and a record that does
 * not decode is a sentence naming it and exit 1.  The state is decoded by
 * the statement's own executor: the query text the checkpoint recorded
 * ("m:query", canonical, ms_program.h) is parsed again, so the columns are
 * the canonical ones (group columns, window_start, aggregates, with their
 * default names: aliases are not recorded in the checkpoint).
 *
 * Exit codes: 0 ok, 1 the checkpoint cannot be read (missing, not a
 * checkpoint, damaged), 2 usage.
 */
#ifndef MS_CKPT_TOOL_H
#define MS_CKPT_TOOL_H

/* argv[0] is "checkpoint". */
int ms_ckpt_tool_main(int argc, char **argv);

#endif
