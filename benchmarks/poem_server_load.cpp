// Load benchmark of the poem server (examples/poem_server): how many WebSocket readers one
// single-threaded server process feeds, and how smoothly.
//
//   seqlm_poem_server_load --server build/release/examples/poem_server [options] -- SERVER_ARGS...
//   seqlm_poem_server_load --quick --server build/release/examples/poem_server -- --model /tmp/p.safetensors
//
// The program starts the server itself (fork/exec of --server with SERVER_ARGS plus --address,
// --port 0, --chars-per-second and --max-readers, which it sets), reads its stdout up to the
// line "listening on http://ADDR:PORT/" to learn the port (lines before it go to stderr), and
// stops it with SIGTERM at the end of each phase. Its readers are asynchronous Beast WebSocket
// clients of ws://ADDR:PORT/stream on one single-threaded io_context (no thread per
// connection), connected in bounded parallel batches (--connect-concurrency, 200) so that the
// server's listen backlog is not overrun.
//
// Phase "unpaced": the server streams as fast as it generates (--chars-per-second 0). --readers
// readers (1000) connect; when all are connected the clock starts and every reader reads as fast
// as it can for --seconds (30). Reported: the characters per second of all readers together, the
// gaps between a reader's text frames, the characters per frame, the server's resident memory
// before the readers and with them, and its CPU time.
//
// Phase "paced": the server streams --paced-cps characters per second to each reader (10, the
// tutorial's pace). The reader count ramps up (--paced-start, doubling, up to --max-paced; or
// --paced-steps 1000,3000,...): at each step the new readers connect, --settle-seconds pass, then
// the frame gaps are measured for --paced-seconds (10). The ramp stops at the first step whose
// p99 frame gap reaches --p99-limit-ms (150 ms), that loses or starves a reader, or that cannot
// connect; the result is the largest count that passed.
//
// Definitions (repeated in the JSON's "definitions"):
//   frame gap   the time between two consecutive "text" frames of one reader, both received in
//               the measuring window (a "poem" frame between them does not split the gap).
//               Percentiles pool the gaps of all readers.
//   char gap    a frame gap divided evenly over the characters of the later frame, counted once
//               per character (a frame of 4 characters 8 ms after the previous one: four 2 ms
//               char gaps). Characters are UTF-8 code points of the "text" field.
//   stall       per reader, the longest time without a text frame in the window, its edges
//               included (window start to first frame, last frame to window end).
//   CPU %       (utime + stime) of the server process (all its threads) from /proc/PID/stat over
//               the window, divided by the window's wall time: 100% is one core.
//   RSS         VmRSS of /proc/PID/status. Per reader: (RSS at the window's end - RSS before any
//               reader) / readers.
// Time stamps are taken when this program handles a frame; it runs on one thread, so its own
// CPU % is reported too: near 100% the client, not the server, is the bottleneck.
//
// Results: a summary on stdout, and with --json FILE one JSON object (written atomically) that
// also names the CPU (/proc/cpuinfo), the date, the git commit and the server's arguments.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <seqlm/error.hpp>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "machine_info.hpp"

namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using seqlm::bench::cpuinfo_field;
using seqlm::json::Value;

// The server did something this benchmark cannot measure: it did not start, printed an
// unexpected line, or refused every reader.
class server_error : public seqlm::error {
 public:
  using seqlm::error::error;
};

// 10, 0.5, 1e+06: the shortest form std::ostream gives.
std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// The time point `seconds` from now.
Clock::time_point seconds_from_now(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// ---------------------------------------------------------------------------------------------
// Command line

struct Arguments {
  std::string server;                    // --server PATH
  std::vector<std::string> server_args;  // after --
  std::string json_path;
  std::string server_log;  // the server's stderr goes here when set (else: ours)
  std::string address = "127.0.0.1";
  bool unpaced = true;
  bool paced = true;
  std::size_t readers = 1000;
  double seconds = 30.0;
  double paced_cps = 10.0;
  std::vector<std::size_t> paced_steps;  // empty: doubling from paced_start to max_paced
  std::size_t paced_start = 1000;
  std::size_t max_paced = 32000;
  double paced_seconds = 10.0;
  double p99_limit_ms = 150.0;
  double settle_seconds = 5.0;  // after a step's readers join, the server catches up for a while
  std::size_t connect_concurrency = 200;
  double connect_timeout = 120.0;
  double startup_timeout = 120.0;
  std::size_t readers_per_source = 20000;  // readers per loopback source address (ports)
  bool quick = false;
};

const char* const usage =
    "usage: seqlm_poem_server_load --server PATH [options] -- SERVER_ARGS...\n"
    "  --json FILE                  write the results as one JSON object\n"
    "  --quick                      50 readers for 3 s, one paced step of 50 (a smoke run)\n"
    "  --phases unpaced,paced       which phases to run (default both)\n"
    "  --address A                  the server's --address (127.0.0.1)\n"
    "  --readers N  --seconds S     unpaced readers and window (1000, 30)\n"
    "  --paced-cps X                the paced phase's --chars-per-second (10)\n"
    "  --paced-start N --max-paced M  ramp N, 2N, 4N, ... up to M readers (1000, 32000)\n"
    "  --paced-steps N1,N2,...      the ramp's reader counts instead (ascending)\n"
    "  --paced-seconds S            measuring window of each paced step (10)\n"
    "  --p99-limit-ms MS            a paced step passes with p99 frame gap below this (150)\n"
    "  --settle-seconds S           paced: wait after connecting, before measuring (5)\n"
    "  --connect-concurrency N      connections in flight at once (200)\n"
    "  --connect-timeout S          limit for connecting one batch of readers (120)\n"
    "  --startup-timeout S          limit for the server's \"listening on\" line (120)\n"
    "  --readers-per-source-address N  with a 127.x server, readers per source address (20000)\n"
    "  --server-log FILE            the server's stderr (default: this program's)\n"
    "The benchmark sets the server's --address, --port, --chars-per-second and --max-readers.\n";

std::size_t parse_count(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value <= 0) {
    throw seqlm::value_error(option + " needs a positive integer, got \"" + text + "\"");
  }
  return static_cast<std::size_t>(value);
}

double parse_seconds(const std::string& option, const std::string& text, bool zero_allowed) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0.0 ||
      (!zero_allowed && value == 0.0)) {
    throw seqlm::value_error(option + " needs a " + (zero_allowed ? "non-negative" : "positive") +
                             " number, got \"" + text + "\"");
  }
  return value;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, ',')) parts.push_back(part);
  return parts;
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  bool quick_overrides[3] = {false, false, false};  // --readers, --seconds, paced steps given
  int k = 1;
  for (; k < argc; ++k) {
    const std::string option = argv[k];
    if (option == "--") {
      ++k;
      break;
    }
    if (option == "--help" || option == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (option == "--quick") {
      a.quick = true;
      continue;
    }
    if (k + 1 >= argc) throw seqlm::value_error("unknown or incomplete option \"" + option + "\"\n" + usage);
    const std::string value = argv[++k];
    if (option == "--server") {
      a.server = value;
    } else if (option == "--json") {
      a.json_path = value;
    } else if (option == "--server-log") {
      a.server_log = value;
    } else if (option == "--address") {
      a.address = value;
    } else if (option == "--phases") {
      a.unpaced = a.paced = false;
      for (const std::string& phase : split_commas(value)) {
        if (phase == "unpaced") {
          a.unpaced = true;
        } else if (phase == "paced") {
          a.paced = true;
        } else {
          throw seqlm::value_error("--phases: unknown phase \"" + phase + "\" (expected unpaced, paced)");
        }
      }
    } else if (option == "--readers") {
      a.readers = parse_count(option, value);
      quick_overrides[0] = true;
    } else if (option == "--seconds") {
      a.seconds = parse_seconds(option, value, false);
      quick_overrides[1] = true;
    } else if (option == "--paced-cps") {
      a.paced_cps = parse_seconds(option, value, false);
    } else if (option == "--paced-start") {
      a.paced_start = parse_count(option, value);
      quick_overrides[2] = true;
    } else if (option == "--max-paced") {
      a.max_paced = parse_count(option, value);
      quick_overrides[2] = true;
    } else if (option == "--paced-steps") {
      a.paced_steps.clear();
      for (const std::string& step : split_commas(value)) a.paced_steps.push_back(parse_count(option, step));
      for (std::size_t s = 1; s < a.paced_steps.size(); ++s) {
        if (a.paced_steps[s] <= a.paced_steps[s - 1]) {
          throw seqlm::value_error("--paced-steps must be ascending, got \"" + value + "\"");
        }
      }
      quick_overrides[2] = true;
    } else if (option == "--paced-seconds") {
      a.paced_seconds = parse_seconds(option, value, false);
    } else if (option == "--p99-limit-ms") {
      a.p99_limit_ms = parse_seconds(option, value, false);
    } else if (option == "--settle-seconds") {
      a.settle_seconds = parse_seconds(option, value, true);
    } else if (option == "--connect-concurrency") {
      a.connect_concurrency = parse_count(option, value);
    } else if (option == "--connect-timeout") {
      a.connect_timeout = parse_seconds(option, value, false);
    } else if (option == "--startup-timeout") {
      a.startup_timeout = parse_seconds(option, value, false);
    } else if (option == "--readers-per-source-address") {
      a.readers_per_source = parse_count(option, value);
    } else {
      throw seqlm::value_error("unknown option \"" + option + "\"\n" + usage);
    }
  }
  for (; k < argc; ++k) a.server_args.emplace_back(argv[k]);
  if (a.server.empty()) throw seqlm::value_error(std::string("--server PATH is required\n") + usage);
  for (const std::string& arg : a.server_args) {
    for (const char* owned : {"--address", "--port", "--chars-per-second", "--max-readers"}) {
      if (arg == owned || arg.rfind(std::string(owned) + "=", 0) == 0) {
        throw seqlm::value_error("server argument \"" + arg + "\": the benchmark sets " + owned +
                                 " itself (use --address, --paced-cps here instead)");
      }
    }
  }
  if (a.quick) {
    if (!quick_overrides[0]) a.readers = 50;
    if (!quick_overrides[1]) a.seconds = 3.0;
    if (!quick_overrides[2]) a.paced_steps = {50};
    a.paced_seconds = std::min(a.paced_seconds, 3.0);
    a.settle_seconds = std::min(a.settle_seconds, 0.5);
  }
  if (a.paced_steps.empty()) {
    for (std::size_t n = a.paced_start; n < a.max_paced; n *= 2) a.paced_steps.push_back(n);
    a.paced_steps.push_back(a.max_paced);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// The machine and the server process, as /proc shows them

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The number of a "Key:   1234 kB" line of /proc/PID/status (-1 when the process is gone).
long long proc_status_number(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

// VmRSS in MiB.
double rss_mib(pid_t pid) { return static_cast<double>(proc_status_number(pid, "VmRSS")) / 1024.0; }

// utime + stime of the whole process (every thread), in seconds: fields 14 and 15 of
// /proc/PID/stat, counted after the ")" that ends the command name (which may hold spaces).
double cpu_seconds(pid_t pid) {
  const std::string stat = first_line_of("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) throw server_error("cannot read /proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(paren + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  std::string field;
  while (fields >> field) f.push_back(field);
  if (f.size() < 13) throw server_error("/proc/" + std::to_string(pid) + "/stat has too few fields");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / ticks;
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string utc_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// `git rev-parse HEAD` of the source tree this program was built from (empty if unavailable).
std::string git_commit() {
#ifdef SEQLM_BENCH_SOURCE_DIR
  const std::string command =
      std::string("git -C '") + SEQLM_BENCH_SOURCE_DIR + "' rev-parse HEAD 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  char buffer[64] = {};
  const bool got = std::fgets(buffer, sizeof buffer, pipe) != nullptr;
  pclose(pipe);
  std::string commit = got ? buffer : "";
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r')) commit.pop_back();
  return commit;
#else
  return {};
#endif
}

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (the server, forked later,
// inherits it) and returns the new limits.
rlimit raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw seqlm::error("getrlimit(RLIMIT_NOFILE) failed");
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit;
}

// ---------------------------------------------------------------------------------------------
// The server as a child process

class ServerProcess {
 public:
  // Starts PATH ARGS... with stdout on a pipe, waits up to `startup_timeout` seconds for its
  // line "listening on http://HOST:PORT/" and keeps draining its stdout afterwards (copied to
  // our stderr) so that it never blocks on a full pipe.
  ServerProcess(asio::io_context& io, const std::string& path, const std::vector<std::string>& args,
                const std::string& log_path, double startup_timeout)
      : output_(io) {
    int out_pipe[2];
    int exec_pipe[2];  // the child writes errno here when exec fails; closed on exec otherwise
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(exec_pipe, O_CLOEXEC) != 0) {
      throw seqlm::error(std::string("pipe2: ") + std::strerror(errno));
    }
    int log_fd = -1;
    if (!log_path.empty()) {
      log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log_fd < 0) throw seqlm::file_error("--server-log \"" + log_path + "\": " + std::strerror(errno));
    }
    std::vector<char*> argv;  // built before fork: the child only calls async-signal-safe functions
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw seqlm::error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the server ends with this program, even on a crash
      if (getppid() != parent) _exit(127);
      setpgid(0, 0);  // its own process group: the signals below reach whatever it starts too
      dup2(out_pipe[1], STDOUT_FILENO);
      if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
      execv(path.c_str(), argv.data());
      const int code = errno;
      [[maybe_unused]] const ssize_t written = write(exec_pipe[1], &code, sizeof code);
      _exit(127);
    }
    setpgid(pid_, pid_);  // as the child does: whichever runs first, the group exists before any kill()
    close(out_pipe[1]);
    close(exec_pipe[1]);
    if (log_fd >= 0) close(log_fd);
    int exec_errno = 0;
    const ssize_t got = read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    close(exec_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
      close(out_pipe[0]);
      reap();
      throw server_error("--server \"" + path + "\": cannot run it: " + std::strerror(exec_errno));
    }
    output_fd_ = out_pipe[0];
    try {
      port_ = read_listening_line(startup_timeout);
    } catch (...) {
      if (running()) {
        kill(-pid_, SIGKILL);
        reap();
      }
      close(output_fd_);
      throw;
    }
    output_.assign(output_fd_);
    output_fd_ = -1;
    drain_output();
  }

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  ~ServerProcess() {
    if (running()) {
      kill(-pid_, SIGKILL);
      reap();
    }
    if (output_fd_ >= 0) close(output_fd_);
    error_code ignored;
    output_.close(ignored);
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  bool running() const { return pid_ > 0 && !exited_; }

  // SIGTERM, then up to `timeout` seconds for the exit (running `io` meanwhile, so the readers
  // see their connections close), then SIGKILL. Returns how it ended: "exit status 0",
  // "killed by signal 11", "SIGKILL after 10 s".
  std::string stop(asio::io_context& io, double timeout) {
    if (!running()) return ending_;
    kill(-pid_, SIGTERM);
    const Clock::time_point deadline = seconds_from_now(timeout);
    while (Clock::now() < deadline) {
      if (try_reap()) return ending_;
      io.run_one_for(std::chrono::milliseconds(10));
    }
    kill(-pid_, SIGKILL);
    reap();
    ending_ = "SIGKILL after " + number_text(timeout) + " s without exiting on SIGTERM";
    return ending_;
  }

  // Fails with server_error when the server has exited (it crashed under load, say).
  void check_alive() {
    if (try_reap()) throw server_error("the server exited during the benchmark (" + ending_ + ")");
  }

 private:
  // Reads the server's stdout up to its line "listening on http://ADDRESS:PORT/" and returns
  // PORT. Lines before it (what the server says about its model) are copied to our stderr.
  int read_listening_line(double timeout) {
    const std::string prefix = "listening on http://";
    const Clock::time_point deadline = seconds_from_now(timeout);
    std::string text;  // read, not yet split into lines
    std::string seen;  // the lines before, for an error message
    for (;;) {
      for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n')) {
        const std::string line = text.substr(0, end);
        text.erase(0, end + 1);
        if (line.rfind(prefix, 0) != 0) {
          std::cerr << line << "\n";
          seen += line + "\n";
          continue;
        }
        std::cerr << text;  // anything after the line, as later output
        const std::size_t colon = line.rfind(':');
        char* rest = nullptr;
        const long port = colon > prefix.size() ? std::strtol(line.c_str() + colon + 1, &rest, 10) : 0;
        if (port <= 0 || port > 65535 || std::string(rest) != "/") {
          throw server_error("the server printed \"" + seqlm::utf8::printable(line) +
                             "\", expected \"listening on http://ADDRESS:PORT/\"");
        }
        return static_cast<int>(port);
      }
      const double left = seconds_between(Clock::now(), deadline);
      if (left <= 0) {
        throw server_error("the server printed no \"listening on\" line within " + number_text(timeout) +
                           " s (--startup-timeout); its output: \"" + seqlm::utf8::printable(seen + text) +
                           "\"");
      }
      pollfd fd{output_fd_, POLLIN, 0};
      const int ready = poll(&fd, 1, static_cast<int>(std::min(left, 1.0) * 1000) + 1);
      if (ready < 0 && errno != EINTR) throw seqlm::error(std::string("poll: ") + std::strerror(errno));
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t n = read(output_fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        reap();
        throw server_error("the server exited before it listened (" + ending_ + "); its output: \"" +
                           seqlm::utf8::printable(seen + text) + "\"");
      }
      text.append(buffer, static_cast<std::size_t>(n));
    }
  }

  void drain_output() {
    auto buffer = std::make_shared<std::array<char, 4096>>();
    output_.async_read_some(asio::buffer(*buffer), [this, buffer](error_code ec, std::size_t n) {
      if (ec) return;  // end of file, or closed by the destructor
      std::cerr.write(buffer->data(), static_cast<std::streamsize>(n));
      drain_output();
    });
  }

  bool try_reap() {
    if (!running()) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    describe(status);
    return true;
  }

  void reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    describe(status);
  }

  void describe(int status) {
    exited_ = true;
    if (WIFEXITED(status)) {
      ending_ = "exit status " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      ending_ =
          "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    }
  }

  asio::posix::stream_descriptor output_;
  int output_fd_ = -1;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  std::string ending_ = "not started";
};

// ---------------------------------------------------------------------------------------------
// Frames

enum class FrameType { text, poem, hello, temperature, error, other, malformed };

struct Frame {
  FrameType type = FrameType::other;
  std::size_t chars = 0;  // code points of a text frame
  Value json;             // the parsed frame (not for text frames on the fast path)
};

// The code points of a JSON string's raw contents (between its quotes, escapes undecoded), or
// nullopt when `raw` holds an unescaped quote (the string ends before the end of `raw`) or a cut
// escape. "\u00e9" is one code point, a surrogate pair "\ud83d\ude00" too.
std::optional<std::size_t> raw_json_string_length(std::string_view raw) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < raw.size();) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '"') return std::nullopt;
    if (c == '\\') {
      if (i + 1 >= raw.size()) return std::nullopt;
      if (raw[i + 1] != 'u') {
        i += 2;
      } else {
        if (i + 6 > raw.size()) return std::nullopt;
        const bool high_surrogate = (raw[i + 2] == 'd' || raw[i + 2] == 'D') &&
                                    std::string_view("89abAB").find(raw[i + 3]) != std::string_view::npos;
        i += 6;
        if (high_surrogate && i + 6 <= raw.size() && raw[i] == '\\' && raw[i + 1] == 'u') i += 6;
      }
      ++count;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++count;  // not a continuation byte: a code point starts here
    ++i;
  }
  return count;
}

// Classifies one server frame. Text frames in the server's own form {"type":"text","text":"..."}
// are counted without building a JSON value (the client handles every frame of thousands of
// readers on one thread; this count trusts the server's escapes and UTF-8); anything else is
// parsed and checked.
Frame classify(std::string_view payload) {
  constexpr std::string_view text_prefix = R"({"type":"text","text":")";
  Frame frame;
  if (payload.size() >= text_prefix.size() + 2 && payload.substr(0, text_prefix.size()) == text_prefix &&
      payload.substr(payload.size() - 2) == "\"}") {
    const auto chars =
        raw_json_string_length(payload.substr(text_prefix.size(), payload.size() - text_prefix.size() - 2));
    if (chars) {
      frame.type = FrameType::text;
      frame.chars = *chars;
      return frame;
    }
  }
  try {
    frame.json = seqlm::json::parse(payload);
    const std::string& type = frame.json.get_string("type");
    if (type == "text") {
      frame.type = FrameType::text;
      frame.chars = seqlm::utf8::length(frame.json.get_string("text"));
    } else if (type == "poem") {
      frame.type = FrameType::poem;
    } else if (type == "hello") {
      frame.type = FrameType::hello;
    } else if (type == "temperature") {
      frame.type = FrameType::temperature;
    } else if (type == "error") {
      frame.type = FrameType::error;
    }
  } catch (const seqlm::error&) {
    frame.type = FrameType::malformed;
  }
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Statistics

// Nearest-rank percentile of ascending values: the smallest value with at least q of the
// samples at or below it. Null when there are none.
Value percentile(const std::vector<float>& sorted, double q) {
  if (sorted.empty()) return Value();
  const std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1]);
}

// The same over (value, weight) pairs sorted by value: every value counts `weight` times.
Value weighted_percentile(const std::vector<std::pair<float, std::uint32_t>>& sorted, std::uint64_t total,
                          double q) {
  if (total == 0) return Value();
  const double target = std::max(1.0, std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (const auto& [value, weight] : sorted) {
    seen += weight;
    if (static_cast<double>(seen) >= target) return static_cast<double>(value);
  }
  return static_cast<double>(sorted.back().first);
}

// `value` rounded to `decimals` decimal places (for readable JSON: 0.009, not 0.009000000000000001).
double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

// ---------------------------------------------------------------------------------------------
// The readers

struct Reader {
  Reader(asio::io_context& io, std::size_t index) : ws(io), index(index) {}

  websocket::stream<tcp::socket> ws;
  boost::beast::flat_buffer buffer;
  std::size_t index;
  bool busy = false;  // an asynchronous operation is in flight (the Reader must outlive it)
  bool open = false;  // connected (the first frame came, not an error) and not closed since

  // The current window (cleared when it opens).
  std::vector<float> gaps_ms;            // between consecutive text frames
  std::vector<std::uint32_t> gap_chars;  // characters of the later frame of each gap
  Clock::time_point first{}, last{};     // first and last text frame
  std::uint64_t chars = 0;
  std::uint64_t frames = 0;
};

// What one window measured (see the definitions at the top of the file).
struct WindowResult {
  Value json = Value::object();
  double p99_frame_gap_ms = 0.0;
  std::size_t silent = 0;
  std::size_t lost = 0;
};

class Fleet {
 public:
  Fleet(asio::io_context& io, const std::string& address, int port, std::size_t concurrency,
        std::size_t readers_per_source)
      : io_(io),
        endpoint_(asio::ip::make_address(address), static_cast<unsigned short>(port)),
        host_(address + ":" + std::to_string(port)),
        concurrency_(concurrency),
        readers_per_source_(endpoint_.address().is_v4() && endpoint_.address().to_v4().to_bytes()[0] == 127
                                ? readers_per_source
                                : 0) {}

  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;
  ~Fleet() { close_all(); }

  std::size_t alive() const { return alive_; }
  std::size_t connect_failures() const { return connect_failures_; }
  const Value& hello() const { return hello_; }
  std::size_t malformed_frames() const { return malformed_; }
  const std::string& first_problem() const { return first_problem_; }

  // From now on closed connections are the end of the run, not lost readers (the readers keep
  // reading until the server closes them or close_all() does).
  void expect_closes() { closing_ = true; }

  // Connects `count` more readers, at most `concurrency` in flight, and waits until each has
  // received its first frame (the hello) or failed (or `timeout` seconds pass: the rest fail).
  // A reader whose first frame is an error frame (the server is full) failed.
  // Returns the seconds it took.
  double connect(std::size_t count, double timeout, ServerProcess& server) {
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = seconds_from_now(timeout);
    for (std::size_t k = 0; k < count; ++k)
      readers_.push_back(std::make_unique<Reader>(io_, readers_.size()));
    while (in_flight_ < concurrency_ && next_ < readers_.size()) launch(*readers_[next_++]);
    while ((in_flight_ > 0 || next_ < readers_.size()) && Clock::now() < deadline) {
      io_.run_one_until(deadline);
      server.check_alive();
    }
    if (in_flight_ > 0 || next_ < readers_.size()) {
      note_problem("connecting " + std::to_string(count) + " readers took longer than " +
                   number_text(timeout) + " s (--connect-timeout)");
      connect_failures_ += readers_.size() - next_;
      next_ = readers_.size();
      for (auto& reader : readers_) {
        if (reader->busy && !reader->open) {
          error_code ignored;
          reader->ws.next_layer().close(ignored);  // its handler then counts the failure
        }
      }
      while (in_flight_ > 0) io_.run_one_for(std::chrono::milliseconds(100));
    }
    return seconds_between(start, Clock::now());
  }

  // Runs the io_context for `seconds`, failing early if the server exits.
  void run_for(double seconds, ServerProcess& server) {
    const Clock::time_point deadline = seconds_from_now(seconds);
    while (Clock::now() < deadline) {
      io_.run_one_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(200)));
      server.check_alive();
    }
  }

  // Measures one window of `seconds` with every open reader: frame gaps, characters, the
  // server's CPU time and memory.
  WindowResult measure(double seconds, ServerProcess& server) {
    for (auto& reader : readers_) {
      reader->gaps_ms.clear();
      reader->gap_chars.clear();
      reader->chars = reader->frames = 0;
    }
    window_lost_ = window_errors_ = window_poems_ = 0;
    const std::size_t readers = alive_;
    const double rss_start = rss_mib(server.pid());
    const double server_cpu_start = cpu_seconds(server.pid());
    const double client_cpu_start = own_cpu_seconds();
    window_start_ = Clock::now();
    counting_ = true;
    run_for(seconds, server);
    counting_ = false;
    const Clock::time_point end = Clock::now();
    const double wall = seconds_between(window_start_, end);
    const double server_cpu = cpu_seconds(server.pid()) - server_cpu_start;
    const double client_cpu = own_cpu_seconds() - client_cpu_start;
    const double rss_end = rss_mib(server.pid());

    // Pool the gaps of all readers; per reader, its p99 frame gap and its longest stall.
    std::vector<float> gaps;
    std::vector<std::pair<float, std::uint32_t>> char_gaps;
    std::vector<float> frame_chars;
    std::vector<float> reader_p99;
    std::uint64_t chars = 0;
    std::uint64_t frames = 0;
    std::size_t silent = 0;
    double max_stall_ms = 0.0;
    for (const auto& reader : readers_) {
      chars += reader->chars;
      frames += reader->frames;
      if (!reader->open && reader->frames == 0) continue;  // closed before or during the window
      if (reader->frames == 0) {
        ++silent;
        max_stall_ms = std::max(max_stall_ms, 1000.0 * wall);
        continue;
      }
      double stall = 1000.0 * std::max(seconds_between(window_start_, reader->first),
                                       reader->open ? seconds_between(reader->last, end) : 0.0);
      for (std::size_t k = 0; k < reader->gaps_ms.size(); ++k) {
        const float gap = reader->gaps_ms[k];
        const std::uint32_t n = reader->gap_chars[k];
        gaps.push_back(gap);
        if (n > 0) char_gaps.emplace_back(gap / static_cast<float>(n), n);
        frame_chars.push_back(static_cast<float>(n));
        stall = std::max(stall, static_cast<double>(gap));
      }
      max_stall_ms = std::max(max_stall_ms, stall);
      if (!reader->gaps_ms.empty()) {
        std::vector<float> own = reader->gaps_ms;
        std::sort(own.begin(), own.end());
        reader_p99.push_back(percentile(own, 0.99).as_double());
      }
    }
    std::sort(gaps.begin(), gaps.end());
    std::sort(char_gaps.begin(), char_gaps.end());
    std::sort(frame_chars.begin(), frame_chars.end());
    std::sort(reader_p99.begin(), reader_p99.end());
    std::uint64_t char_gap_weight = 0;
    for (const auto& pair : char_gaps) char_gap_weight += pair.second;

    WindowResult result;
    result.silent = silent;
    result.lost = window_lost_;
    result.p99_frame_gap_ms = gaps.empty() ? INFINITY : percentile(gaps, 0.99).as_double();
    const auto ms = [](const Value& v) { return v.is_null() ? v : Value(round_to(v.as_double(), 3)); };
    result.json.set("readers", readers)
        .set("seconds", round_to(wall, 3))
        .set("chars", chars)
        .set("text_frames", frames)
        .set("chars_per_second", round_to(static_cast<double>(chars) / wall, 1))
        .set("chars_per_second_per_reader",
             readers > 0
                 ? Value(round_to(static_cast<double>(chars) / wall / static_cast<double>(readers), 3))
                 : Value())
        .set("frame_gap_ms", Value::object()
                                 .set("count", gaps.size())
                                 .set("p50", ms(percentile(gaps, 0.50)))
                                 .set("p90", ms(percentile(gaps, 0.90)))
                                 .set("p99", ms(percentile(gaps, 0.99)))
                                 .set("p999", ms(percentile(gaps, 0.999)))
                                 .set("max", ms(percentile(gaps, 1.0))))
        .set("char_gap_ms", Value::object()
                                .set("p50", ms(weighted_percentile(char_gaps, char_gap_weight, 0.50)))
                                .set("p99", ms(weighted_percentile(char_gaps, char_gap_weight, 0.99))))
        .set("chars_per_frame",
             Value::object()
                 .set("mean", frames > 0 ? Value(round_to(
                                               static_cast<double>(chars) / static_cast<double>(frames), 3))
                                         : Value())
                 .set("p50", percentile(frame_chars, 0.50))
                 .set("p99", percentile(frame_chars, 0.99))
                 .set("max", percentile(frame_chars, 1.0)))
        .set("reader_p99_frame_gap_ms", Value::object()
                                            .set("median", ms(percentile(reader_p99, 0.50)))
                                            .set("max", ms(percentile(reader_p99, 1.0))))
        .set("max_stall_ms", round_to(max_stall_ms, 3))
        .set("silent_readers", silent)
        .set("readers_lost", window_lost_)
        .set("error_frames", window_errors_)
        .set("poems_started", window_poems_)
        .set("server_cpu_seconds", round_to(server_cpu, 3))
        .set("server_cpu_percent", round_to(100.0 * server_cpu / wall, 1))
        .set("server_threads", proc_status_number(server.pid(), "Threads"))
        .set("server_rss_mib", Value::object()
                                   .set("window_start", round_to(rss_start, 2))
                                   .set("window_end", round_to(rss_end, 2)))
        .set("client_cpu_percent", round_to(100.0 * client_cpu / wall, 1));
    return result;
  }

  // Closes every connection and runs the handlers still in flight to completion, so that no
  // Reader is destroyed under an operation.
  void close_all() {
    closing_ = true;
    for (auto& reader : readers_) {
      error_code ignored;
      reader->ws.next_layer().close(ignored);  // its handler sees operation_aborted
    }
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
    while (busy_ > 0 && Clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    if (busy_ > 0) {
      std::cerr << "seqlm_poem_server_load: " << busy_
                << " readers did not finish; exiting without cleanup\n";
      std::_Exit(1);  // destroying them would free memory their operations still use
    }
    readers_.clear();
    next_ = 0;
    closing_ = false;
  }

 private:
  void launch(Reader& reader) {
    ++in_flight_;
    set_busy(reader, true);
    tcp::socket& socket = reader.ws.next_layer();
    error_code ec;
    socket.open(endpoint_.protocol(), ec);
    if (!ec && readers_per_source_ > 0) {
      // 127.0.0.1, 127.0.0.2, ...: each source address has its own ~28k ephemeral ports.
      const auto source = asio::ip::address_v4(
          static_cast<asio::ip::address_v4::uint_type>(0x7F000001u + reader.index / readers_per_source_));
      socket.bind(tcp::endpoint(source, 0), ec);
    }
    if (ec) {
      asio::post(io_, [this, &reader, ec] { connect_failed(reader, ec, "socket"); });
      return;
    }
    socket.async_connect(endpoint_, [this, &reader](error_code ec) {
      if (ec) return connect_failed(reader, ec, "connect");
      reader.ws.read_message_max(1 << 20);
      reader.ws.async_handshake(host_, "/stream", [this, &reader](error_code ec) {
        if (ec) return connect_failed(reader, ec, "WebSocket handshake");
        read(reader);  // connected once the first frame (the hello) arrives
      });
    });
  }

  void connected() {
    --in_flight_;
    if (next_ < readers_.size() && !closing_) launch(*readers_[next_++]);
  }

  void connect_failed(Reader& reader, error_code ec, const char* step) {
    if (!closing_) {
      ++connect_failures_;
      note_problem(std::string(step) + " failed: " + ec.message());
    }
    error_code ignored;
    reader.ws.next_layer().close(ignored);
    set_busy(reader, false);
    connected();
  }

  void read(Reader& reader) {
    reader.ws.async_read(reader.buffer,
                         [this, &reader](error_code ec, std::size_t) { on_frame(reader, ec); });
  }

  void on_frame(Reader& reader, error_code ec) {
    const Clock::time_point now = Clock::now();
    if (ec && !reader.open) {  // before the first frame: the connection failed
      connect_failed(reader, ec, "reading the first frame");
      return;
    }
    if (ec) {  // closed by the server, or by close_all()
      --alive_;
      if (reader.open && !closing_) {
        if (counting_) ++window_lost_;
        std::string why = ec.message();
        if (ec == websocket::error::closed)
          why += " (code " + std::to_string(reader.ws.reason().code) + " \"" +
                 std::string(reader.ws.reason().reason.c_str()) + "\")";
        note_problem("a reader lost its connection: " + why);
      }
      reader.open = false;
      error_code ignored;
      reader.ws.next_layer().close(ignored);
      set_busy(reader, false);
      return;
    }
    const std::string_view payload(static_cast<const char*>(reader.buffer.data().data()),
                                   reader.buffer.size());
    const Frame frame = classify(payload);
    if (!reader.open) {
      if (frame.type == FrameType::error) {  // refused (the server is full, say)
        ++connect_failures_;
        note_problem("the server refused a reader: " + frame.json.dump());
        error_code ignored;
        reader.ws.next_layer().close(ignored);
        set_busy(reader, false);
        connected();
        return;
      }
      reader.open = true;
      ++alive_;
      connected();
    }
    switch (frame.type) {
      case FrameType::text:
        if (counting_) {
          if (reader.frames == 0) {
            reader.first = now;
          } else {
            reader.gaps_ms.push_back(static_cast<float>(1000.0 * seconds_between(reader.last, now)));
            reader.gap_chars.push_back(
                static_cast<std::uint32_t>(std::min<std::size_t>(frame.chars, UINT32_MAX)));
          }
          reader.last = now;
          ++reader.frames;
          reader.chars += frame.chars;
        }
        break;
      case FrameType::poem:
        if (counting_) ++window_poems_;
        break;
      case FrameType::hello:
        if (hello_.is_null()) hello_ = frame.json;
        break;
      case FrameType::error:
        if (counting_) ++window_errors_;
        note_problem("the server sent an error frame: " + frame.json.dump());
        break;
      case FrameType::malformed:
        ++malformed_;
        note_problem("a frame that is not a JSON object with a string \"type\": \"" +
                     seqlm::utf8::printable(payload.substr(0, 200)) + "\"");
        break;
      case FrameType::temperature:
      case FrameType::other: break;
    }
    reader.buffer.consume(reader.buffer.size());
    read(reader);
  }

  void set_busy(Reader& reader, bool busy) {
    if (reader.busy != busy) busy ? ++busy_ : --busy_;
    reader.busy = busy;
  }

  void note_problem(const std::string& problem) {
    if (first_problem_.empty()) first_problem_ = problem;
  }

  asio::io_context& io_;
  tcp::endpoint endpoint_;
  std::string host_;
  std::size_t concurrency_;
  std::size_t readers_per_source_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::size_t next_ = 0;       // readers_[next_...] have not started connecting
  std::size_t in_flight_ = 0;  // connecting now
  std::size_t busy_ = 0;       // readers with an operation in flight
  std::size_t alive_ = 0;      // open connections
  std::size_t connect_failures_ = 0;
  std::size_t malformed_ = 0;
  bool closing_ = false;
  bool counting_ = false;
  Clock::time_point window_start_{};
  std::size_t window_lost_ = 0;
  std::size_t window_errors_ = 0;
  std::size_t window_poems_ = 0;
  Value hello_;
  std::string first_problem_;
};

// ---------------------------------------------------------------------------------------------
// The phases

// The server's command line: the user's arguments and the ones this benchmark owns.
std::vector<std::string> server_arguments(const Arguments& a, double chars_per_second,
                                          std::size_t max_readers) {
  std::vector<std::string> args = a.server_args;
  for (const std::string& arg : {std::string("--address"), a.address, std::string("--port"), std::string("0"),
                                 std::string("--chars-per-second"), number_text(chars_per_second),
                                 std::string("--max-readers"), std::to_string(max_readers)}) {
    args.push_back(arg);
  }
  return args;
}

Value string_array(const std::vector<std::string>& strings) {
  Value array = Value::array();
  for (const std::string& s : strings) array.push_back(s);
  return array;
}

void merge_into(Value& target, const Value& source) {
  for (const auto& [key, value] : source.as_object()) target.set(key, value);
}

std::string show(const Value& value) {
  if (value.is_null()) return "n/a";
  if (value.is_number()) return number_text(value.as_double());
  return value.dump();
}

// The variables that change how many threads the server runs (it inherits this environment).
Value environment() {
  Value variables = Value::object();
  for (const char* name : {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "GOMP_SPINCOUNT"}) {
    const char* value = std::getenv(name);
    variables.set(name, value != nullptr ? Value(value) : Value());
  }
  return variables;
}

// A server of more than one thread is not the single-threaded server the figures assume.
void warn_about_threads(const Value& window) {
  const Value* threads = window.find("server_threads");
  if (threads != nullptr && threads->is_number() && threads->as_int64() > 1) {
    std::cout << "  note: the server ran " << threads->as_int64()
              << " threads (OpenMP's, for one); OMP_NUM_THREADS=1 keeps it to one\n";
  }
}

void print_window(const Value& w) {
  const Value& gap = w.at("frame_gap_ms");
  std::cout << "  frame gap p50 " << show(gap.at("p50")) << " ms, p99 " << show(gap.at("p99")) << " ms, max "
            << show(gap.at("max")) << " ms; chars per frame mean " << show(w.at("chars_per_frame").at("mean"))
            << ", p99 " << show(w.at("chars_per_frame").at("p99")) << "; char gap p50 "
            << show(w.at("char_gap_ms").at("p50")) << " ms, p99 " << show(w.at("char_gap_ms").at("p99"))
            << " ms\n"
            << "  longest stall " << show(w.at("max_stall_ms")) << " ms, silent readers "
            << show(w.at("silent_readers")) << ", lost " << show(w.at("readers_lost")) << "; server CPU "
            << show(w.at("server_cpu_percent")) << "% of a core, client CPU "
            << show(w.at("client_cpu_percent")) << "%\n";
  if (w.at("client_cpu_percent").as_double() > 90.0) {
    std::cout << "  warning: this client used most of a core; the gaps may be its own, not the server's\n";
  }
}

// Phase 1: --readers readers of an unpaced server for --seconds.
Value run_unpaced(const Arguments& a, asio::io_context& io, std::size_t fd_capacity) {
  Value phase = Value::object();
  if (a.readers > fd_capacity) {
    throw seqlm::value_error("--readers " + std::to_string(a.readers) + " needs more file descriptors than " +
                             "RLIMIT_NOFILE allows (at most " + std::to_string(fd_capacity) + " readers)");
  }
  const std::vector<std::string> args = server_arguments(a, 0.0, a.readers + 16);
  phase.set("server_args", string_array(args)).set("readers_requested", a.readers);
  std::cout << "unpaced: starting the server, then " << a.readers << " readers for " << a.seconds << " s\n"
            << std::flush;
  ServerProcess server(io, a.server, args, a.server_log, a.startup_timeout);
  Fleet fleet(io, a.address, server.port(), a.connect_concurrency, a.readers_per_source);
  try {
    const double rss_before = rss_mib(server.pid());
    const double connect_seconds = fleet.connect(a.readers, a.connect_timeout, server);
    if (fleet.alive() == 0) throw server_error("no reader could connect: " + fleet.first_problem());
    const double rss_connected = rss_mib(server.pid());
    phase.set("hello", fleet.hello())
        .set("readers_connected", fleet.alive())
        .set("connect_failures", fleet.connect_failures())
        .set("connect_seconds", round_to(connect_seconds, 3));
    const WindowResult window = fleet.measure(a.seconds, server);
    merge_into(phase, window.json);
    const double rss_end = window.json.at("server_rss_mib").at("window_end").as_double();
    const double readers = window.json.at("readers").as_double();
    phase.set("server_rss_mib",
              Value::object()
                  .set("before_readers", round_to(rss_before, 2))
                  .set("all_connected", round_to(rss_connected, 2))
                  .set("window_end", round_to(rss_end, 2))
                  .set("per_reader_kib", round_to(1024.0 * (rss_end - rss_before) / readers, 2)));
  } catch (const seqlm::error& e) {
    phase.set("error", e.what());
  }
  phase.set("malformed_frames", fleet.malformed_frames()).set("first_problem", fleet.first_problem());
  fleet.expect_closes();
  phase.set("server_exit", server.stop(io, 10.0));

  std::cout << "unpaced: " << show(phase.find("readers_connected") ? phase.at("readers_connected") : Value())
            << " of " << a.readers << " readers connected in "
            << show(phase.find("connect_seconds") ? phase.at("connect_seconds") : Value()) << " s\n";
  if (phase.contains("chars_per_second")) {
    const Value& rss = phase.at("server_rss_mib");
    std::cout << "  " << show(phase.at("chars_per_second")) << " chars/s in total ("
              << show(phase.at("chars_per_second_per_reader")) << " per reader) over "
              << show(phase.at("seconds")) << " s\n";
    print_window(phase);
    warn_about_threads(phase);
    std::cout << "  server RSS " << show(rss.at("before_readers")) << " MiB before readers, "
              << show(rss.at("window_end")) << " MiB with them (" << show(rss.at("per_reader_kib"))
              << " KiB per reader)\n";
  }
  if (phase.contains("error")) std::cout << "  error: " << phase.at("error").as_string() << "\n";
  if (!fleet.first_problem().empty()) std::cout << "  first problem seen: " << fleet.first_problem() << "\n";
  std::cout << "  server ended with " << phase.at("server_exit").as_string() << "\n" << std::flush;
  return phase;
}

// Phase 2: a server paced at --paced-cps, the reader count ramped up until a step fails.
Value run_paced(const Arguments& a, asio::io_context& io, std::size_t fd_capacity) {
  Value phase = Value::object();
  std::vector<std::size_t> steps;
  std::string end_reason;
  for (const std::size_t n : a.paced_steps) {
    if (n <= fd_capacity) {
      steps.push_back(n);
      continue;
    }
    if (steps.empty() || steps.back() < fd_capacity) steps.push_back(fd_capacity);
    end_reason = "RLIMIT_NOFILE allows at most " + std::to_string(fd_capacity) + " readers";
    break;
  }
  const std::vector<std::string> args = server_arguments(a, a.paced_cps, steps.back() + 16);
  phase.set("server_args", string_array(args))
      .set("chars_per_second", a.paced_cps)
      .set("p99_limit_ms", a.p99_limit_ms)
      .set("window_seconds", a.paced_seconds)
      .set("settle_seconds", a.settle_seconds);
  std::cout << "paced at " << a.paced_cps << " chars/s: starting the server\n" << std::flush;
  ServerProcess server(io, a.server, args, a.server_log, a.startup_timeout);
  Fleet fleet(io, a.address, server.port(), a.connect_concurrency, a.readers_per_source);
  const double rss_before = rss_mib(server.pid());
  phase.set("server_rss_mib_before_readers", round_to(rss_before, 2));
  Value step_results = Value::array();
  std::size_t largest = 0;
  bool failed = false;
  for (const std::size_t n : steps) {
    Value step = Value::object().set("readers", n);
    std::string failure;
    try {
      const std::size_t failures_before = fleet.connect_failures();
      const double connect_seconds = fleet.connect(n - std::min(n, fleet.alive()), a.connect_timeout, server);
      step.set("connect_seconds", round_to(connect_seconds, 3))
          .set("connect_failures", fleet.connect_failures() - failures_before);
      fleet.run_for(a.settle_seconds, server);
      if (fleet.alive() < n) {
        failure = "only " + std::to_string(fleet.alive()) + " of " + std::to_string(n) +
                  " readers connected: " + fleet.first_problem();
      } else {
        const WindowResult window = fleet.measure(a.paced_seconds, server);
        merge_into(step, window.json);
        const double rss_end = window.json.at("server_rss_mib").at("window_end").as_double();
        step.set("server_rss_per_reader_kib",
                 round_to(1024.0 * (rss_end - rss_before) / static_cast<double>(n), 2));
        std::ostringstream why;
        if (!(window.p99_frame_gap_ms < a.p99_limit_ms)) {
          why << "p99 frame gap " << window.p99_frame_gap_ms << " ms >= " << a.p99_limit_ms << " ms";
        } else if (window.silent > 0) {
          why << window.silent << " readers received no text";
        } else if (window.lost > 0) {
          why << window.lost << " readers lost their connection: " << fleet.first_problem();
        }
        failure = why.str();
      }
    } catch (const server_error& e) {  // it exited (crashed) or could not be measured
      failure = e.what();
      phase.set("error", failure);
    }
    step.set("passed", failure.empty());
    if (!failure.empty()) step.set("failure", failure);
    std::cout << "  " << n << " readers:";
    if (step.contains("frame_gap_ms")) {
      std::cout << " frame gap p50 " << show(step.at("frame_gap_ms").at("p50")) << " ms, p99 "
                << show(step.at("frame_gap_ms").at("p99")) << " ms, server CPU "
                << show(step.at("server_cpu_percent")) << "%, RSS "
                << show(step.at("server_rss_mib").at("window_end")) << " MiB, client CPU "
                << show(step.at("client_cpu_percent")) << "%";
    }
    std::cout << (failure.empty() ? " -- passed" : " -- failed: " + failure) << "\n" << std::flush;
    warn_about_threads(step);
    step_results.push_back(step);
    if (!failure.empty()) {
      end_reason = "at " + std::to_string(n) + " readers: " + failure;
      failed = true;
      break;
    }
    largest = n;
  }
  if (!failed && end_reason.empty()) end_reason = "the last step passed";
  phase.set("steps", step_results)
      .set("largest_passing_readers", largest)
      .set("ramp_end", end_reason)
      .set("hello", fleet.hello())
      .set("malformed_frames", fleet.malformed_frames());
  fleet.expect_closes();
  phase.set("server_exit", server.stop(io, 10.0));
  std::cout << "paced: largest count with p99 frame gap below " << a.p99_limit_ms << " ms: " << largest
            << " readers (ramp ended: " << end_reason << "); server ended with "
            << phase.at("server_exit").as_string() << "\n"
            << std::flush;
  return phase;
}

Value definitions() {
  return Value::object()
      .set(
          "frame_gap_ms",
          "time between two consecutive text frames of one reader, both received in the window (a poem frame "
          "between them does not split the gap); percentiles pool all readers' gaps (nearest rank)")
      .set("char_gap_ms",
           "a frame gap divided evenly over the characters (UTF-8 code points of \"text\") of the later "
           "frame, "
           "counted once per character")
      .set("chars_per_frame", "code points per text frame, over the frames that end a gap")
      .set("reader_p99_frame_gap_ms",
           "each reader's own p99 frame gap: the median and the largest over readers")
      .set("max_stall_ms",
           "the longest time any reader went without a text frame in the window, window edges included")
      .set("server_cpu_percent",
           "utime+stime of the server (all threads, /proc/PID/stat) over window wall time; "
           "100 is one core")
      .set("server_rss_mib", "VmRSS of /proc/PID/status; per reader: (window end - before readers) / readers")
      .set("client_cpu_percent",
           "this program's own CPU (one thread); near 100 the client limits the figures")
      .set("unpaced_window", "starts when every reader has connected (no settling)")
      .set("paced_window", "starts settle_seconds after the step's readers have connected");
}

}  // namespace

int main(int argc, char** argv) try {
  const Arguments a = parse_arguments(argc, argv);
  const rlimit files = raise_file_limit();
  // One descriptor per reader here and in the server, plus a margin for everything else.
  const std::size_t fd_capacity = files.rlim_cur > 64 ? static_cast<std::size_t>(files.rlim_cur - 64) : 0;

  Value result = Value::object();
  result.set("benchmark", "seqlm_poem_server_load")
      .set("date", utc_date())
      .set("git_commit", git_commit())
      .set("cpu", Value::object()
                      .set("model_name", cpuinfo_field("model name"))
                      .set("cpu_family", cpuinfo_field("cpu family"))
                      .set("model", cpuinfo_field("model"))
                      .set("flags", cpuinfo_field("flags"))
                      .set("logical_cpus", sysconf(_SC_NPROCESSORS_ONLN)))
      .set("load_average_at_start", first_line_of("/proc/loadavg"))
      .set("rlimit_nofile", Value::object()
                                .set("soft", static_cast<std::uint64_t>(files.rlim_cur))
                                .set("hard", static_cast<std::uint64_t>(files.rlim_max)))
      .set("ip_local_port_range", first_line_of("/proc/sys/net/ipv4/ip_local_port_range"))
      .set("server", Value::object().set("path", a.server).set("args", string_array(a.server_args)))
      .set("client", Value::object()
                         .set("threads", 1)
                         .set("connect_concurrency", a.connect_concurrency)
                         .set("readers_per_source_address", a.readers_per_source))
      .set("environment", environment())
      .set("quick", a.quick)
      .set("definitions", definitions());

  asio::io_context io;
  auto work = asio::make_work_guard(io);  // the io_context waits out idle moments instead of stopping
  bool ok = true;
  if (a.unpaced) {
    const Value phase = run_unpaced(a, io, fd_capacity);
    ok = ok && !phase.contains("error");
    result.set("unpaced", phase);
  }
  if (a.paced) {
    const Value phase = run_paced(a, io, fd_capacity);
    ok = ok && !phase.contains("error");
    result.set("paced", phase);
  }
  if (!a.json_path.empty()) {
    seqlm::write_file_atomically(a.json_path, result.dump(2) + "\n");
    std::cout << "results: " << a.json_path << "\n";
  }
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "seqlm_poem_server_load: " << e.what() << "\n";
  return 1;
}
