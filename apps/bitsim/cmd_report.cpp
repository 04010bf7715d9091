// `bitsim report SWEEP_OUT`: the HTML report of a sweep (table, accuracy curves, final errors with
// error bars, gradient-statistics figures), drawn by scripts/sweep_report.py with matplotlib; see
// docs/sweeps.md. This command finds the script and the Python that has matplotlib, and runs it.
#include "apps/bitsim/commands.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <unistd.h>

namespace bitsim::cli {

Runner add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("report", "Write the HTML report of a sweep's output folder (docs/sweeps.md)");
  cmd->add_option("dir", *dir, "the sweep's output folder (its `out`, holding table.csv and sweep.json)")->required();
  cmd->footer("Writes DIR/report.html: the table, accuracy curves, final errors with error bars and gradient-statistics\n"
              "figures, every figure embedded (matplotlib).\n"
              "Exit status: 0 success; 2 a missing or unreadable folder, or no python3 with matplotlib.\n"
              "Example: bitsim report experiments/banner2018/results/cnn_small");
  return [dir]() -> int {
    namespace fs = std::filesystem;
    if (!fs::is_directory(*dir)) {
      std::cerr << "bitsim report: " << *dir << ": no such folder\n";
      return kExitBadInput;
    }
    // The script lives in the source tree this binary was built from (BITSIM_SCRIPTS overrides it).
    const char* env_scripts = std::getenv("BITSIM_SCRIPTS");
    const std::string script = std::string(env_scripts ? env_scripts : BITSIM_SOURCE_DIR "/scripts") + "/sweep_report.py";
    if (!fs::is_regular_file(script)) {
      std::cerr << "bitsim report: " << script << " not found (set BITSIM_SCRIPTS to the folder holding sweep_report.py)\n";
      return kExitBadInput;
    }
    // Debian's python3 has matplotlib; a python3 earlier on PATH (pyenv) may not.
    const char* env_python = std::getenv("BITSIM_PYTHON");
    const std::string python = env_python ? env_python : fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    std::string s = script, d = *dir, p = python;
    char* argv[] = {p.data(), s.data(), d.data(), nullptr};
    execvp(p.c_str(), argv);
    std::cerr << "bitsim report: cannot run " << python << " (Debian: apt-get install python3 python3-matplotlib)\n";
    return kExitBadInput;
  };
}

}  // namespace bitsim::cli
