/* ms_ckpt_edit: reads and writes single records of a checkpoint, so that a
 * test can stage a checkpoint as an older mstream left it (a bare "dir"
 * source record, or none at all).  Usage:
 *   ms_ckpt_edit DIR get KEY          prints the value, exit 1 if none
 *   ms_ckpt_edit DIR put KEY VALUE
 *   ms_ckpt_edit DIR delete KEY
 * Exit 0 ok, 1 not found or failed, 2 usage. */
#include <stdio.h>
#include <string.h>

#include "core/ms_buf.h"
#include "mstream/mstream.h"
#include "state/ms_ckpt.h"

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "put") == 0 && argc != 5) ||
        (strcmp(argv[2], "put") != 0 && argc != 4)) {
        fprintf(stderr, "usage: ms_ckpt_edit DIR get|delete KEY | DIR put KEY VALUE\n");
        return 2;
    }
    char err[1024];
    ms_ckpt *c = NULL;
    if (ms_ckpt_open(argv[1], &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "ms_ckpt_edit: %s\n", err);
        return 1;
    }
    const char *k = argv[3];
    int rc;
    if (!strcmp(argv[2], "get")) {
        ms_buf v = MS_BUF_INIT;
        rc = ms_ckpt_get(c, k, strlen(k), &v, err, sizeof(err));
        if (rc == 0)
            printf("%.*s\n", (int)v.len, v.data ? v.data : "");
        ms_buf_free(&v);
    } else if (!strcmp(argv[2], "put")) {
        rc = ms_ckpt_put_sync(c, k, strlen(k), argv[4], strlen(argv[4]), err, sizeof(err));
    } else if (!strcmp(argv[2], "delete")) {
        ms_ckpt_batch *b = ms_ckpt_batch_new();
        ms_ckpt_batch_delete(b, k, strlen(k));
        rc = ms_ckpt_commit(c, b, err, sizeof(err));
        ms_ckpt_batch_free(b);
    } else {
        fprintf(stderr, "ms_ckpt_edit: unknown command %s\n", argv[2]);
        ms_ckpt_close(c);
        return 2;
    }
    if (rc && rc != MS_ENOTFOUND)
        fprintf(stderr, "ms_ckpt_edit: %s\n", err);
    ms_ckpt_close(c);
    return rc ? 1 : 0;
}
