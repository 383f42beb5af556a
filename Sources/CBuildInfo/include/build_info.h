// The git commit this binary was built from, as Tools/stamp-build wrote it into generated/build_commit.h before the
// build (a plain `swift build` of a tree it never ran on says "unknown"). Imported only by BuildInfo.
#ifndef TENSORWIRE_BUILD_INFO_H
#define TENSORWIRE_BUILD_INFO_H

/// The commit, e.g. "9e49a66" or "9e49a66-dirty"; never NULL.
const char *tensorwire_build_commit(void);

#endif
