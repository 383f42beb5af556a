#include "build_info.h"

#if __has_include("generated/build_commit.h")
#include "generated/build_commit.h"
#endif

#ifndef TENSORWIRE_GIT_COMMIT
#define TENSORWIRE_GIT_COMMIT "unknown"
#endif

const char *tensorwire_build_commit(void) { return TENSORWIRE_GIT_COMMIT; }
