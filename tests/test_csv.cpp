// CSV reader: quoting, doubled quotes, newlines in quotes, CRLF/LF/CR, blank lines, BOM,
// streaming across buffer boundaries and every malformed-input error.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/text/csv.hpp>
#include <string>
#include <vector>

namespace csv_tests {

using namespace seqlm;

namespace {

using Row = std::vector<std::string>;

// Writes `content` to a scratch file and returns every record of it.
std::vector<Row> read_all(const std::string& content, const std::string& path = "seqlm_test_csv.csv") {
  write_file_atomically(path, content);
  CsvReader reader(path);
  std::vector<Row> rows;
  Row row;
  while (reader.read_row(row)) rows.push_back(row);
  std::remove(path.c_str());
  return rows;
}

std::string read_error(const std::string& content) {
  try {
    read_all(content);
  } catch (const file_error& e) {
    std::remove("seqlm_test_csv.csv");
    return e.what();
  }
  return "";
}

std::string column_error(const std::string& content, const std::string& column) {
  const std::string path = "seqlm_test_csv_column.csv";
  write_file_atomically(path, content);
  std::string message;
  try {
    read_csv_column(path, column);
  } catch (const file_error& e) {
    message = e.what();
  }
  std::remove(path.c_str());
  return message;
}

}  // namespace

TEST_CASE("quoted fields keep commas, doubled quotes and newlines") {
  const auto rows = read_all("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n,,\n\"\",plain,\"ação\"\n");
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == Row{"a", "b", "c"});
  CHECK(rows[1] == Row{"x, y", "say \"hi\"", "two\nlines"});
  CHECK(rows[2] == Row{"", "", ""});
  CHECK(rows[3] == Row{"", "plain", "ação"});
}

TEST_CASE("line endings: LF, CRLF, lone CR, no final newline; blank lines skipped") {
  CHECK(read_all("a,b\r\n1,2\r\n") == std::vector<Row>{{"a", "b"}, {"1", "2"}});
  CHECK(read_all("a,b\r1,2") == std::vector<Row>{{"a", "b"}, {"1", "2"}});
  CHECK(read_all("a,b\n\n\r\n1,2\n\n") == std::vector<Row>{{"a", "b"}, {"1", "2"}});
  CHECK(read_all("\"q\"\r\n\"r\"") == std::vector<Row>{{"q"}, {"r"}});
  CHECK(read_all("x,\n") == std::vector<Row>{{"x", ""}});
  CHECK(read_all("\"in\r\nside\"\n") == std::vector<Row>{{"in\r\nside"}});
  CHECK(read_all("").empty());
  CHECK(read_all("\n\n").empty());
  CHECK(read_all("\xEF\xBB\xBFh1,h2\n") == std::vector<Row>{{"h1", "h2"}});  // BOM skipped
  CHECK(read_all("\xEF\xBB\xBF").empty());
}

TEST_CASE("records spanning the 64 KiB read buffer") {
  const std::string long_field(70000, 'x');
  std::string content;
  for (int k = 0; k < 3; ++k) content += "\"" + long_field + "\"\"\",short\r\n";
  const auto rows = read_all(content);
  REQUIRE(rows.size() == 3);
  for (const Row& row : rows) CHECK(row == Row{long_field + "\"", "short"});
  // A CRLF split across the buffer boundary still counts as one line break.
  std::string split(65535, 'a');
  split += "\r\nb\n";
  CHECK(read_all(split) == std::vector<Row>{{std::string(65535, 'a')}, {"b"}});
}

TEST_CASE("malformed input names the file and line") {
  CHECK(read_error("a,b\n1,\"open\n2,3\n") ==
        "CSV \"seqlm_test_csv.csv\" line 2: unterminated quoted field (the file ends inside it)");
  CHECK(read_error("a,b\nx,ab\"c\n").find("line 2: quote inside an unquoted field") != std::string::npos);
  CHECK(read_error("a\n\"multi\nline\"\n\"ab\"c\n")
            .find("line 4: unexpected character 'c' after the closing quote") != std::string::npos);
  CHECK(read_error("a\r\nb\r\n\"x\" \r\n").find("line 3: unexpected character ' '") != std::string::npos);
  CHECK_THROWS_WITH_AS(CsvReader("/nonexistent/a.csv"),
                       doctest::Contains("cannot open \"/nonexistent/a.csv\""), file_error);
}

TEST_CASE("read_csv_column picks a named column and checks every row") {
  const std::string path = "seqlm_test_csv_column.csv";
  write_file_atomically(
      path, "id,headline,words\n1,\"Virtual Coins, Real Resources\",4\n2,Unknown,1\n3,\"A\nB\",2\n");
  CHECK(read_csv_column(path, "headline") == Row{"Virtual Coins, Real Resources", "Unknown", "A\nB"});
  CHECK(read_csv_column(path, "id") == Row{"1", "2", "3"});
  // The line where each row starts, for messages about a value (row 3 spans lines 4-5).
  std::vector<std::size_t> lines;
  CHECK(read_csv_column(path, "words", &lines) == Row{"4", "1", "2"});
  CHECK(lines == std::vector<std::size_t>{2, 3, 4});
  std::remove(path.c_str());

  CHECK(column_error("id,headline\n1,a\n", "title") ==
        "CSV \"seqlm_test_csv_column.csv\": no column \"title\" (columns: id, headline)");
  CHECK(column_error("", "x").find("the file is empty") != std::string::npos);
  // A binary header is listed escaped: no control bytes reach a terminal, and a NUL does not
  // cut the message short.
  CHECK(column_error(std::string("\x01\x02"
                                 "bin\0ary,\x1b[31mred\n1,2\n",
                                 21),
                     "headline") ==
        "CSV \"seqlm_test_csv_column.csv\": no column \"headline\" (columns: \\x01\\x02bin\\x00ary, "
        "\\x1B[31mred)");
  CHECK(column_error("a,a\n1,2\n", "a").find("column \"a\" appears twice") != std::string::npos);
  CHECK(column_error("a,b\n1,2\n\"x\ny\",2,3\n", "a") ==
        "CSV \"seqlm_test_csv_column.csv\" line 3: row has 3 fields, the header has 2");
  CHECK(column_error("a,b\n1\n", "a").find("line 2: row has 1 fields") != std::string::npos);
}

}  // namespace csv_tests
