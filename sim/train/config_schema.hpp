// The keys of a training config, each declared once (config_schema.cpp): its path, the TrainConfig
// field it fills (whose initializer in config.hpp is the default), the values it accepts, when the
// resolved config writes it, and its one-line meaning. The reader (read() in config.cpp) reads these
// keys through the schema, to_toml() writes them, `--set` reaches them like any other key, and the
// key table of docs/training.md is generated from it (config_key_table(); a test compares).
//
// The keys of [formats] and of each [[formats.override]] hang off a FormatLevel, not the TrainConfig:
// they are declared as LevelKeys (below), read, written and merged through them by config.cpp. Keys
// with structure of their own (model.layers, the role formats, the override tables, extends and set)
// are declared here for the table with their meaning, and read and written by config.cpp.
#pragma once

#include "sim/train/config.hpp"

#include <functional>
#include <string>
#include <vector>

namespace bitsim::sim::train {

namespace detail {
class Section;
}

// When the resolved config (to_toml) writes a key.
enum class Written {
  always,
  unless_default,  // keys added after runs were made: an older run's resolved config still matches
  by_hand,         // a structured key, written by config.cpp
};

struct ConfigKey {
  std::string section;  // "" (top level), "model", "data", "train", "optimizer", ...
  std::string name;
  std::string default_text;  // as the docs show it
  std::string meaning;       // one line for the docs, with the accepted values
  Written written = Written::always;
  // Reads the key from its section into the config (absent: the config keeps its default); null for
  // keys read by hand.
  std::function<void(detail::Section&, TrainConfig&)> read;
  // The value as TOML text; null for keys written by hand.
  std::function<std::string(const TrainConfig&)> value;
  // For Written::unless_default: whether the key counts as set (null: its value differs from the
  // default's).
  std::function<bool(const TrainConfig&)> is_set;
  // Whether the config's choices give the key a meaning (null: always). A key without one is neither
  // written to the resolved config nor accepted when read (SGD's momentum under Adam).
  std::function<bool(const TrainConfig&)> applies;
  std::string path() const { return section.empty() ? name : section + "." + name; }
};

// Every key, in the order of the resolved config and of the docs.
const std::vector<ConfigKey>& config_keys();

// Sections the resolved config writes only when one of their keys differs from its default (so that
// resolved configs of runs made before the section existed still match on --resume).
bool section_written_when_changed(const std::string& section);

// Reads every schema key of `section` (those with a reader) from s into c.
void read_schema_keys(detail::Section& s, const std::string& section, TrainConfig& c);
// "key = value\n" for every schema key of `section` the resolved config writes for c.
std::string write_schema_keys(const std::string& section, const TrainConfig& c);
// Whether any key of `section` differs from its default in c.
bool section_changed(const std::string& section, const TrainConfig& c);

// A key of a format level: [formats] and each [[formats.override]] (their roles are read and written
// by config.cpp with the rounding-policy registry). Declared once (level_keys() in config_schema.cpp):
// read into a FormatLevel when present, written back when set, merged key by key (a later level wins),
// and listed in the docs table as formats.<name>.
struct LevelKey {
  std::string name;
  std::string default_text;  // as the docs show it
  std::string meaning;       // one line for the docs, with the accepted values
  // Reads the key from s into the level; called only when s has it.
  std::function<void(detail::Section&, FormatLevel&)> read;
  // "name = value\n" when the level sets the key, else "".
  std::function<std::string(const FormatLevel&)> write;
  // Copies the key from `from` into `into` when `from` sets it.
  std::function<void(const FormatLevel& from, FormatLevel& into)> merge;
};

// The keys of a format level, in the order of the resolved config and of the docs.
const std::vector<LevelKey>& level_keys();

// The markdown table of docs/training.md's "Configuration keys": | key | default | meaning |.
std::string config_key_table();

}  // namespace bitsim::sim::train
