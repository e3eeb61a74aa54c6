/// \file
/// A small, strict RFC 4180 CSV reader (enough for the NYT article files).
///
///   * fields are separated by ',' and records end with LF, CRLF or a lone CR;
///   * a field may be quoted: "a, b" keeps the comma, "say ""hi""" holds a doubled quote, and a
///     quoted field may span several lines;
///   * blank lines are skipped (like Python's csv.DictReader); a UTF-8 byte order mark at the
///     start of the file is skipped;
///   * bytes are passed through unchanged (no decoding); the tokenizers validate UTF-8 later.
///
/// Malformed input is a file_error naming the path and the line:
///   * a quote inside an unquoted field (ab"c), text after a closing quote ("ab"c),
///   * a quoted field still open at the end of the file,
///   * (read_csv_column) a missing column or a row whose field count differs from the header.
///
/// CsvReader streams one record at a time in 64 KiB chunks, so files larger than memory can
/// be read; read_csv_column() reads one named column of a file with a header row. One record
/// is held in memory, so it is bounded: a field longer than CsvReader::max_field_bytes (1 MiB)
/// or a record of more than CsvReader::max_fields fields (65536) is a file_error with its line
/// (an unterminated quote would otherwise read the rest of the file into one field).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../io/posix_file.hpp"
#include "../io/utf8.hpp"

namespace seqlm {

class CsvReader {
 public:
  static constexpr std::size_t max_field_bytes = std::size_t{1} << 20;
  static constexpr std::size_t max_fields = std::size_t{1} << 16;

  /// Opens `path` (file_error naming it and the system's reason on failure).
  explicit CsvReader(std::string path) : file_(std::move(path), "CSV") { buffer_.resize(1 << 16); }
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  /// Reads the next record into `fields` (replacing its contents). Returns false at the end
  /// of the file. file_error with the line number on malformed input.
  bool read_row(std::vector<std::string>& fields) {
    fields.clear();
    enum class State { field_start, unquoted, quoted, after_quote };
    State state = State::field_start;
    std::string field;
    std::size_t quote_line = 0;  // where the open quoted field started
    bool record_started = false;
    auto append = [&](char c) {
      if (field.size() == max_field_bytes) {
        fail(row_line_,
             detail::make_message("a field is longer than the limit of ", max_field_bytes, " bytes"));
      }
      field += c;
    };
    auto end_field = [&] {
      if (fields.size() == max_fields) {
        fail(row_line_, detail::make_message("the record has more fields than the limit of ", max_fields));
      }
      fields.push_back(std::move(field));
      field.clear();
    };
    while (true) {
      int next = get();
      if (next < 0) {  // end of file
        if (state == State::quoted) {
          fail(quote_line, "unterminated quoted field (the file ends inside it)");
        }
        if (!record_started) return false;
        end_field();
        return true;
      }
      const char c = static_cast<char>(next);
      if (!record_started && (c == '\n' || c == '\r')) {  // blank line
        end_line(c);
        continue;
      }
      if (!record_started) {
        record_started = true;
        row_line_ = line_;
      }
      switch (state) {
        case State::field_start:
          if (c == '"') {
            state = State::quoted;
            quote_line = line_;
            break;
          }
          state = State::unquoted;
          [[fallthrough]];
        case State::unquoted:
          if (c == ',') {
            end_field();
            state = State::field_start;
          } else if (c == '\n' || c == '\r') {
            end_line(c);
            end_field();
            return true;
          } else if (c == '"') {
            fail(line_, "quote inside an unquoted field (a field with quotes must be quoted as a whole)");
          } else {
            append(c);
          }
          break;
        case State::quoted:
          if (c == '"') {
            state = State::after_quote;
          } else {
            if (c == '\n' || (c == '\r' && peek() != '\n')) ++line_;
            append(c);
          }
          break;
        case State::after_quote:
          if (c == '"') {  // doubled quote
            append('"');
            state = State::quoted;
          } else if (c == ',') {
            end_field();
            state = State::field_start;
          } else if (c == '\n' || c == '\r') {
            end_line(c);
            end_field();
            return true;
          } else {
            fail(line_, std::string("unexpected character '") + c + "' after the closing quote of a field");
          }
          break;
      }
    }
  }

  /// The line (1-based) on which the record returned last by read_row() starts.
  std::size_t row_line() const { return row_line_; }
  const std::string& path() const { return file_.path(); }

 private:
  // Next byte, or -1 at the end of the file. Skips a UTF-8 BOM at the very start.
  int get() {
    if (position_ == size_ && !refill()) return -1;
    if (at_file_start_) {
      at_file_start_ = false;
      if (size_ >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0) position_ = 3;
      if (position_ == size_) return get();
    }
    return static_cast<unsigned char>(buffer_[position_++]);
  }

  int peek() {
    if (position_ == size_ && !refill()) return -1;
    return static_cast<unsigned char>(buffer_[position_]);
  }

  bool refill() {
    position_ = 0;
    size_ = file_.read_some(buffer_.data(), buffer_.size());
    return size_ > 0;
  }

  // Consumes a line break that starts with c ('\n', or '\r' possibly followed by '\n').
  void end_line(char c) {
    if (c == '\r' && peek() == '\n') ++position_;
    ++line_;
  }

  [[noreturn]] void fail(std::size_t line, const std::string& what) const {
    throw file_error(detail::make_message("CSV \"", file_.path(), "\" line ", line, ": ", what));
  }

  detail::ReadOnlyFile file_;
  std::vector<char> buffer_;
  std::size_t position_ = 0, size_ = 0;
  bool at_file_start_ = true;
  std::size_t line_ = 1;      // current physical line
  std::size_t row_line_ = 0;  // line where the last record started
};

/// The values of column `column_name` in every data row of a CSV file whose first record is a
/// header. file_error naming the path when the file is empty, the column is missing (the
/// message lists the columns, escaped by utf8::printable) or appears twice, or a row has a
/// different number of fields than the header (with its line number). When `row_lines` is
/// given it receives, for each value, the line of the file where its row starts (1 = the
/// header), for messages about it.
inline std::vector<std::string> read_csv_column(const std::string& path, std::string_view column_name,
                                                std::vector<std::size_t>* row_lines = nullptr) {
  if (row_lines != nullptr) row_lines->clear();
  CsvReader reader(path);
  std::vector<std::string> header;
  if (!reader.read_row(header)) throw file_error("CSV \"" + path + "\": the file is empty (no header row)");
  std::size_t column = header.size();
  std::string available;
  for (std::size_t k = 0; k < header.size(); ++k) {
    if (header[k] == column_name) {
      if (column != header.size()) {
        throw file_error(
            detail::make_message("CSV \"", path, "\": column \"", column_name, "\" appears twice"));
      }
      column = k;
    }
    available += (k > 0 ? ", " : "") + utf8::printable(header[k]);  // a binary header stays one line
  }
  if (column == header.size()) {
    throw file_error(detail::make_message("CSV \"", path, "\": no column \"", column_name,
                                          "\" (columns: ", available, ")"));
  }
  std::vector<std::string> values;
  std::vector<std::string> row;
  while (reader.read_row(row)) {
    if (row.size() != header.size()) {
      throw file_error(detail::make_message("CSV \"", path, "\" line ", reader.row_line(), ": row has ",
                                            row.size(), " fields, the header has ", header.size()));
    }
    values.push_back(std::move(row[column]));
    if (row_lines != nullptr) row_lines->push_back(reader.row_line());
  }
  return values;
}

}  // namespace seqlm
