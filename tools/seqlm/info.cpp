// PLACEHOLDER until the command is written: replaced before this branch is merged.
#include <iostream>

#include "commands.hpp"

int seqlm_tool::info_command(int, char**) {
  std::cerr << "seqlm info: not built yet\n";
  return 2;
}
