// The poem site: a web page that shows a text as it is written, one character at a time,
// streamed over a WebSocket, served by one small C++ process. Two programs run it with
// run_poem_server() (at the end of this file): examples/poem_server (poem_server.cpp) and
// `seqlm serve` (tools/seqlm/serve.cpp).
//
//   poem_server --model poems.safetensors                         http://127.0.0.1:8000/
//   poem_server --model epoch-115.keras --data poemas-10k-llama3.1.txt --port 8080
//   poem_server --model poems.safetensors --broadcast              everyone reads one stream
//   seqlm serve lyrics.safetensors --port 8080                     any character-level model
//
// The models it serves: a model file with a character tokenizer (`seqlm train`, `poems train`;
// word-level models are refused) or the tutorial's Keras file with --data. A poem begins with
// --prompt, else the model's stored seed text (poems), else a newline.
//
// The tutorial's server re-runs its GRUs over the last 60 characters for every character it
// sends. Here each reader's stream keeps its recurrent state, so a character costs one step,
// and all readers due a character in a tick are stepped together (poem_streams.hpp), so one
// core serves many readers (docs/examples.md has the load figures).
//
// HTTP (Boost.Beast over Boost.Asio, one thread, everything asynchronous):
//   GET /          the page (page/index.html, compiled in: works offline, no build step)
//   GET /stream    WebSocket upgrade: the reader's stream (protocol below)
//   GET /healthz   "ok"
//   GET /metrics   Prometheus text format: readers, characters, generation time per character
//
// WebSocket protocol: text frames, one JSON object each.
//   server -> page  {"type":"hello","model":NAME,"temperature":T,"chars_per_second":C,"broadcast":B}
//                   {"type":"poem","prompt":TEXT}          a poem starts; TEXT is its beginning
//                   {"type":"text","text":TEXT}            the next characters (one or more)
//                   {"type":"temperature","temperature":T} a change took effect
//                   {"type":"error","message":TEXT}        a request was refused (the stream goes on)
//   page -> server  {"type":"temperature","temperature":T}     0 < T <= 100
//                   {"type":"new_poem","prompt":TEXT}          prompt optional; its characters
//                                                              must be in the model's vocabulary
// A message that is not JSON, of an unknown type, or larger than 4 KiB gets an "error" reply; a
// frame that breaks the WebSocket protocol, or a message over 64 KiB, closes the connection.
//
// A real server's behaviour:
//   * pacing: --chars-per-second (10, the tutorial's 0.1 s per character; 0 = as fast as the
//     reader takes them);
//   * a slow reader never holds up the others: at most --send-queue bytes wait for each reader
//     (its stream pauses while they do), and a reader whose write has not completed for
//     --send-timeout seconds, or that answers no ping for 30 s, is dropped;
//   * --max-readers: the reader beyond it gets an "error" message and a "try again later"
//     close (1013);
//   * --max-batch: at most this many readers are stepped in one batch (1: each alone, for
//     comparison);
//   * SIGINT/SIGTERM: stop accepting, close every WebSocket with "going away" (1001), exit 0.
//
// Why Boost.Beast: it is the HTTP and WebSocket implementation of Boost, packaged by Debian
// (libboost-dev, headers only), it does the framing, masking, fragmentation, ping/pong and
// close handshake by the RFCs, and it runs on Asio's event loop, so thousands of connections
// need one thread and no callbacks from foreign threads.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <seqlm/files/model_file.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/parallel.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "../common/cli.hpp"
#include "../common/keras_files.hpp"
#include "../common/model_metadata.hpp"
#include "poem_page.hpp"  // generated from page/index.html: const char* poem_page_html
#include "poem_streams.hpp"

namespace poem_server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- settings and metrics -------------------------------------------------------------------------

struct Settings {
  std::string program = "poem_server";  // names the program in what it prints
  std::string model_name;               // shown on the page
  double chars_per_second = 10;         // 0 = unpaced
  double temperature = 0.6;
  std::size_t max_readers = 100;
  bool broadcast = false;
  std::uint64_t seed = 0;
  std::size_t send_queue_bytes = 4096;
  std::chrono::milliseconds send_timeout{10000};
  std::size_t max_batch = 1024;  // readers stepped together, at most
};

inline constexpr std::size_t max_request_bytes = 4096;     // larger: an "error" reply
inline constexpr std::size_t max_frame_bytes = 64 * 1024;  // larger: the connection is closed (1009)

// Counters for /metrics. The histogram is of the time the batched step took per character.
struct Metrics {
  std::uint64_t readers_total = 0, readers_refused = 0, readers_dropped = 0;
  std::uint64_t characters_sent = 0, frames_sent = 0, bad_requests = 0, ticks = 0;
  double generation_seconds = 0;  // sum over characters
  std::uint64_t characters_generated = 0;
  static constexpr double bucket_bounds[] = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3};
  std::uint64_t buckets[std::size(bucket_bounds)] = {};

  // `characters` characters took `seconds` in one batched step.
  void observe_generation(double seconds, std::size_t characters) {
    const double each = seconds / static_cast<double>(characters);
    generation_seconds += seconds;
    characters_generated += characters;
    for (std::size_t k = 0; k < std::size(bucket_bounds); ++k) {
      if (each <= bucket_bounds[k]) buckets[k] += characters;
    }
  }

  std::string prometheus(std::size_t readers_connected) const {
    std::ostringstream out;
    out.precision(9);
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
          << name << ' ' << value << '\n';
    };
    metric("poem_readers_connected", "gauge", "Readers connected now.", readers_connected);
    metric("poem_readers_total", "counter", "Readers accepted since start.", readers_total);
    metric("poem_readers_refused_total", "counter", "Readers refused because the server was full.",
           readers_refused);
    metric("poem_readers_dropped_total", "counter", "Readers dropped for not reading in time.",
           readers_dropped);
    metric("poem_characters_sent_total", "counter", "Characters sent to readers.", characters_sent);
    metric("poem_frames_sent_total", "counter", "WebSocket frames sent to readers.", frames_sent);
    metric("poem_bad_requests_total", "counter", "Reader messages answered with an error.", bad_requests);
    metric("poem_generation_ticks_total", "counter", "Batched generation steps.", ticks);
    out << "# HELP poem_character_generation_seconds Time of the batched step per character generated.\n"
        << "# TYPE poem_character_generation_seconds histogram\n";
    for (std::size_t k = 0; k < std::size(bucket_bounds); ++k) {
      out << "poem_character_generation_seconds_bucket{le=\"" << bucket_bounds[k] << "\"} " << buckets[k]
          << '\n';
    }
    out << "poem_character_generation_seconds_bucket{le=\"+Inf\"} " << characters_generated << '\n'
        << "poem_character_generation_seconds_sum " << generation_seconds << '\n'
        << "poem_character_generation_seconds_count " << characters_generated << '\n';
    metric("process_resident_memory_bytes", "gauge", "Resident memory of the server.", resident_bytes());
    metric("process_cpu_seconds_total", "counter", "CPU time of the server (user + system).", cpu_seconds());
    return out.str();
  }

  static long long resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    long long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
  }
  static double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  }
};

// ---- messages --------------------------------------------------------------------------------------

inline std::string message(const char* type, const char* key, seqlm::json::Value value) {
  seqlm::json::Value object = seqlm::json::Value::object();
  object.set("type", type).set(key, std::move(value));
  return object.dump();
}

class Server;

// ---- one reader: a WebSocket and its stream --------------------------------------------------------

class Reader : public std::enable_shared_from_this<Reader> {
 public:
  Reader(tcp::socket socket, Server& server) : ws_(std::move(socket)), server_(server) {}

  void start(http::request<http::string_body> request, bool refuse);

  // Appends generated characters (or a poem boundary) to what waits to be sent, and sends.
  void push_text(const std::string& text, std::size_t characters) {
    pending_text_ += text;
    pending_characters_ += characters;
    queued_bytes_ += text.size();
    flush();
  }
  void push_message(std::string frame) {
    frame_pending_text();
    queued_bytes_ += frame.size();
    outbox_.push_back({std::move(frame), 0});
    flush();
  }

  // Whether this reader may take another character now (paced: its time has come; and what
  // waits for it is below the send queue limit).
  bool wants_character(Clock::time_point now, const Settings& settings) const {
    if (!stream_ || closing_) return false;
    if (queued_bytes_ >= settings.send_queue_bytes) return false;
    return settings.chars_per_second <= 0 || now >= next_due_;
  }
  void took_character(Clock::time_point now, const Settings& settings) {
    if (settings.chars_per_second <= 0) return;
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / settings.chars_per_second));
    next_due_ += period;
    if (next_due_ < now - 10 * period) next_due_ = now;  // after a pause, no burst to catch up
  }
  std::size_t queued_bytes() const { return queued_bytes_; }
  bool write_stuck(Clock::time_point now, std::chrono::milliseconds limit) const {
    return writing_ && now - write_started_ > limit;
  }

  std::optional<PoemStreams::StreamId> stream() const { return stream_; }

  // Closes the WebSocket with `code` and `reason` (politely), or drops the TCP connection.
  void close(websocket::close_code code, const std::string& reason);
  void drop();

 private:
  struct Frame {
    std::string text;
    std::size_t characters;
  };

  void on_accept(beast::error_code error);
  void read();
  void on_read(beast::error_code error, std::size_t bytes);
  void handle_request(const std::string& text);
  void frame_pending_text() {
    if (pending_text_.empty()) return;
    std::string frame = message("text", "text", pending_text_);
    queued_bytes_ = queued_bytes_ - pending_text_.size() + frame.size();
    outbox_.push_back({std::move(frame), pending_characters_});
    pending_text_.clear();
    pending_characters_ = 0;
  }
  void flush();
  void on_write(beast::error_code error, std::size_t bytes);
  void finish();

  websocket::stream<beast::tcp_stream> ws_;
  Server& server_;
  beast::flat_buffer read_buffer_;
  std::deque<Frame> outbox_;  // frames waiting; front() is being written while writing_
  std::string pending_text_;  // characters not yet put in a frame (merged into one)
  std::size_t pending_characters_ = 0;
  std::size_t queued_bytes_ = 0;
  bool accepted_ = false, writing_ = false, closing_ = false, finished_ = false;
  std::optional<websocket::close_reason> close_reason_;  // sent once what is queued has gone
  Clock::time_point write_started_, next_due_ = Clock::now();
  std::optional<PoemStreams::StreamId> stream_;
};

// ---- the server ------------------------------------------------------------------------------------

class Server {
 public:
  Server(net::io_context& io, const tcp::endpoint& endpoint, PoemStreams& streams, Settings settings)
      : io_(io),
        acceptor_(io),
        tick_timer_(io),
        signals_(io, SIGINT, SIGTERM),
        streams_(streams),
        settings_(std::move(settings)),
        rng_(settings_.seed) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    if (settings_.broadcast) {
      shared_stream_ = streams_.open(settings_.seed, settings_.temperature, streams_.encode_prompt(""));
    }
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void run() {
    accept();
    signals_.async_wait([this](beast::error_code error, int) {
      if (!error) shut_down();
    });
    schedule_tick(std::chrono::milliseconds(0));
  }

  const Settings& settings() const { return settings_; }
  PoemStreams& streams() { return streams_; }
  Metrics& metrics() { return metrics_; }
  bool stopping() const { return stopping_; }

  // A reader after its handshake: gets its own stream (or joins the shared one).
  std::optional<PoemStreams::StreamId> reader_joined(const std::shared_ptr<Reader>& reader) {
    readers_.insert(reader);
    ++metrics_.readers_total;
    seqlm::json::Value hello = seqlm::json::Value::object();
    hello.set("type", "hello")
        .set("model", settings_.model_name)
        .set("temperature", settings_.temperature)
        .set("chars_per_second", settings_.chars_per_second)
        .set("broadcast", settings_.broadcast);
    reader->push_message(hello.dump());
    if (settings_.broadcast) return std::nullopt;
    const std::vector<seqlm::TokenId> prompt = streams_.encode_prompt("");
    const PoemStreams::StreamId stream = streams_.open(rng_.next(), settings_.temperature, prompt);
    reader->push_message(message("poem", "prompt", streams_.visible_text(prompt)));
    return stream;
  }
  void reader_left(const std::shared_ptr<Reader>& reader) {
    if (const auto stream = reader->stream()) streams_.close(*stream);
    readers_.erase(reader);
    if (stopping_ && readers_.empty()) io_.stop();  // every reader has closed: done
  }
  std::size_t reader_count() const { return readers_.size(); }
  bool full() const { return readers_.size() >= settings_.max_readers; }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
      if (stopping_) return;
      if (!error) handle_http(std::move(socket));
      accept();
    });
  }

  // One HTTP connection: requests until it closes or upgrades to a WebSocket.
  struct HttpSession : std::enable_shared_from_this<HttpSession> {
    HttpSession(tcp::socket socket, Server& server) : stream(std::move(socket)), server(server) {}
    beast::tcp_stream stream;
    Server& server;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    http::response<http::string_body> response;

    void read() {
      parser.emplace();
      parser->header_limit(8 * 1024);
      parser->body_limit(8 * 1024);
      stream.expires_after(std::chrono::seconds(30));
      http::async_read(
          stream, buffer, *parser,
          [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
    }
    void on_read(beast::error_code error) {
      if (error) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        return;
      }
      http::request<http::string_body> request = parser->release();
      if (websocket::is_upgrade(request)) {
        if (request.target() != "/stream")
          return respond(request, http::status::not_found, "text/plain",
                         "no WebSocket at this address; use /stream\n");
        if (server.stopping())
          return respond(request, http::status::service_unavailable, "text/plain", "shutting down\n");
        stream.expires_never();
        auto reader = std::make_shared<Reader>(stream.release_socket(), server);
        reader->start(std::move(request), server.full());
        return;
      }
      if (request.method() != http::verb::get && request.method() != http::verb::head) {
        return respond(request, http::status::method_not_allowed, "text/plain", "only GET is served\n");
      }
      const beast::string_view target = request.target();
      if (target == "/" || target == "/index.html") {
        respond(request, http::status::ok, "text/html; charset=utf-8", poem_page_html);
      } else if (target == "/healthz") {
        respond(request, http::status::ok, "text/plain", "ok\n");
      } else if (target == "/metrics") {
        respond(request, http::status::ok, "text/plain; version=0.0.4",
                server.metrics().prometheus(server.reader_count()));
      } else {
        respond(request, http::status::not_found, "text/plain", "not found\n");
      }
    }
    void respond(const http::request<http::string_body>& request, http::status status, const char* type,
                 std::string body) {
      response = {};
      response.result(status);
      response.version(request.version());
      response.set(http::field::server, "seqlm poem_server");
      response.set(http::field::content_type, type);
      response.set(http::field::cache_control, "no-store");
      response.keep_alive(request.keep_alive() && !server.stopping());
      if (request.method() != http::verb::head) response.body() = std::move(body);
      response.prepare_payload();
      http::async_write(stream, response, [self = shared_from_this()](beast::error_code error, std::size_t) {
        if (error || !self->response.keep_alive()) {
          beast::error_code ignored;
          self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        self->read();
      });
    }
  };

  void handle_http(tcp::socket socket) { std::make_shared<HttpSession>(std::move(socket), *this)->read(); }

  void schedule_tick(Clock::duration delay) {
    tick_timer_.expires_after(delay);
    tick_timer_.async_wait([this](beast::error_code error) {
      if (!error && !stopping_) tick();
    });
  }

  // One generation tick: every reader due a character gets one, all in one batched step.
  void tick() {
    const Clock::time_point now = Clock::now();
    // Drop readers whose writes have stalled (a reader that stopped reading).
    std::vector<std::shared_ptr<Reader>> stuck;
    for (const auto& reader : readers_) {
      if (reader->write_stuck(now, settings_.send_timeout)) stuck.push_back(reader);
    }
    for (const auto& reader : stuck) {
      ++metrics_.readers_dropped;
      reader->drop();
    }

    bool generated = false;
    if (settings_.broadcast) {
      generated = broadcast_tick(now);
    } else {
      // Unpaced readers get up to 8 characters a tick: the first goes out at once, the rest
      // wait in one frame for that write to end (one send per 8 characters, not per 1).
      const int rounds = settings_.chars_per_second <= 0 ? 8 : 1;
      for (int round = 0; round < rounds; ++round) {
        if (!generate_round(now)) break;
        generated = true;
      }
    }
    due_readers_.clear();
    // Unpaced: go again as soon as the sockets have been served; paced: 10 ms ticks (or finer
    // for fast paces), each reader's characters due on its own schedule.
    if (settings_.chars_per_second <= 0) {
      schedule_tick(generated ? Clock::duration::zero() : std::chrono::milliseconds(1));
    } else {
      const double period = std::min(0.01, 0.5 / settings_.chars_per_second);
      schedule_tick(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period)));
    }
  }

  // One character for every reader due one, in steps of at most --max-batch readers (1: every
  // reader stepped alone). False when no reader was due.
  bool generate_round(Clock::time_point now) {
    due_.clear();
    due_readers_.clear();
    for (const auto& reader : readers_) {
      if (reader->wants_character(now, settings_)) {
        due_.push_back(*reader->stream());
        due_readers_.push_back(reader);
      }
    }
    for (std::size_t first = 0; first < due_.size(); first += settings_.max_batch) {
      const std::size_t count = std::min(settings_.max_batch, due_.size() - first);
      batch_.assign(due_.begin() + static_cast<std::ptrdiff_t>(first),
                    due_.begin() + static_cast<std::ptrdiff_t>(first + count));
      const Clock::time_point start = Clock::now();
      streams_.advance(batch_, written_);
      metrics_.observe_generation(std::chrono::duration<double>(Clock::now() - start).count(), count);
      ++metrics_.ticks;
      for (std::size_t k = 0; k < count; ++k) deliver(*due_readers_[first + k], written_[k], now);
    }
    return !due_.empty();
  }

  void deliver(Reader& reader, const Written& written, Clock::time_point now) {
    reader.took_character(now, settings_);
    push_written(reader, written);
  }

  // A generated character, or the start of the next poem when the model ended one.
  static void push_written(Reader& reader, const Written& written) {
    if (written.poem_ended) {
      reader.push_message(message("poem", "prompt", ""));
    } else {
      reader.push_text(written.text, 1);
    }
  }

  // --broadcast: the shared stream advances at the pace; every reader gets its characters. A
  // reader whose queue is full has fallen behind the others and is dropped.
  bool broadcast_tick(Clock::time_point now) {
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / settings_.chars_per_second));
    if (now < shared_due_) return false;
    shared_due_ = std::max(shared_due_ + period, now - 10 * period);
    const Clock::time_point start = Clock::now();
    streams_.advance({*shared_stream_}, written_);
    metrics_.observe_generation(std::chrono::duration<double>(Clock::now() - start).count(), 1);
    ++metrics_.ticks;
    std::vector<std::shared_ptr<Reader>> behind;
    for (const auto& reader : readers_) {
      if (reader->queued_bytes() >= settings_.send_queue_bytes) {
        behind.push_back(reader);
        continue;
      }
      push_written(*reader, written_[0]);
    }
    for (const auto& reader : behind) {
      ++metrics_.readers_dropped;
      reader->close(websocket::close_code::policy_error, "fell behind the shared stream");
    }
    return true;
  }

  void shut_down() {
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    tick_timer_.cancel();
    std::cout << settings_.program << ": shutting down, closing " << readers_.size() << " connection(s)"
              << std::endl;
    if (readers_.empty()) {
      io_.stop();
      return;
    }
    const std::vector<std::shared_ptr<Reader>> open(readers_.begin(), readers_.end());
    for (const auto& reader : open)
      reader->close(websocket::close_code::going_away, "the server is shutting down");
    // Readers that do not answer the close handshake in time are cut off with the loop.
    tick_timer_.expires_after(std::chrono::seconds(3));
    tick_timer_.async_wait([this](beast::error_code) { io_.stop(); });
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  net::steady_timer tick_timer_;
  net::signal_set signals_;
  PoemStreams& streams_;
  Settings settings_;
  seqlm::Rng rng_;  // seeds of the readers' streams
  Metrics metrics_;
  bool stopping_ = false;
  std::unordered_set<std::shared_ptr<Reader>> readers_;
  std::optional<PoemStreams::StreamId> shared_stream_;
  Clock::time_point shared_due_ = Clock::now();
  std::vector<PoemStreams::StreamId> due_, batch_;
  std::vector<std::shared_ptr<Reader>> due_readers_;
  std::vector<Written> written_;
};

// ---- Reader's members that need the Server ---------------------------------------------------------

inline void Reader::start(http::request<http::string_body> request, bool refuse) {
  ws_.set_option(websocket::stream_base::timeout{std::chrono::seconds(30), std::chrono::seconds(30), true});
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(http::field::server, "seqlm poem_server"); }));
  ws_.read_message_max(max_frame_bytes);
  ws_.async_accept(request, [self = shared_from_this(), refuse](beast::error_code error) {
    if (error) return;
    if (refuse) {
      ++self->server_.metrics().readers_refused;
      self->accepted_ = true;
      self->push_message(message("error", "message",
                                 "the server is full (" +
                                     std::to_string(self->server_.settings().max_readers) +
                                     " readers); try again later"));
      self->close(websocket::close_code::try_again_later, "the server is full");
      return;
    }
    self->on_accept(error);
  });
}

inline void Reader::on_accept(beast::error_code) {
  accepted_ = true;
  stream_ = server_.reader_joined(shared_from_this());
  read();
}

inline void Reader::read() {
  ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
    self->on_read(error, bytes);
  });
}

inline void Reader::on_read(beast::error_code error, std::size_t) {
  if (error) {  // closed by the page, a protocol error, a frame over 64 KiB, a timeout
    finish();
    return;
  }
  const std::string text = beast::buffers_to_string(read_buffer_.data());
  read_buffer_.consume(read_buffer_.size());
  if (!closing_) {
    try {
      if (!ws_.got_text()) throw seqlm::value_error("binary messages are not accepted; send JSON text");
      handle_request(text);
    } catch (const std::exception& e) {
      ++server_.metrics().bad_requests;
      push_message(message("error", "message", e.what()));
    }
  }
  read();
}

inline void Reader::handle_request(const std::string& text) {
  if (text.size() > max_request_bytes) {
    throw seqlm::value_error("the message has " + std::to_string(text.size()) + " bytes; at most " +
                             std::to_string(max_request_bytes) + " are accepted");
  }
  seqlm::json::ParseOptions limits;
  limits.max_depth = 8;
  limits.max_bytes = max_request_bytes;
  seqlm::json::Value request;
  try {
    request = seqlm::json::parse(text, limits);
  } catch (const seqlm::error& e) {
    throw seqlm::value_error(std::string("the message is not JSON: ") + e.what());
  }
  if (!request.is_object() || !request.contains("type") || !request.at("type").is_string()) {
    throw seqlm::value_error("a message must be a JSON object with a \"type\"");
  }
  const std::string& type = request.get_string("type");
  if (server_.settings().broadcast && (type == "temperature" || type == "new_poem")) {
    throw seqlm::value_error("this server runs one shared stream (--broadcast): requests are not taken");
  }
  PoemStreams& streams = server_.streams();
  auto temperature_of = [&]() {
    const seqlm::json::Value& value = request.at("temperature");
    if (!value.is_number()) throw seqlm::value_error("\"temperature\" must be a number");
    const double t = value.as_double();
    PoemStreams::check_temperature(t);
    return t;
  };
  if (type == "temperature") {
    if (!request.contains("temperature")) throw seqlm::value_error("\"temperature\" is missing");
    const double t = temperature_of();
    streams.set_temperature(*stream_, t);
    push_message(message("temperature", "temperature", t));
  } else if (type == "new_poem") {
    std::string prompt;
    if (request.contains("prompt")) {
      if (!request.at("prompt").is_string()) throw seqlm::value_error("\"prompt\" must be a string");
      prompt = request.get_string("prompt");  // encode_prompt lower-cases it if the model does
    }
    std::optional<double> t;
    if (request.contains("temperature")) t = temperature_of();
    const std::vector<seqlm::TokenId> ids = streams.encode_prompt(prompt);  // checked before anything changes
    if (t) {
      streams.set_temperature(*stream_, *t);
      push_message(message("temperature", "temperature", *t));
    }
    streams.new_poem(*stream_, ids);
    // What was generated for the old poem and not yet sent is dropped.
    queued_bytes_ -= pending_text_.size();
    pending_text_.clear();
    pending_characters_ = 0;
    push_message(message("poem", "prompt", streams.visible_text(ids)));
  } else {
    throw seqlm::value_error("unknown message type \"" + type +
                             "\" (expected \"temperature\" or \"new_poem\")");
  }
}

inline void Reader::flush() {
  if (writing_ || !accepted_ || finished_) return;
  if (outbox_.empty()) frame_pending_text();
  if (outbox_.empty()) {
    if (close_reason_) {  // everything queued has been sent: the close handshake
      writing_ = true;
      write_started_ = Clock::now();
      ws_.async_close(*close_reason_, [self = shared_from_this()](beast::error_code) { self->finish(); });
      close_reason_.reset();
    }
    return;
  }
  writing_ = true;
  write_started_ = Clock::now();
  ws_.text(true);
  ws_.async_write(net::buffer(outbox_.front().text),
                  [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
                    self->on_write(error, bytes);
                  });
}

inline void Reader::on_write(beast::error_code error, std::size_t) {
  writing_ = false;
  if (error) {
    finish();
    return;
  }
  Metrics& metrics = server_.metrics();
  ++metrics.frames_sent;
  metrics.characters_sent += outbox_.front().characters;
  queued_bytes_ -= outbox_.front().text.size();
  outbox_.pop_front();
  flush();
}

inline void Reader::close(websocket::close_code code, const std::string& reason) {
  if (closing_ || finished_) return;
  closing_ = true;  // no more characters; what is queued (an error message) still goes first
  close_reason_ = websocket::close_reason(code, reason);
  flush();
}

inline void Reader::drop() {
  if (finished_) return;
  closing_ = true;
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
  finish();
}

inline void Reader::finish() {
  if (finished_) return;
  finished_ = true;
  closing_ = true;
  server_.reader_left(shared_from_this());
  stream_.reset();
}

// ---- loading ---------------------------------------------------------------------------------------

// A text prepared as the poems example prepares it: lower-cased, "@\n" removed unless
// keep_terminator. Its sorted characters are the vocabulary a Keras model of the tutorial
// was trained on.
inline std::string prepared_text(const std::string& path, bool keep_terminator) {
  examples::check_data_file(path);
  std::string text = seqlm::to_lower(seqlm::read_text_file(path), seqlm::LowerCase::unicode);
  if (!keep_terminator) {
    std::string kept;
    kept.reserve(text.size());
    for (std::size_t k = 0; k < text.size(); ++k) {
      if (text.compare(k, 2, "@\n") == 0) {
        ++k;
      } else {
        kept += text[k];
      }
    }
    text = std::move(kept);
  }
  return text;
}

inline std::string file_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The context length of a model file's training: "window" in its metadata (poems), else the
// "context" of its training configuration (`seqlm train`), else 60 (the tutorial's).
inline Index stored_context(const seqlm::LoadedModel<float>& loaded, const std::string& path) {
  if (loaded.metadata.count("window") != 0) return examples::stored_window(loaded.metadata, path);
  const seqlm::json::Value* context =
      loaded.training_config.is_object() ? loaded.training_config.find("context") : nullptr;
  if (context != nullptr && context->is_number()) {
    const double steps = context->as_double();
    if (steps >= 1 && steps <= 1e6) return static_cast<Index>(steps);
  }
  return 60;
}

// The character tokenizer of a model file, checked against its model: file_error naming the
// file for a file with no tokenizer, a word-level model, or vocabularies that disagree.
inline seqlm::CharTokenizer character_tokenizer(const seqlm::LoadedModel<float>& loaded,
                                                const std::string& path, const std::string& program) {
  const std::string where = "model file \"" + path + "\": ";
  const seqlm::json::Value& stored = loaded.tokenizer;
  const seqlm::json::Value* type = stored.is_object() ? stored.find("type") : nullptr;
  if (type == nullptr || !type->is_string()) {
    throw seqlm::file_error(where + "it has no character tokenizer, so it cannot write text");
  }
  if (type->as_string() == seqlm::WordTokenizer::json_type) {
    throw seqlm::file_error("\"" + path + "\" is a word-level model; " + program +
                            " serves character-level models (seqlm sample generates from it)");
  }
  if (type->as_string() != seqlm::CharTokenizer::json_type) {
    throw seqlm::file_error(where + "its tokenizer is of type \"" + type->as_string() + "\", expected \"" +
                            seqlm::CharTokenizer::json_type + "\"");
  }
  seqlm::CharTokenizer tokenizer;
  try {
    tokenizer = seqlm::CharTokenizer::from_json(stored);
  } catch (const seqlm::error& e) {
    throw seqlm::file_error(where + "invalid tokenizer: " + e.what());
  }
  const Index vocabulary = tokenizer.vocabulary_size();
  if (!loaded.model.input_spec().tokens)
    throw seqlm::file_error(where + "the model reads features, not characters");
  if (loaded.model.input_spec().size != vocabulary || loaded.model.output_size() != vocabulary) {
    throw seqlm::file_error(where + "the tokenizer has " + std::to_string(vocabulary) +
                            " characters, the model reads " + std::to_string(loaded.model.input_spec().size) +
                            " and predicts " + std::to_string(loaded.model.output_size()));
  }
  return tokenizer;
}

// The streams of the model `path`: a model file with a character tokenizer, or a Keras file
// of the tutorial (its vocabulary from --data). The default prompt is --prompt, else the
// model's seed text (poems; a Keras file: the first line of --data), else a newline.
inline PoemStreams load_streams(const examples::CommandLine& cli, const std::string& path,
                                const std::string& program) {
  examples::check_data_file(path, "model");
  if (examples::is_keras_path(path)) {
    if (!cli.has("data")) {
      throw seqlm::value_error(
          "the model \"" + path +
          "\" is a Keras file: give --data, the text it was trained on (its vocabulary)");
    }
    const std::string text = prepared_text(cli.text("data"), cli.has("keep-terminator"));
    seqlm::CharTokenizerOptions options;
    options.order = seqlm::VocabularyOrder::sorted;
    options.lower = seqlm::LowerCase::unicode;
    seqlm::CharTokenizer tokenizer = seqlm::CharTokenizer::build(text, options);
    examples::KerasImport imported = examples::import_keras(path, tokenizer);
    std::cout << program << ": " << path << ": " << imported.origin << "\n";
    // A Keras file stores no seed text: without --prompt, poems begin with the first line of
    // --data (a few characters are enough context for the model to take over).
    std::string prompt = cli.text("prompt");
    if (prompt.empty()) {
      const std::size_t line_end = text.find('\n');
      prompt = text.substr(0, line_end == std::string::npos ? 60 : std::min<std::size_t>(line_end + 1, 60));
    }
    return PoemStreams(std::move(imported.model), std::move(tokenizer), imported.window.value_or(60), prompt);
  }
  seqlm::LoadedModel<float> loaded = seqlm::load_model<float>(path);
  seqlm::CharTokenizer tokenizer = character_tokenizer(loaded, path, program);
  // Only the poems example's models end a poem with "@"; in other texts it is a character.
  const auto example = loaded.metadata.find("example");
  const bool terminator = example != loaded.metadata.end() && example->second == "poems";
  std::string prompt = cli.text("prompt");
  if (prompt.empty()) {
    const auto seed = loaded.metadata.find("seed_text");
    if (seed != loaded.metadata.end()) {
      prompt = seed->second;
    } else if (!(terminator && tokenizer.find(U'@')) && tokenizer.find(U'\n')) {
      prompt = "\n";  // `seqlm train`'s models: a text starts as after a line break
    }
  }
  const Index context = stored_context(loaded, path);
  return PoemStreams(std::move(loaded.model), std::move(tokenizer), context, prompt, terminator);
}

// Lets the process hold as many sockets as its hard limit allows.
inline void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// ---- the program -----------------------------------------------------------------------------------

// What differs between the programs that run the server.
struct Program {
  const char* name;           // "poem_server", "seqlm serve": in the usage, the help and every message
  const char* summary;        // the first line of --help
  const char* default_model;  // the model when none is given ("": one must be given)
};

// The server as a program: parses argv (argv[0] is the program's or subcommand's name), loads
// the model, serves until SIGINT/SIGTERM, and returns the exit status: 0 after a clean
// shutdown, 1 after printing one line "<name>: <what went wrong>" on stderr.
inline int run_poem_server(int argc, char** argv, const Program& program) {
  try {
    examples::CommandLine cli(program.name, program.summary);
    cli.positional_arguments("[MODEL]");
    cli.option("model", program.default_model,
               "the model (or give it as MODEL): a character-level model file (seqlm train, poems "
               "train), or the tutorial's Keras .keras/.h5 (with --data)");
    cli.option("data", "", "with a Keras model: the text it was trained on (its vocabulary)");
    cli.flag("keep-terminator", "with a Keras model: its text kept the '@' poem terminator");
    cli.option("address", "127.0.0.1", "the address to listen on (0.0.0.0: every interface)");
    cli.option("port", "8000", "the TCP port (0: any free port; the chosen one is printed)",
               examples::Range{0, 65535});
    cli.option("chars-per-second", "10", "characters per second for each reader (0: as fast as it reads)");
    cli.option("temperature", "0.6", "the starting temperature of every stream (0 < T <= 100)");
    cli.option("prompt", "", "the beginning of every poem (default: the model's seed text, else a newline)");
    cli.option("max-readers", "100", "readers at once; one more is refused", examples::Range{1, 1000000});
    cli.flag("broadcast", "everyone reads one shared stream (the tutorial's site); requests are refused");
    cli.option("send-queue", "4096", "bytes that may wait for one reader before its stream pauses",
               examples::Range{64, 1 << 24});
    cli.option("send-timeout", "10", "seconds a write may take before the reader is dropped",
               examples::Range{1, 3600});
    cli.option("max-batch", "1024", "readers stepped together in one batch, at most (1: each alone)",
               examples::Range{1, 1 << 20});
    cli.option("threads", "1", "threads of the large batched products (the server itself runs on one)",
               examples::Range{1, examples::max_threads});
    cli.option("seed", "0", "seed of the readers' streams (each reader gets its own seed from it)");
    cli.parse(argc, argv);

    if (cli.positional().size() > 1) {
      throw seqlm::value_error("one model at a time: got " + std::to_string(cli.positional().size()) + " (" +
                               cli.positional()[0] + ", " + cli.positional()[1] + ", ...)");
    }
    if (!cli.positional().empty() && cli.text("model") != program.default_model) {
      throw seqlm::value_error("give the model once: as MODEL or with --model, not both");
    }
    const std::string model_path = cli.positional().empty() ? cli.text("model") : cli.positional()[0];
    if (model_path.empty()) {
      throw seqlm::value_error(std::string("which model? usage: ") + program.name + " MODEL [options]");
    }

    Settings settings;
    settings.broadcast = cli.has("broadcast");
    settings.chars_per_second = cli.real("chars-per-second");
    if (!(settings.chars_per_second >= 0.0) || settings.chars_per_second > 1e6) {
      throw seqlm::value_error("--chars-per-second must be from 0 to 1000000, got " +
                               cli.text("chars-per-second"));
    }
    if (settings.broadcast && settings.chars_per_second == 0.0) {
      throw seqlm::value_error("--broadcast needs a pace: --chars-per-second above 0");
    }
    settings.temperature = cli.real("temperature");
    PoemStreams::check_temperature(settings.temperature, "--temperature");
    settings.max_readers = static_cast<std::size_t>(cli.integer("max-readers"));
    settings.seed = static_cast<std::uint64_t>(cli.integer("seed"));
    settings.send_queue_bytes = static_cast<std::size_t>(cli.integer("send-queue"));
    settings.send_timeout = std::chrono::milliseconds(1000 * cli.integer("send-timeout"));
    settings.max_batch = static_cast<std::size_t>(cli.integer("max-batch"));
    settings.program = program.name;
    settings.model_name = file_name_of(model_path);

    beast::error_code error;
    const net::ip::address address = net::ip::make_address(cli.text("address"), error);
    if (error) throw seqlm::value_error("--address \"" + cli.text("address") + "\" is not an IP address");

    seqlm::set_gemm_threads(static_cast<int>(cli.integer("threads")));
    examples::doing("loading the model");
    PoemStreams streams = load_streams(cli, model_path, program.name);
    raise_file_limit();

    examples::doing("starting the server");
    net::io_context io(1);
    Server server(io, tcp::endpoint(address, static_cast<unsigned short>(cli.integer("port"))), streams,
                  settings);
    const tcp::endpoint bound = server.local_endpoint();
    std::cout << "listening on http://" << bound.address().to_string() << ':' << bound.port() << '/'
              << std::endl;
    server.run();
    io.run();
    std::cout << program.name << ": stopped" << std::endl;
    return 0;
  } catch (...) {
    return examples::report_error(program.name);
  }
}

}  // namespace poem_server
