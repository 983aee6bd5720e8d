/*
 * The committer thread (see ms_committer.h).
 */
#include "engine/ms_committer.h"

#include <stdio.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

static void *committer_main(void *arg)
{
    ms_committer *c = arg;
    pthread_setname_np(pthread_self(), "ms:committer");
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->state != 1 && !c->quit)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->state != 1)
            break;
        ms_ckpt_batch *wb = c->wb;
        pthread_mutex_unlock(&c->lock);

        char err[sizeof(c->err)] = "";
        double t0 = ms_now_mono();
        int rc = ms_ckpt_commit(c->ck, wb, err, sizeof(err));
        double dt = ms_now_mono() - t0;
        ms_ckpt_batch_free(wb);

        if (rc == 0)
            __atomic_add_fetch(&c->ndurable, 1, __ATOMIC_RELEASE);
        pthread_mutex_lock(&c->lock);
        c->wb = NULL;
        c->rc = rc;
        c->seconds = dt;
        memcpy(c->err, err, sizeof(err));
        c->state = 2;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int ms_committer_start(ms_committer *c, ms_ckpt *ck)
{
    memset(c, 0, sizeof(*c));
    c->ck = ck;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0)
        return MS_ENOMEM;
    c->started = 1;
    return 0;
}

void ms_committer_stop(ms_committer *c)
{
    if (!c->started)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->state == 1)
        pthread_cond_wait(&c->cond, &c->lock);
    c->quit = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    c->started = 0;
}

void ms_committer_submit(ms_committer *c, ms_ckpt_batch *wb)
{
    pthread_mutex_lock(&c->lock);
    c->wb = wb;
    c->state = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int ms_committer_busy(ms_committer *c)
{
    if (!c->started)
        return 0;
    pthread_mutex_lock(&c->lock);
    int busy = c->state != 0;
    pthread_mutex_unlock(&c->lock);
    return busy;
}

int ms_committer_wait(ms_committer *c, double *seconds, char *errstr, size_t errsz)
{
    pthread_mutex_lock(&c->lock);
    while (c->state == 1)
        pthread_cond_wait(&c->cond, &c->lock);
    int rc = c->rc;
    if (seconds)
        *seconds = c->seconds;
    if (rc && errsz)
        snprintf(errstr, errsz, "%s", c->err);
    c->state = 0;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void ms_committer_wait_idle(ms_committer *c)
{
    if (!c->started)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->state == 1)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}
