// Every rounding policy a training role can take, declared once (rounding_policies.cpp): its config
// name, its arguments, the rounding modes it accepts and its default, and how it is made. The config's
// string form ("range(bits=8)", "mxfp8_e4m3", "fp8_e4m3") and table form
// ({ policy = "range", bits = 8, rounding = "sr" }), the resolved config, and the policy table of
// docs/training.md all come from here, so any policy can be given to any role.
//
// A plain format name ("fp8_e4m3", "fixed(i=3,f=4)") is not a constructor here: it is the element-wise
// policy of that format, with every rounding mode of the formats library.
#pragma once

#include "formats/rounding.hpp"
#include "sim/nn/role.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::sim::methods {

struct RoundingPolicyType {
  const char* name;   // the constructor's name in configs
  const char* usage;  // its text form, for messages and docs
  const char* doc;    // one line: what it does and where it comes from
  std::vector<formats::Rounding> modes;  // the rounding modes it accepts (empty: every mode)
  formats::Rounding default_mode;
  bool takes_sr_bits;  // whether sr's noise width is the config's sr_bits (else the policy's own)
  // Makes the policy from its arguments (key -> value as text; a config table's true/false as yes/no).
  // Throws sim::PolicyError naming the key, or formats::FormatError.
  nn::RoleRounding (*make)(const std::string& name, std::map<std::string, std::string> arguments, formats::RoundingSpec rounding);
};

const std::vector<RoundingPolicyType>& rounding_policy_types();
std::vector<std::string> rounding_policy_names();
// The type called `name`, or nullptr.
const RoundingPolicyType* rounding_policy_type(std::string_view name);
// The type a text form spells ("range(bits=8)" -> range, "mxfp8_e4m3" -> mx), or nullptr for a plain
// format name.
const RoundingPolicyType* rounding_policy_type_of(std::string_view text);
// The names of the rounding modes `type` accepts (every mode for nullptr, a plain format).
std::vector<std::string> rounding_mode_names(const RoundingPolicyType* type);

// The text form with `rounding`, or the type's default rounding (rne for a plain format). Throws
// sim::PolicyError or formats::FormatError with a message naming the constructor and key.
nn::RoleRounding parse_role_rounding(std::string_view text, std::optional<formats::RoundingSpec> rounding = {});
// Constructor `name` with its arguments (the table form). Throws as `make`, and PolicyError for an
// unknown name.
nn::RoleRounding role_rounding_from_arguments(const std::string& name, std::map<std::string, std::string> arguments,
                                             formats::RoundingSpec rounding);

// The table of docs/training.md ("Rounding policies"): one row per type.
std::string rounding_policy_table();

}  // namespace bitsim::sim::methods
