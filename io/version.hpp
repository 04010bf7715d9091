// The engine's version, the source commit it was built from and the CPU it runs on: what result files,
// golden vectors and statistics record, so that a result names the code and machine that made it
// (docs/sweeps.md, "Provenance").
#pragma once

#include <string>

namespace bitsim::io {

// "0.1.0", the project version of CMakeLists.txt.
std::string version_number();
// 12 hex digits of the commit, "-dirty" appended when tracked files differed from it at build time;
// "unknown" when built outside a git checkout.
std::string source_commit();
// "bitsim 0.1.0 (commit 0123456789ab)": the one line every output that names its maker writes.
std::string version_line();
// The CPU this process runs on, as /proc/cpuinfo's first "model name" says ("unknown" elsewhere):
// run times in result files are only comparable on the same kind of machine.
std::string cpu_name();

}  // namespace bitsim::io
