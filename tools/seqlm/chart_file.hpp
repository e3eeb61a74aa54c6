// Writing a chart (plot_svg.hpp's SVG) to a file: the SVG itself, or, for a path ending in
// ".png", its rendering by rsvg-convert (librsvg's converter; Debian: librsvg2-bin), run as a
// child process, so that seqlm links no image library. Either way the file appears whole or
// not at all (write_file_atomically); a converter that is missing or fails is a file_error in
// one line.
//
//   write_chart("loss.png", history_svg(history, options));
//   check_chart_path("loss.png", "--plot");   // before a long run: is the converter there?
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <seqlm/error.hpp>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/io/utf8.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace seqlm_tool {

inline bool is_png_path(const std::string& path) {
  if (path.size() < 4) return false;
  std::string suffix = path.substr(path.size() - 4);
  for (char& c : suffix) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return suffix == ".png";
}

namespace detail {

// An empty file in $TMPDIR (or /tmp), removed when this goes out of scope.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& suffix) {
    const char* directory = std::getenv("TMPDIR");
    std::string name = std::string(directory != nullptr && *directory != '\0' ? directory : "/tmp") +
                       "/seqlm-chart-XXXXXX" + suffix;
    const int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd < 0)
      throw seqlm::file_error("cannot create a temporary file \"" + name + "\": " + std::strerror(errno));
    ::close(fd);
    path_ = name;
  }
  ~TemporaryFile() { ::unlink(path_.c_str()); }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `arguments` (arguments[0] looked up in PATH) with stdout to /dev/null and stderr to
// `messages`; returns its wait status. ENOENT (the program is not installed) as a negative value.
inline int run_program(const std::vector<std::string>& arguments, const std::string& messages) {
  std::vector<char*> argv;
  std::vector<std::string> copies(arguments);
  for (std::string& argument : copies) argv.push_back(argument.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, messages.c_str(), O_WRONLY | O_TRUNC, 0);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned == ENOENT) return -1;
  if (spawned != 0) throw seqlm::file_error("cannot run " + arguments[0] + ": " + std::strerror(spawned));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw seqlm::file_error("waiting for " + arguments[0] + ": " + std::strerror(errno));
  }
  return status;
}

}  // namespace detail

// The PNG that rsvg-convert renders from `svg` (white background, the SVG's own size).
inline std::string svg_to_png(const std::string& svg) {
  detail::TemporaryFile svg_file(".svg"), png_file(".png"), messages(".txt");
  {
    std::ofstream out(svg_file.path(), std::ios::binary);
    out << svg;
    if (!out.flush()) throw seqlm::file_error("cannot write the temporary file \"" + svg_file.path() + "\"");
  }
  const int status = detail::run_program({"rsvg-convert", "--format=png", "--background-color=white",
                                          "--output=" + png_file.path(), svg_file.path()},
                                         messages.path());
  if (status < 0) {
    throw seqlm::file_error(
        "a PNG chart needs rsvg-convert (Debian: librsvg2-bin), which is not installed; write .svg instead");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string first_line = seqlm::read_text_file(messages.path(), 1 << 16);
    first_line = first_line.substr(0, first_line.find('\n'));
    throw seqlm::file_error("rsvg-convert could not render the chart" +
                            (first_line.empty() ? std::string() : ": " + seqlm::utf8::printable(first_line)));
  }
  std::string png = seqlm::read_text_file(png_file.path());
  if (png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) throw seqlm::file_error("rsvg-convert wrote no PNG");
  return png;
}

// Writes the chart to `path`: SVG, or PNG for a path ending in ".png" (any case).
inline void write_chart(const std::string& path, const std::string& svg) {
  seqlm::write_file_atomically(path, is_png_path(path) ? svg_to_png(svg) : svg);
}

// For a ".png" path, renders a tiny SVG once, so that a missing or broken converter is found
// before a long run rather than after its first epoch; the file_error starts with `what`.
inline void check_chart_path(const std::string& path, const std::string& what) {
  if (!is_png_path(path)) return;
  try {
    (void)svg_to_png("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2\" height=\"2\"></svg>\n");
  } catch (const seqlm::file_error& e) {
    throw seqlm::file_error(what + ": " + e.what());
  }
}

}  // namespace seqlm_tool
