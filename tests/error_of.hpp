// The message of the exception a callable throws, for tests of error messages.
#pragma once

#include <catch2/catch.hpp>

#include <exception>
#include <string>

namespace bitsim::test {

// Calls f, which must throw an E; returns its message. Any other outcome fails the test case.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected another exception type; got: " << e.what());
  }
  FAIL("no exception");
  return {};
}

// The message of the exception f throws, or "" when it returns: for checking that two paths fail
// (or succeed) alike.
template <class F>
std::string outcome_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace bitsim::test
