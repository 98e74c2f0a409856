/* CHECK(cond) for the C test programs: on failure, names the file, line
 * and condition on stderr and returns CHECK_FAILED (1 unless the file
 * defines it first: a thread function returns a pointer). */
#ifndef OBJIMPL_TEST_CHECK_H
#define OBJIMPL_TEST_CHECK_H

#include <stdio.h>

#ifndef CHECK_FAILED
#define CHECK_FAILED 1
#endif

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                   \
            return CHECK_FAILED;                                        \
        }                                                               \
    } while (0)

#endif
