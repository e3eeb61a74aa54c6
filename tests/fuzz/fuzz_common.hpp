// What every harness shares: property checks that abort (so libFuzzer records the input),
// the rule that only seqlm::error may escape a loader, and files without a disk.
//
// A harness is
//
//   extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
//     const std::string_view input = fuzz::bytes(data, size);
//     std::optional<json::Value> value = fuzz::refused_or([&] { return json::parse(input); });
//     if (!value) return 0;                       // refused with a seqlm::error: fine
//     fuzz::check(..., "what must hold");         // properties of what was accepted
//     return 0;
//   }
//
// refused_or() catches seqlm::error only: any other exception leaves the harness, reaches
// std::terminate, and libFuzzer reports the input as a crash. Once an input is accepted, the
// property checks must not throw at all (a round trip of a valid value that throws is a bug):
// fuzz::must() turns any exception there into a failure that names the step.
#pragma once

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <seqlm/error.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

// UndefinedBehaviorSanitizer: stop at the first error, with a stack trace. (Each harness is one
// translation unit, so this definition appears once per program.)
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace fuzz {

inline std::string_view bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property that must hold: prints `what` and aborts otherwise.
inline void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

// Runs `load`; std::nullopt when it refuses the input with a seqlm::error (the message is
// not checked here: the unit tests do that). Anything else it throws escapes.
template <class Load>
auto refused_or(Load&& load) -> std::optional<std::decay_t<decltype(load())>> {
  try {
    return load();
  } catch (const seqlm::error&) {
    return std::nullopt;
  }
}

// The same for a step that returns nothing: true when it ran, false when refused.
template <class Step>
bool accepted(Step&& step) {
  try {
    step();
    return true;
  } catch (const seqlm::error&) {
    return false;
  }
}

// Runs a step that must succeed on accepted input; any exception is a failure naming `what`.
template <class Step>
auto must(const char* what, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz property violated: %s threw: %s\n", what, e.what());
    std::abort();
  }
}

// A file in memory (memfd) that the loaders open by path (/proc/self/fd/N), so that a
// harness exercises the real file-reading code without touching a disk. One per harness
// process; set() replaces the contents.
class MemoryFile {
 public:
  MemoryFile() {
    fd_ = ::memfd_create("seqlm-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the contents and returns the path to open.
  const std::string& set(std::string_view contents) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < contents.size()) {
      const ssize_t n =
          ::pwrite(fd_, contents.data() + done, contents.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// A private directory for the steps that write files atomically: under $SEQLM_FUZZ_SCRATCH
// when set (scripts/fuzz.sh points it at a directory it removes afterwards), else /dev/shm
// (tmpfs: fsync is free). Removed, with what is left in it, when the process exits normally.
inline const std::string& scratch_directory() {
  static const std::string directory = [] {
    const char* parent = std::getenv("SEQLM_FUZZ_SCRATCH");
    std::string pattern =
        std::string(parent != nullptr && *parent != '\0' ? parent : "/dev/shm") + "/seqlm-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string made = pattern;
    std::atexit([] {
      // The directory is flat: the harnesses write plain files into it.
      if (DIR* listing = ::opendir(made.c_str())) {
        while (const dirent* entry = ::readdir(listing)) {
          const std::string name = entry->d_name;
          if (name != "." && name != "..") ::unlink((made + "/" + name).c_str());
        }
        ::closedir(listing);
      }
      ::rmdir(made.c_str());
    });
    return made;
  }();
  return directory;
}

}  // namespace fuzz
