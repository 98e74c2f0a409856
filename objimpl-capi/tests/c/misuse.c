/* A block of one family given back to another, from C: the debug hooks
 * report it and abort. argv[1] and argv[2] name the families ("raw", "mem",
 * "object"): allocate with the first, free with the second. */
#include <stdio.h>
#include <string.h>

#include "objimpl.h"

static void *alloc_with(const char *family, size_t size)
{
    if (strcmp(family, "raw") == 0) return PyMem_RawMalloc(size);
    if (strcmp(family, "mem") == 0) return PyMem_Malloc(size);
    return PyObject_Malloc(size);
}

static void free_with(const char *family, void *p)
{
    if (strcmp(family, "raw") == 0) PyMem_RawFree(p);
    else if (strcmp(family, "mem") == 0) PyMem_Free(p);
    else PyObject_Free(p);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: misuse ALLOC-FAMILY FREE-FAMILY\n");
        return 2;
    }
    PyMem_SetupDebugHooks();
    void *p = alloc_with(argv[1], 16);
    printf("p=%p\n", p);
    fflush(stdout);
    free_with(argv[2], p);
    printf("not caught\n");
    return 0;
}
