// data/token_file.hpp: token ids in a file, read range by range.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <seqlm/seqlm.hpp>
#include <string>
#include <thread>
#include <vector>

namespace token_file_tests {

using namespace seqlm;

namespace {

// A file path under /tmp, removed when the test ends.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name)
      : path("/tmp/seqlm_token_file_" + std::to_string(::getpid()) + "_" + name) {}
  ~ScratchFile() { std::remove(path.c_str()); }
};

std::vector<TokenId> counting_ids(Index count, Index vocabulary) {
  std::vector<TokenId> ids(static_cast<size_t>(count));
  for (Index k = 0; k < count; ++k)
    ids[static_cast<size_t>(k)] = static_cast<TokenId>((k * 7 + 3) % vocabulary);
  return ids;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("a token file holds a 16-byte header and the ids, and reads back any range") {
  ScratchFile file("roundtrip");
  const std::vector<TokenId> ids = counting_ids(1000, 57);
  write_token_file(file.path, ids);
  CHECK(file_bytes(file.path).size() == 16 + 4 * ids.size());
  CHECK(file_bytes(file.path).substr(0, 8) == "SEQLMTOK");

  const TokenStream tokens = open_token_file(file.path, 57);
  CHECK(tokens.size() == 1000);
  CHECK(tokens.to_vector() == ids);
  std::vector<TokenId> range(10);
  tokens.read(990, 10, range.data());
  CHECK(range == std::vector<TokenId>(ids.end() - 10, ids.end()));
  CHECK(tokens.slice(100, 50).to_vector() == std::vector<TokenId>(ids.begin() + 100, ids.begin() + 150));
  CHECK_THROWS_AS(tokens.read(995, 10, range.data()), value_error);  // past the end: TokenStream's check
}

TEST_CASE("windows over a token file are the windows over the same ids in memory") {
  ScratchFile file("windows");
  const std::vector<TokenId> ids = counting_ids(5000, 60);
  write_token_file(file.path, ids);
  const WindowDataset from_file(open_token_file(file.path, 60), 60, 3,
                                WindowTargets::next_token_after_window);
  const WindowDataset in_memory(TokenStream(ids), 60, 3, WindowTargets::next_token_after_window);
  REQUIRE(from_file.size() == in_memory.size());
  const std::vector<Index> picked = {0, 17, from_file.size() - 1, 5, 900};
  Batch a, b;
  from_file.fill(picked, a);
  in_memory.fill(picked, b);
  CHECK(a.inputs == b.inputs);
  CHECK(a.targets == b.targets);
}

TEST_CASE("several threads read one token file at once") {
  ScratchFile file("threads");
  const std::vector<TokenId> ids = counting_ids(20000, 100);
  write_token_file(file.path, ids);
  const TokenStream tokens = open_token_file(file.path, 100);
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      std::vector<TokenId> window(61);
      for (Index start = r; start + 61 <= tokens.size(); start += 97) {
        tokens.read(start, 61, window.data());
        for (Index k = 0; k < 61; ++k)
          wrong[static_cast<size_t>(r)] +=
              window[static_cast<size_t>(k)] != ids[static_cast<size_t>(start + k)];
      }
    });
  }
  for (auto& reader : readers) reader.join();
  CHECK(wrong == std::vector<int>(4, 0));
}

TEST_CASE("an empty id list makes a valid token file of size zero") {
  ScratchFile file("empty");
  write_token_file(file.path, {});
  CHECK(open_token_file(file.path).size() == 0);
}

TEST_CASE("negative ids are refused before anything is written") {
  ScratchFile file("negative");
  CHECK_THROWS_WITH_AS(write_token_file(file.path, {1, 2, -3}), doctest::Contains("id -3 at position 2"),
                       value_error);
  CHECK(file_bytes(file.path).empty());
}

TEST_CASE("corrupt, truncated or foreign token files are file errors naming the file") {
  ScratchFile file("corrupt");
  write_token_file(file.path, counting_ids(100, 10));
  const std::string good = file_bytes(file.path);

  CHECK_THROWS_WITH_AS(open_token_file("/nonexistent/corpus.tok"),
                       doctest::Contains("cannot open \"/nonexistent/corpus.tok\""), file_error);

  write_bytes(file.path, "");
  CHECK_THROWS_WITH_AS(open_token_file(file.path), doctest::Contains("shorter than its 16-byte header"),
                       file_error);

  write_bytes(file.path, "NOTATOKENFILE!!!and some more bytes");
  CHECK_THROWS_WITH_AS(open_token_file(file.path), doctest::Contains("not a token file"), file_error);

  write_bytes(file.path, good.substr(0, good.size() - 2));  // truncated inside the last id
  CHECK_THROWS_WITH_AS(open_token_file(file.path),
                       doctest::Contains("the header says 100 ids (400 bytes) but 398"), file_error);

  std::string huge = good;  // a count whose byte size overflows
  for (size_t k = 8; k < 16; ++k) huge[k] = '\xff';
  write_bytes(file.path, huge);
  CHECK_THROWS_WITH_AS(open_token_file(file.path), doctest::Contains("the header says"), file_error);

  std::string bad_id = good;  // id 5 becomes 200
  bad_id[16 + 5 * 4] = '\xc8';
  write_bytes(file.path, bad_id);
  const TokenStream tokens = open_token_file(file.path, 10);
  std::vector<TokenId> window(10);
  CHECK_NOTHROW(tokens.read(6, 10, window.data()));
  CHECK_THROWS_WITH_AS(tokens.read(0, 10, window.data()),
                       doctest::Contains("id 200 at position 5 is outside the vocabulary [0, 10)"),
                       file_error);

  CHECK_THROWS_WITH_AS(open_token_file("/tmp"), doctest::Contains("token file"), file_error);
}

}  // namespace token_file_tests
