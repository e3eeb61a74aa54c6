// CSV (text/csv.hpp): CsvReader and read_csv_column on arbitrary bytes, read from a file.
//
// Properties of every accepted file:
//   * every record has at least one field and starts on a line no earlier than the last one;
//   * writing the records back with every field quoted and reading that gives the same
//     records (quoting, doubled quotes, embedded line breaks and commas survive);
//   * read_csv_column of the first header name gives exactly that column of the records when
//     every record has the header's field count and the name appears once, and is refused
//     otherwise.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <seqlm/text/csv.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

using Records = std::vector<std::vector<std::string>>;

Records read_all(const std::string& path) {
  CsvReader reader(path);
  Records records;
  std::vector<std::string> fields;
  std::size_t line = 0;
  while (reader.read_row(fields)) {
    fuzz::check(!fields.empty(), "a record has at least one field");
    fuzz::check(reader.row_line() >= 1 && reader.row_line() >= line, "records start on increasing lines");
    line = reader.row_line();
    records.push_back(fields);
  }
  return records;
}

// RFC 4180 with every field quoted.
std::string write_all(const Records& records) {
  std::string out;
  for (const auto& record : records) {
    for (std::size_t k = 0; k < record.size(); ++k) {
      if (k > 0) out += ',';
      out += '"';
      for (const char c : record[k]) out += c == '"' ? std::string("\"\"") : std::string(1, c);
      out += '"';
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file;
  const std::string& path = file.set(fuzz::bytes(data, size));
  const std::optional<Records> records = fuzz::refused_or([&] { return read_all(path); });
  if (!records) return 0;

  const std::string written = write_all(*records);
  const Records again =
      fuzz::must("reading the records written back", [&] { return read_all(file.set(written)); });
  fuzz::check(again == *records, "read(write(records)) == records");
  file.set(fuzz::bytes(data, size));

  if (records->empty()) {
    fuzz::check(!fuzz::accepted([&] { read_csv_column(path, "x"); }), "an empty file has no column");
    return 0;
  }
  const std::vector<std::string>& header = records->front();
  const std::string& name = header.front();
  bool consistent = std::count(header.begin(), header.end(), name) == 1;
  for (const auto& record : *records) consistent = consistent && record.size() == header.size();
  const std::optional<std::vector<std::string>> column =
      fuzz::refused_or([&] { return read_csv_column(path, name); });
  fuzz::check(column.has_value() == consistent, "read_csv_column accepts exactly the consistent files");
  if (column) {
    fuzz::check(column->size() + 1 == records->size(), "one value per data record");
    for (std::size_t k = 0; k < column->size(); ++k) {
      fuzz::check((*column)[k] == (*records)[k + 1][0], "the column's values are the first fields");
    }
  }
  return 0;
}
