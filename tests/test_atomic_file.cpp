// Atomic file replacement (including an injected failure part-way) and append_line.
#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/io/utf8.hpp>
#include <stdexcept>
#include <string>
#include <vector>

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
    for (const std::string& name : entries()) ::unlink((path + "/" + name).c_str());
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

  // A target that is a directory: rename fails, the temporary file is removed.
  const std::string directory_target = scratch.path + "/sub";
  REQUIRE(::mkdir(directory_target.c_str(), 0700) == 0);
  CHECK_THROWS_WITH_AS(write_file_atomically(directory_target, std::string_view("x")),
                       doctest::Contains("cannot rename the temporary file over"), file_error);
  CHECK(scratch.entries().size() == 2);
  ::rmdir(directory_target.c_str());

  CHECK_THROWS_WITH_AS(write_file_atomically("/nonexistent-dir/x.json", std::string_view("x")),
                       doctest::Contains("\"/nonexistent-dir/x.json\" in \"/nonexistent-dir\""), file_error);
  CHECK_THROWS_AS(write_file_atomically("", std::string_view("x")), file_error);
  CHECK_THROWS_AS(write_file_atomically(scratch.path + "/", std::string_view("x")), file_error);
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
