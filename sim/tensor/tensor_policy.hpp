// Quantizer policies of a tensor: how real values are mapped into its number format. Parsed from and
// printed back to strings in the style of docs/spec/formats.md; docs/tensor.md is the user contract.
//
//   FORMAT                                   element-wise: every element rounded to FORMAT
//   scaled(format=F,scale=pow2|real[,axis=N]) one scale per tensor (or per index of axis N);
//                                            element = round_F(x / s)
//   affine(bits=B[,signed=yes|no][,axis=N])  gemmlowp uniform affine: code q = z + round(x / s)
//   mx(element=F[,block=K])                  OCP MX block scaling along the last axis, E8M0 scales
//   mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1, mxint8   aliases of mx(...)
//
// Syntax as for formats: names and keys are case-sensitive, spaces are ignored, keys in any order;
// unknown, repeated or missing keys, bad values and formats a policy cannot use are PolicyError
// (a FormatError) whose message names the key. to_string() prints the canonical form (formats in
// their canonical constructor form, required keys first, then non-default optional keys, default
// values omitted), which parses back to an equal policy; name() keeps the aliases as written.
#pragma once

#include "formats/format.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::sim {

class PolicyError : public formats::FormatError {
 public:
  using formats::FormatError::FormatError;
};

enum class PolicyKind { elementwise, scaled, affine, mx };
// scaled: pow2 = 2^ceil(log2(amax / largest finite)), exact; real = amax / largest finite in double.
enum class ScaleRule { pow2, real };

class TensorPolicy {
 public:
  // Plain element-wise rounding to `format` (any format of formats/ with codes of at most 64 bits).
  TensorPolicy() : format_(formats::parse_format("fp32")) {}  // element-wise fp32
  static TensorPolicy elementwise(const formats::Format& format);
  // Scaled: `format` a float or fixed format whose values are all exact doubles; `axis` (0..3) gives
  // one scale per index of that axis, none gives one scale for the whole tensor.
  static TensorPolicy scaled(const formats::Format& format, ScaleRule rule, std::optional<int> axis = {});
  // Affine: bits 1..32; unsigned codes 0..2^B-1 (gemmlowp's default) or two's complement
  // -2^(B-1)..2^(B-1)-1.
  static TensorPolicy affine(int bits, bool is_signed = false, std::optional<int> axis = {});
  // MX: `element` a float or fixed format whose values are all exact doubles (its overflow setting is
  // replaced by saturation, as MX requires); block 1..65536 elements (OCP: 32).
  static TensorPolicy mx(const formats::Format& element, int block = 32);

  PolicyKind kind() const { return kind_; }
  // The format of the stored codes: the element format (for mx the saturating one), for affine the
  // integer format of the code q (fixed(i=B,f=0,signed=no) or fixed(i=B-1,f=0)).
  const formats::Format& format() const { return format_; }
  ScaleRule scale_rule() const { return rule_; }           // scaled
  std::optional<int> axis() const { return axis_; }        // scaled, affine
  int bits() const { return bits_; }                       // affine
  bool is_signed() const { return signed_; }               // affine
  std::int64_t qmin() const;                               // affine: smallest code value
  std::int64_t qmax() const;                               // affine: largest code value
  int block() const { return block_; }                     // mx
  // mx: floor(log2(largest finite element value)), the exponent of the element's largest normal
  // (E4M3 8, E5M2 15, E3M2 4, E2M3 2, E2M1 2, MXINT8's fixed(i=1,f=6) 0).
  int emax_elem() const { return emax_elem_; }
  // Whether values are stored with per-group scales (everything but elementwise).
  bool has_scales() const { return kind_ != PolicyKind::elementwise; }
  // Whether its groups are blocks of consecutive elements along the tensor's last axis (mx), rather
  // than the whole tensor or the indices of one axis.
  bool blocks_last_axis() const { return kind_ == PolicyKind::mx; }

  std::string to_string() const;  // canonical
  // As to_string(), but formats are printed by name (their alias when they have one) and an mx policy
  // parsed from an alias prints that alias: "mxfp8_e4m3", "scaled(format=int8,scale=pow2)".
  std::string name() const;

  // Equal policies quantize identically: aliases and spelling do not matter.
  bool operator==(const TensorPolicy& o) const;

 private:
  PolicyKind kind_ = PolicyKind::elementwise;
  formats::Format format_;
  ScaleRule rule_ = ScaleRule::pow2;
  std::optional<int> axis_;
  int bits_ = 0;
  bool signed_ = false;
  int block_ = 32;
  int emax_elem_ = 0;
  std::string alias_;         // mx: the alias it was parsed from ("mxfp8_e4m3"), or empty
  std::string element_name_;  // mx: the element format's name as given (before saturation)

  friend TensorPolicy parse_policy(std::string_view);
};

// The format with saturation on overflow (a float's or fixed format's `overflow` set to saturate; Graham's
// families saturate already, their cells clamp): MX elements, and the elements of the amax scaling
// recipes (sim/methods/scaling/), as hardware converts into them.
formats::Format saturating(const formats::Format& f);

// Parses a policy string (see the header comment). Throws PolicyError naming the offending key;
// a plain format name that is not a format throws the formats library's FormatError.
TensorPolicy parse_policy(std::string_view spec);

// The policy constructors ("scaled", "affine", "mx"), each declared once in tensor_policy.cpp with its
// arguments and their defaults.
std::vector<std::string> policy_constructor_names();
// Makes the policy of constructor `name` from its arguments as text (key -> value, as in
// "mx(element=fp8_e4m3,block=32)"): what parse_policy does after splitting a constructor, and what
// the config's table form { policy = "mx", format = "fp8_e4m3" } does with its keys (a key may be
// given by its table spelling: mx's `element` as `format`). Missing optional keys take their
// defaults (scaled: scale=pow2; affine: bits=8, signed=no; mx: block=32). Throws PolicyError whose
// site().key names the offending argument as given.
TensorPolicy policy_from_arguments(const std::string& name, std::map<std::string, std::string> arguments);
// How the config's table form spells argument `key` of constructor `name` ("format" for mx's
// "element"; else the key itself).
std::string policy_table_key(const std::string& name, const std::string& key);

// Splits the body of a constructor call "name(k=v,k=v)" at the commas outside parentheses (a value may
// itself be a format constructor such as float(e=4,m=3)); spaces already removed. Throws PolicyError
// for unbalanced parentheses, an argument without '=' or a value, or a repeated key.
std::map<std::string, std::string> split_constructor_arguments(const std::string& name, const std::string& body);

// Whether `spec` is spelled as a scaled, affine or MX policy (an MX alias, or one of those
// constructors) rather than as a plain format: the test parse_policy makes before parsing.
bool names_policy(std::string_view spec);

// The MX aliases with their constructor forms, in docs/tensor.md's order.
const std::vector<formats::AliasEntry>& policy_aliases();

}  // namespace bitsim::sim
