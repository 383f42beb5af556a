#ifndef CHTTPPARSER_SHIM_H
#define CHTTPPARSER_SHIM_H
// Debian's libhttp-parser-dev (2.9): no pkg-config file, so the module map names the library itself.
#include <http_parser.h>
#endif
