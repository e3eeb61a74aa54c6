// Atomic file replacement (including an injected failure part-way) and append_line.
#include <dirent.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/io/utf8.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atomic_file_tests {

using namespace seqlm;

namespace {

// A fresh empty directory under /tmp, removed (with its files) at the end of the test.
struct ScratchDirectory {
  std::string path;
  ScratchDirectory() {
    char pattern[] = "/tmp/seqlm_atomic_XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~ScratchDirectory() {
    for (const std::string& name : entries()) {
      const std::string entry = path + "/" + name;
      if (::unlink(entry.c_str()) != 0) ::rmdir(entry.c_str());  // an (empty) test directory
    }
    ::rmdir(path.c_str());
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    DIR* directory = ::opendir(path.c_str());
    if (directory == nullptr) return names;
    while (const dirent* entry = ::readdir(directory)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(directory);
    return names;
  }
};

}  // namespace

TEST_CASE("write_file_atomically creates and replaces files") {
  ScratchDirectory scratch;
  const std::string path = scratch.path + "/model.json";
  write_file_atomically(path, std::string_view("first version"));
  CHECK(read_text_file(path) == "first version");
  write_file_atomically(path, [](FileSink& sink) {
    sink.write("second ");
    const std::string big(200000, 'x');  // larger than the sink's buffer
    sink.write(big.data(), big.size());
    CHECK(sink.bytes_written() == 7 + big.size());
  });
  CHECK(read_text_file(path).size() == 200007);
  write_file_atomically(path, std::string_view(""));
  CHECK(read_text_file(path).empty());
  CHECK(scratch.entries() == std::vector<std::string>{"model.json"});
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  CHECK((info.st_mode & 0777) == (0666 & ~mask));
}

TEST_CASE("a failure part-way leaves the old file intact and no temporary file") {
  ScratchDirectory scratch;
  const std::string path = scratch.path + "/vocab.json";
  write_file_atomically(path, std::string_view("old content"));
  try {
    write_file_atomically(path, [](FileSink& sink) {
      const std::string chunk(100000, 'n');
      sink.write(chunk);  // reaches the temporary file
      throw std::runtime_error("simulated crash");
    });
    FAIL("expected a file_error");
  } catch (const file_error& e) {
    const std::string message = e.what();
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find("simulated crash") != std::string::npos);
    CHECK(message.find("old file is unchanged") != std::string::npos);
    // The callback's own exception is nested inside.
    CHECK_THROWS_WITH_AS(std::rethrow_if_nested(e), "simulated crash", std::runtime_error);
  }
  CHECK(read_text_file(path) == "old content");
  CHECK(scratch.entries() == std::vector<std::string>{"vocab.json"});

  // A target that is a directory is refused before any temporary file is made.
  const std::string directory_target = scratch.path + "/sub";
  REQUIRE(::mkdir(directory_target.c_str(), 0700) == 0);
  CHECK_THROWS_WITH_AS(write_file_atomically(directory_target, std::string_view("x")),
                       doctest::Contains("is a directory, not a regular file"), file_error);
  CHECK(scratch.entries().size() == 2);
  ::rmdir(directory_target.c_str());

  CHECK_THROWS_WITH_AS(write_file_atomically("/nonexistent-dir/x.json", std::string_view("x")),
                       doctest::Contains("\"/nonexistent-dir/x.json\" in \"/nonexistent-dir\""), file_error);
  CHECK_THROWS_AS(write_file_atomically("", std::string_view("x")), file_error);
  CHECK_THROWS_AS(write_file_atomically(scratch.path + "/", std::string_view("x")), file_error);
}

namespace {

// The type bits of lstat(path) (0 when it does not exist).
mode_t kind_of(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 ? (info.st_mode & S_IFMT) : 0;
}

}  // namespace

TEST_CASE("write_file_atomically refuses targets that are not regular files") {
  ScratchDirectory scratch;
  // Before the fix each of these was replaced by a regular file (as root even a device node).
  std::vector<std::pair<std::string, mode_t>> targets;
  const std::string fifo = scratch.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  targets.emplace_back(fifo, S_IFIFO);
  const std::string device = scratch.path + "/null-device";
  if (::mknod(device.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {  // needs CAP_MKNOD
    targets.emplace_back(device, S_IFCHR);
  } else {
    MESSAGE("mknod not permitted here (", std::strerror(errno), "): the device case is skipped");
  }
  const std::string socket_path = scratch.path + "/socket";
  const int socket_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(socket_fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket_path.size() < sizeof(address.sun_path));
  std::strcpy(address.sun_path, socket_path.c_str());
  REQUIRE(::bind(socket_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  ::close(socket_fd);
  targets.emplace_back(socket_path, S_IFSOCK);
  const std::string directory = scratch.path + "/directory";
  REQUIRE(::mkdir(directory.c_str(), 0700) == 0);
  targets.emplace_back(directory, S_IFDIR);

  for (const auto& target : targets) {
    const std::string& path = target.first;  // not a structured binding: CAPTURE's lambda reads it
    const auto kind = target.second;
    CAPTURE(path);
    try {
      write_file_atomically(path, std::string_view("x"));
      FAIL("expected a file_error");
    } catch (const file_error& e) {
      const std::string message = e.what();
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find("not a regular file") != std::string::npos);
    }
    CHECK(kind_of(path) == kind);  // untouched
  }
  // A symbolic link to one of them is refused the same way, and stays a link.
  const std::string link_to_fifo = scratch.path + "/link-to-fifo";
  REQUIRE(::symlink("fifo", link_to_fifo.c_str()) == 0);
  CHECK_THROWS_WITH_AS(write_file_atomically(link_to_fifo, std::string_view("x")),
                       doctest::Contains("a FIFO, not a regular file"), file_error);
  CHECK(kind_of(link_to_fifo) == S_IFLNK);
  // So is a dangling link: there is no file to replace.
  const std::string dangling = scratch.path + "/dangling";
  REQUIRE(::symlink("missing/target.json", dangling.c_str()) == 0);
  CHECK_THROWS_WITH_AS(write_file_atomically(dangling, std::string_view("x")), doctest::Contains("dangling"),
                       file_error);
  CHECK(kind_of(dangling) == S_IFLNK);
  CHECK(kind_of(scratch.path + "/missing") == 0);
  // No temporary file was left behind.
  for (const std::string& name : scratch.entries()) CHECK(name.find(".tmp-") == std::string::npos);
  ::rmdir(directory.c_str());
}

TEST_CASE("write_file_atomically writes through a symbolic link, replacing its target atomically") {
  ScratchDirectory scratch;
  ScratchDirectory elsewhere;
  const std::string target = elsewhere.path + "/model.json";
  write_file_atomically(target, std::string_view("old"));
  // A relative link in another directory: "../seqlm_atomic_XXXXXX/model.json".
  const std::string link = scratch.path + "/model.json";
  const std::string relative = "../" + elsewhere.path.substr(elsewhere.path.rfind('/') + 1) + "/model.json";
  REQUIRE(::symlink(relative.c_str(), link.c_str()) == 0);
  write_file_atomically(link, std::string_view("new"));
  CHECK(kind_of(link) == S_IFLNK);  // still the link
  CHECK(read_text_file(target) == "new");
  CHECK(read_text_file(link) == "new");
  // The temporary file was made (and renamed) next to the target, not next to the link.
  CHECK(scratch.entries() == std::vector<std::string>{"model.json"});
  CHECK(elsewhere.entries() == std::vector<std::string>{"model.json"});
  // A chain of links resolves to the same file.
  const std::string second = scratch.path + "/second.json";
  REQUIRE(::symlink("model.json", second.c_str()) == 0);
  write_file_atomically(second, std::string_view("third"));
  CHECK(read_text_file(target) == "third");
  CHECK(kind_of(second) == S_IFLNK);
}

TEST_CASE("write_file_atomically removes stale temporary files of dead writers of the same target") {
  ScratchDirectory scratch;
  const std::string path = scratch.path + "/checkpoint.safetensors";
  // A pid that no longer exists: a child that has exited and been reaped.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  REQUIRE(::kill(child, 0) != 0);
  const std::string dead = std::to_string(child), alive = std::to_string(::getpid());
  const std::vector<std::string> stale = {".checkpoint.safetensors.tmp-" + dead + "-0",
                                          ".checkpoint.safetensors.tmp-" + dead + "-17"};
  const std::vector<std::string> kept = {
      ".checkpoint.safetensors.tmp-" + alive + "-99",  // this process: maybe another thread's write
      ".checkpoint.safetensors.tmp-1-0",               // pid 1 is alive
      ".other.json.tmp-" + dead + "-0",                // another target's
      ".checkpoint.safetensors.tmp-" + dead + "-x",    // not a name this code makes
      ".checkpoint.safetensors.tmp-0-0",               // pid 0 would mean "my process group"
      ".checkpoint.safetensors.tmp--" + dead + "-0",   // nor this
      "checkpoint.safetensors.tmp-" + dead + "-0"};    // nor this (no leading dot)
  for (const std::string& name : stale)
    write_file_atomically(scratch.path + "/" + name, std::string_view("partial"));
  for (const std::string& name : kept)
    write_file_atomically(scratch.path + "/" + name, std::string_view("partial"));
  write_file_atomically(path, std::string_view("complete"));
  CHECK(read_text_file(path) == "complete");
  for (const std::string& name : stale) CHECK(kind_of(scratch.path + "/" + name) == 0);
  for (const std::string& name : kept) CHECK(kind_of(scratch.path + "/" + name) == S_IFREG);
  CHECK(scratch.entries().size() == kept.size() + 1);
}

TEST_CASE("prepare_file_atomically writes the temporary file; commit replaces, dropping discards") {
  ScratchDirectory scratch;
  const std::string path = scratch.path + "/model.json";
  write_file_atomically(path, std::string_view("old"));
  {
    PendingFile pending = prepare_file_atomically(path, [](FileSink& sink) { sink.write("new"); });
    CHECK(pending.path() == path);
    CHECK(read_text_file(path) == "old");  // not yet
    CHECK(scratch.entries().size() == 2);  // the target and the temporary file
    PendingFile moved = std::move(pending);
    moved.commit();
    CHECK(read_text_file(path) == "new");
    CHECK(scratch.entries() == std::vector<std::string>{"model.json"});
    CHECK_THROWS_WITH_AS(moved.commit(), doctest::Contains("already committed"), file_error);
  }
  {
    PendingFile dropped = prepare_file_atomically(path, std::string_view("never"));
    CHECK(scratch.entries().size() == 2);
  }  // destroyed without commit(): the temporary file is removed, the target unchanged
  CHECK(read_text_file(path) == "new");
  CHECK(scratch.entries() == std::vector<std::string>{"model.json"});
  // Preparing refuses what write_file_atomically refuses, before writing anything.
  CHECK_THROWS_AS(prepare_file_atomically(scratch.path + "/missing-dir/x.json", std::string_view("x")),
                  file_error);
  CHECK(scratch.entries() == std::vector<std::string>{"model.json"});
}

TEST_CASE("write_file_atomically works with a relative path in the current directory") {
  const std::string path = "seqlm_test_atomic_relative.txt";
  write_file_atomically(path, std::string_view("relative"));
  CHECK(read_text_file(path) == "relative");
  ::unlink(path.c_str());
}

TEST_CASE("append_line appends whole lines and refuses embedded newlines") {
  ScratchDirectory scratch;
  const std::string path = scratch.path + "/log.txt";
  append_line(path, "bom dia");
  append_line(path, "boa noite");
  append_line(path, "");
  CHECK(read_text_file(path) == "bom dia\nboa noite\n\n");
  CHECK_THROWS_WITH_AS(append_line(path, "two\nlines"), doctest::Contains("newline at byte offset 3"),
                       value_error);
  CHECK_THROWS_AS(append_line(path, "cr\r"), value_error);
  CHECK(read_text_file(path) == "bom dia\nboa noite\n\n");
  CHECK_THROWS_WITH_AS(append_line(scratch.path + "/missing/log.txt", "x"), doctest::Contains("cannot open"),
                       file_error);
}

}  // namespace atomic_file_tests
