// The poem server's generator: one stream of text per reader, all advanced together.
//
// Every reader has its own stream: its own recurrent state (a Sequential::State of one
// sequence), its own random generator (its own seed), temperature and context. Keeping the
// states apart lets readers come, go and start new poems at any time; stepping them apart
// would cost one matrix-vector product per layer and reader. advance() does the step of every
// stream that is due a character at once:
//
//   1. sample: each due stream draws its next character from the logits it already holds
//      (softmax at its temperature, one multinomial draw; sampling.hpp);
//   2. gather: copy_sequence puts the k due streams' states into one batch state (k columns,
//      rounded up to a power of two so only log2(readers) batch states ever exist; the spare
//      columns read a harmless id and are never copied back);
//   3. step: one Sequential::step of the batch -- one matrix product per layer for all k;
//   4. scatter: each stream's new state (and the logits of its next character) goes back.
//
// Gathered or alone, a stream's logits agree to rounding (tests/test_sequential.cpp), so a
// reader's text does not depend on who else is reading.
//
// Whole poems: a model trained with the poems' "@" terminator (poems train --keep-terminator)
// ends a poem by writing "@"; the stream then reports a poem boundary and carries on after
// "@\n", the way poems follow each other in its training text. A model trained without it
// (the tutorial's), or one whose "@" is an ordinary character (terminator = false: any text of
// `seqlm train`), writes forever, like the tutorial's web page. Either way, every 1,000
// characters a stream is primed again on its last `window` characters, so the context it
// has read stays near the window length the model was trained on.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <seqlm/error.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/random.hpp>
#include <seqlm/sampling.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace poem_server {

using seqlm::Index;
using seqlm::TokenId;
using Model = seqlm::Sequential<float>;

// What advance() wrote for one stream: its next character, and whether that character was the
// terminator (a poem ended; `text` is then empty and the next poem starts after "@\n").
struct Written {
  std::string text;
  bool poem_ended = false;
};

class PoemStreams {
 public:
  using StreamId = std::size_t;

  // `model` reads ids of `tokenizer`; `window` is the context length it was trained on;
  // `default_prompt` starts a poem when a reader gives none (for a terminator model, "@\n" is
  // put before every prompt); `terminator`: whether an "@" in the vocabulary ends a poem.
  // value_error when the sizes disagree or the prompt is unusable.
  PoemStreams(Model model, seqlm::CharTokenizer tokenizer, Index window, std::string default_prompt,
              bool terminator = true)
      : model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        window_(window),
        terminator_(terminator ? tokenizer_.find(U'@') : std::nullopt),
        newline_(tokenizer_.find(U'\n')) {
    if (tokenizer_.vocabulary_size() != model_.input_spec().size) {
      throw seqlm::value_error("poem_server: the tokenizer has " +
                               std::to_string(tokenizer_.vocabulary_size()) +
                               " characters, the model reads " + std::to_string(model_.input_spec().size));
    }
    if (window_ < 1) throw seqlm::value_error("poem_server: the window must be at least 1 character");
    default_prompt_ = encode_prompt(default_prompt);
  }

  const Model& model() const { return model_; }
  const seqlm::CharTokenizer& tokenizer() const { return tokenizer_; }
  bool has_terminator() const { return terminator_.has_value(); }

  // The ids of a reader's prompt, lower-cased first when the tokenizer lower-cases its text:
  // value_error naming the first character the model does not know (and its position), or
  // saying the prompt is too long. An empty prompt gives the default one; a terminator model
  // reads "@\n" first, as at the start of every poem it saw.
  std::vector<TokenId> encode_prompt(const std::string& prompt) const {
    if (prompt.size() > max_prompt_bytes) {
      throw seqlm::value_error("the prompt has " + std::to_string(prompt.size()) + " bytes; at most " +
                               std::to_string(max_prompt_bytes) + " are accepted");
    }
    if (prompt.empty() && !default_prompt_.empty()) return default_prompt_;
    std::vector<TokenId> ids;
    if (terminator_) {
      ids.push_back(*terminator_);
      if (newline_) ids.push_back(*newline_);
    }
    const std::u32string characters =  // text_error for invalid UTF-8
        seqlm::utf8::decode(seqlm::to_lower(prompt, tokenizer_.options().lower));
    for (std::size_t k = 0; k < characters.size(); ++k) {
      const std::optional<TokenId> id = tokenizer_.find(characters[k]);
      if (!id) {
        throw seqlm::value_error("the prompt's character " + seqlm::utf8::describe(characters[k]) +
                                 " (position " + std::to_string(k) + ") is not in the model's vocabulary");
      }
      ids.push_back(*id);
    }
    if (ids.empty())
      throw seqlm::value_error(
          "the prompt is empty and there is no default one (start the server with --prompt)");
    return ids;
  }

  // A new stream reading `prompt` (from encode_prompt) at `temperature` (> 0), drawing from
  // its own generator seeded with `seed`.
  StreamId open(std::uint64_t seed, double temperature, const std::vector<TokenId>& prompt) {
    check_temperature(temperature);
    StreamId id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = streams_.size();
      streams_.emplace_back();
    }
    Stream& stream = streams_[id];
    stream = Stream{};
    stream.open = true;
    stream.state = model_.make_state(1);
    stream.rng = seqlm::Rng(seed);
    stream.temperature = temperature;
    prime(stream, prompt);
    ++open_count_;
    return id;
  }

  void close(StreamId id) {
    Stream& stream = checked(id);
    stream.open = false;
    stream.state = Model::State();  // free its memory now
    stream.context.clear();
    stream.context.shrink_to_fit();
    free_.push_back(id);
    --open_count_;
  }

  // Starts a new poem on an open stream: its state is reset and primed on `prompt`.
  void new_poem(StreamId id, const std::vector<TokenId>& prompt) {
    Stream& stream = checked(id);
    model_.reset_states(stream.state);
    prime(stream, prompt);
  }

  void set_temperature(StreamId id, double temperature) {
    check_temperature(temperature);
    checked(id).temperature = temperature;
  }
  double temperature(StreamId id) const { return checked(id).temperature; }

  std::size_t open_count() const { return open_count_; }

  // A temperature the streams take: a number in (0, 100]; value_error "<what> must be in
  // (0, 100], got T" otherwise (`what` names it for the reader: "--temperature", ...).
  static void check_temperature(double temperature, const char* what = "the temperature") {
    if (!(temperature > 0.0) || !(temperature <= 100.0)) {
      std::ostringstream message;
      message << what << " must be in (0, 100], got " << temperature;
      throw seqlm::value_error(message.str());
    }
  }

  // The text of prompt ids as a reader sees it: the "@\n" that starts a terminator model's
  // poem is not shown.
  std::string visible_text(const std::vector<TokenId>& ids) const {
    std::string text;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (terminator_ && ids[k] == *terminator_) {
        if (k + 1 < ids.size() && ids[k + 1] == newline_) ++k;
        continue;
      }
      text += tokenizer_.token_text(ids[k]);
    }
    return text;
  }

  // One character for each stream of `due` (open, distinct), written into out[k] for due[k].
  // One batched step for all of them (see the top of this file).
  void advance(const std::vector<StreamId>& due, std::vector<Written>& out) {
    out.assign(due.size(), Written{});
    if (due.empty()) return;
    // 1. sample from the logits each stream holds.
    ids_.assign(bucket_of(due.size()), 0);
    for (std::size_t k = 0; k < due.size(); ++k) {
      Stream& stream = checked(due[k]);
      options_.temperature = stream.temperature;
      seqlm::softmax_to_double(stream.state.outputs.back().col(0), probabilities_);
      const TokenId next = seqlm::choose_next_token(probabilities_, options_, stream.rng);
      ids_[k] = next;
      if (terminator_ && next == *terminator_) {
        out[k].poem_ended = true;
      } else {
        out[k].text = tokenizer_.token_text(next);
      }
      remember(stream, next);
    }
    // 2.-4. gather, one step, scatter.
    Model::State& batch = batch_state(ids_.size());
    for (std::size_t k = 0; k < due.size(); ++k) {
      model_.copy_sequence(streams_[due[k]].state, 0, batch, static_cast<Index>(k));
    }
    model_.step(ids_.data(), batch);
    for (std::size_t k = 0; k < due.size(); ++k) {
      Stream& stream = streams_[due[k]];
      model_.copy_sequence(batch, static_cast<Index>(k), stream.state, 0);
      if (out[k].poem_ended) {
        // The text goes on after "@\n", as poems follow each other in the training text.
        if (newline_) {
          model_.step(&*newline_, stream.state);
          remember(stream, *newline_);
        }
      }
      if (++stream.since_primed >= reprime_every) {
        const std::vector<TokenId> context = stream.context;
        model_.reset_states(stream.state);
        prime(stream, context);
      }
    }
  }

  // Prompts longer than this are refused (a reader's request is at most a few KiB).
  static constexpr std::size_t max_prompt_bytes = 1000;
  static constexpr Index reprime_every = 1000;

 private:
  struct Stream {
    bool open = false;
    Model::State state;  // one sequence; outputs.back() = logits of its next character
    seqlm::Rng rng{0};
    double temperature = 1.0;
    std::vector<TokenId> context;  // the last `window` ids it read
    Index since_primed = 0;
  };

  Stream& checked(StreamId id) {
    if (id >= streams_.size() || !streams_[id].open) {
      throw seqlm::value_error("poem_server: stream " + std::to_string(id) + " is not open");
    }
    return streams_[id];
  }
  const Stream& checked(StreamId id) const { return const_cast<PoemStreams*>(this)->checked(id); }

  // Feeds `ids` (non-empty) one step at a time: the state then holds the logits of what follows.
  void prime(Stream& stream, const std::vector<TokenId>& ids) {
    stream.context.clear();
    for (const TokenId id : ids) {
      model_.step(&id, stream.state);
      remember(stream, id);
    }
    stream.since_primed = 0;
  }

  void remember(Stream& stream, TokenId id) const {
    if (static_cast<Index>(stream.context.size()) >= window_) stream.context.erase(stream.context.begin());
    stream.context.push_back(id);
  }

  // The batch state for `size` sequences (a power of two), made once.
  Model::State& batch_state(std::size_t size) {
    auto found = batches_.find(size);
    if (found == batches_.end())
      found = batches_.emplace(size, model_.make_state(static_cast<Index>(size))).first;
    return found->second;
  }
  static std::size_t bucket_of(std::size_t count) {
    std::size_t size = 1;
    while (size < count) size *= 2;
    return size;
  }

  Model model_;
  seqlm::CharTokenizer tokenizer_;
  Index window_;
  std::optional<TokenId> terminator_;
  std::optional<TokenId> newline_;
  std::vector<TokenId> default_prompt_;

  std::vector<Stream> streams_;
  std::vector<StreamId> free_;
  std::size_t open_count_ = 0;

  std::map<std::size_t, Model::State> batches_;
  std::vector<TokenId> ids_;
  std::vector<double> probabilities_;
  seqlm::GenerationOptions options_;
};

}  // namespace poem_server
