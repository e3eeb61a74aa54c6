// seqlm serve: the poem site (examples/poem_server) for any character-level model -- a web page
// that shows the model's text as it is written, one character at a time, over a WebSocket.
//
//   seqlm serve lyrics.safetensors                    http://127.0.0.1:8000/
//   seqlm serve lyrics.safetensors --port 8080 --prompt "Verse 1" --chars-per-second 30
//
// The server is examples/poem_server/server.hpp, on Boost.Beast; a build configured without
// Boost has the command, and it says so.
#include <iostream>

#include "commands.hpp"

#ifdef SEQLM_TOOL_HAS_SERVER
#include <poem_server/server.hpp>

int seqlm_tool::serve_command(int argc, char** argv) {
  return poem_server::run_poem_server(
      argc, argv,
      {"seqlm serve", "Serve a web page that streams a character-level model's text as it is written.", ""});
}
#else
int seqlm_tool::serve_command(int, char**) {
  std::cerr << "seqlm serve: this build has no server: it was configured without Boost >= 1.74 (Beast, "
               "Asio; Debian: libboost-dev) or with SEQLM_BUILD_POEM_SERVER=OFF; install Boost and build "
               "seqlm again\n";
  return 1;
}
#endif
