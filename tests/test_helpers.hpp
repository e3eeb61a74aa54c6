// Small helpers shared by the test files.
#pragma once

#include <doctest/doctest.h>

#include <string>

namespace seqlm::testing {

// Checks that f() throws an E whose message contains `part`.
template <class E, class F>
void check_throws_with(F&& f, const std::string& part) {
  try {
    f();
    FAIL("expected an exception mentioning '", part, "'");
  } catch (const E& e) {
    INFO("message: ", e.what());
    CHECK(std::string(e.what()).find(part) != std::string::npos);
  }
}

}  // namespace seqlm::testing
