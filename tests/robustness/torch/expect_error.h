// The assertion of the bad-input catalogue: a call must throw exactly the named dgr error class
// (not a base or sibling class, not a std::exception from a library, not a crash), and the
// message must name what the user has to look at (the file, the tensor, the key).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <initializer_list>
#include <string>
#include <typeinfo>

#include "core/util/error.h"

namespace dgr::robustness {

// Runs `call`; fails the test unless it throws a dgr::Error whose dynamic type is exactly
// `Expected` and whose message contains every one of `needles`. Returns the message.
template <class Expected, class Call>
std::string expect_error(Call&& call, std::initializer_list<std::string> needles) {
  std::string message;
  try {
    call();
    ADD_FAILURE() << "no error thrown; expected " << typeid(Expected).name();
    return message;
  } catch (const Error& e) {
    message = e.what();
    EXPECT_TRUE(typeid(e) == typeid(Expected))
        << "threw " << e.kind() << " (" << typeid(e).name() << "), expected "
        << typeid(Expected).name() << ": " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a std::exception that is not a dgr::Error (" << typeid(e).name()
                  << "): " << e.what();
    return message;
  }
  for (const std::string& needle : needles) {
    EXPECT_NE(message.find(needle), std::string::npos)
        << "the message does not contain \"" << needle << "\": " << message;
  }
  return message;
}

}  // namespace dgr::robustness
