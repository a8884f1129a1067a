#pragma once
#include <string>
#include <vector>

namespace pyrerank {

// Names of the instruction sets this build and CPU can run, best first.
std::vector<std::string> runnable_isas();
// Forces one of runnable_isas() for every later call (tests compare each with the reference).
void use_isa(const std::string& name);

}  // namespace pyrerank
