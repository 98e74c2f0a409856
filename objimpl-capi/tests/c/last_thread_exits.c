/* A process whose main thread ends by pthread_exit, as a C program may,
 * ends when its last thread does. The worker frees 8 MB of small blocks,
 * so its heap keeps wholly free arenas and the allocator's purger thread
 * starts to give them back: the purger must not keep the process alive
 * once the worker is gone (it did, sleeping for ever). The worker prints
 * "ok"; the process then ends with status 0. */
#include <pthread.h>
#include <stdio.h>

#include "objimpl.h"

#define CHECK_FAILED ((void *)1)
#include "check.h"

#define COUNT 250000

static void *worker(void *arg)
{
    (void)arg;
    void **blocks = PyMem_RawMalloc(COUNT * sizeof(void *));
    CHECK(blocks != NULL);
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = PyObject_Malloc(32);
        CHECK(blocks[i] != NULL);
    }
    for (int i = 0; i < COUNT; i++) {
        PyObject_Free(blocks[i]);
    }
    PyMem_RawFree(blocks);
    puts("ok");
    fflush(stdout);
    return NULL;
}

int main(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, NULL) != 0) {
        return 1;
    }
    /* The process ends when the worker does (exit status 0). */
    pthread_exit(NULL);
}
