// poem_server: the poem tutorial's web site -- a page that shows a poem as it is written, one
// character at a time, streamed over a WebSocket -- as one small C++ process.
//
//   poem_server --model poems.safetensors                         http://127.0.0.1:8000/
//   poem_server --model epoch-115.keras --data poemas-10k-llama3.1.txt --port 8080
//   poem_server --model poems.safetensors --broadcast              everyone reads one stream
//
// The server (HTTP, the WebSocket protocol, pacing, batching, shutdown) is server.hpp, which
// `seqlm serve` runs as well; this program is it with the poems example's model as default.
#include "server.hpp"

int main(int argc, char** argv) {
  return poem_server::run_poem_server(
      argc, argv,
      {"poem_server", "serves a web page that streams poems from a character model", "poems.safetensors"});
}
