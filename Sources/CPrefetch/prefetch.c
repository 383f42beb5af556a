// CPrefetch is a header-only module (include/CPrefetch.h); SwiftPM needs one source file to build a C target.
#include "CPrefetch.h"
