// Tests of the sampling helpers, the n-gram language model and the greetings tutorial.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <seqlm/data/whitespace_vocabulary.hpp>
#include <seqlm/ngram.hpp>
#include <seqlm/sampling.hpp>
#include <string>
#include <vector>

namespace ngram_tests {

using namespace seqlm;

namespace {

void check_close(const std::vector<double>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) CHECK(actual[i] == doctest::Approx(expected[i]).epsilon(1e-12));
}

// A scratch file path unique to this process, removed when the test ends.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name)
      : path("/tmp/seqlm-test-ngram-" + std::to_string(::getpid()) + "-" + name) {}
  ~ScratchFile() { std::remove(path.c_str()); }
  void write(const std::string& text) const { std::ofstream(path, std::ios::binary) << text; }
  std::string read() const {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

// The tiny corpus of the hand-worked counts: bigram, vocabulary 5, no boundary tokens.
NGramModel hand_model() {
  NGramModel model(2, 5);
  model.learn({1, 2, 3});
  model.learn({1, 2, 4});
  model.learn({2, 3});
  return model;
}

}  // namespace

// ---- sampling helpers ---------------------------------------------------------------------------

TEST_CASE("temperature reweights exp(log p / T), keeps zeros, and T = 0 is argmax") {
  const std::vector<double> p = {0.1, 0.4, 0.0, 0.2, 0.3};
  std::vector<double> same = p;
  apply_temperature(same, 1.0);
  check_close(same, p);

  std::vector<double> sharp = p;
  apply_temperature(sharp, 0.5);  // p^2 / sum p^2 = {0.01, 0.16, 0, 0.04, 0.09} / 0.3
  check_close(sharp, {0.01 / 0.3, 0.16 / 0.3, 0.0, 0.04 / 0.3, 0.09 / 0.3});

  std::vector<double> flat = p;
  apply_temperature(flat, 1000.0);  // almost uniform over the non-zero tokens
  for (size_t i : {0, 1, 3, 4}) CHECK(flat[i] == doctest::Approx(0.25).epsilon(0.01));
  CHECK(flat[2] == 0.0);

  std::vector<double> tiny = p;
  apply_temperature(tiny, 1e-3);  // no underflow to 0/0: the argmax takes all the mass
  CHECK(tiny[1] == doctest::Approx(1.0));

  std::vector<double> greedy = p;
  apply_temperature(greedy, 0.0);
  check_close(greedy, {0, 1, 0, 0, 0});
  CHECK(argmax({0.3, 0.3, 0.1}) == 0);  // ties: the lowest id

  std::vector<double> bad = p;
  CHECK_THROWS_AS(apply_temperature(bad, -1.0), value_error);
  std::vector<double> negative = {0.5, -0.1};
  CHECK_THROWS_AS(apply_temperature(negative, 1.0), value_error);
  std::vector<double> zeros = {0.0, 0.0};
  CHECK_THROWS_AS(apply_temperature(zeros, 1.0), value_error);
}

TEST_CASE("top-k and top-p keep the right tokens and renormalise") {
  const std::vector<double> p = {0.1, 0.4, 0.2, 0.3};
  std::vector<double> k2 = p;
  apply_top_k(k2, 2);
  check_close(k2, {0, 0.4 / 0.7, 0, 0.3 / 0.7});
  std::vector<double> k0 = p;
  apply_top_k(k0, 0);  // off
  check_close(k0, p);
  std::vector<double> ties = {0.25, 0.25, 0.25, 0.25};
  apply_top_k(ties, 2);  // ties broken by the lower id
  check_close(ties, {0.5, 0.5, 0, 0});

  std::vector<double> nucleus = p;
  apply_top_p(nucleus, 0.6);  // 0.4 < 0.6, 0.4 + 0.3 >= 0.6: keep tokens 1 and 3
  check_close(nucleus, {0, 0.4 / 0.7, 0, 0.3 / 0.7});
  std::vector<double> one = p;
  apply_top_p(one, 0.35);  // the most probable token alone already reaches 0.35
  check_close(one, {0, 1, 0, 0});
  std::vector<double> all = p;
  apply_top_p(all, 1.0);
  check_close(all, p);
  std::vector<double> unnormalised = {1.0, 4.0, 2.0, 3.0};  // works on weights too
  apply_top_p(unnormalised, 0.6);
  check_close(unnormalised, {0, 0.4 / 0.7, 0, 0.3 / 0.7});

  CHECK_THROWS_AS(apply_top_p(all, 0.0), value_error);
  CHECK_THROWS_AS(apply_top_p(all, 1.5), value_error);
  CHECK_THROWS_AS(apply_top_k(all, -1), value_error);
}

TEST_CASE("sample_from_probabilities draws in proportion and never a zero") {
  Rng rng(1);
  std::vector<int> counts(3, 0);
  const int n = 100000;
  for (int k = 0; k < n; ++k) ++counts[static_cast<size_t>(sample_from_probabilities({2.0, 0.0, 8.0}, rng))];
  CHECK(counts[1] == 0);
  CHECK(std::abs(counts[0] / double(n) - 0.2) < 0.01);
  Rng a(5), b(5);
  for (int k = 0; k < 20; ++k)
    CHECK(sample_from_probabilities({0.3, 0.3, 0.4}, a) == sample_from_probabilities({0.3, 0.3, 0.4}, b));
  CHECK_THROWS_AS(sample_from_probabilities({}, rng), value_error);
  CHECK_THROWS_AS(sample_from_probabilities({0.0, 0.0}, rng), value_error);
  CHECK_THROWS_AS(sample_from_probabilities({std::nan(""), 1.0}, rng), value_error);

  // With top_k = 1 sampling is greedy whatever the seed.
  GenerationOptions options;
  options.top_k = 1;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    Rng r(seed);
    std::vector<double> p = {0.2, 0.5, 0.3};
    CHECK(choose_next_token(p, options, r) == 1);
  }
}

// ---- the n-gram model ---------------------------------------------------------------------------

TEST_CASE("n-gram counts and maximum-likelihood probabilities, worked by hand") {
  const NGramModel model = hand_model();
  // Bigram events: 1->2, 2->3, 1->2, 2->4, 2->3; plus every token under the empty context.
  CHECK(model.count({1}, 2) == 2);
  CHECK(model.context_count({2}) == 3);
  CHECK(model.count({2}, 3) == 2);
  CHECK(model.context_count({}) == 8);
  CHECK(model.probability({2}, 3) == doctest::Approx(2.0 / 3.0));
  CHECK(model.probability({2}, 4) == doctest::Approx(1.0 / 3.0));
  CHECK(model.probability({1}, 2) == 1.0);
  CHECK(model.probability({1, 2}, 3) == doctest::Approx(2.0 / 3.0));  // longer contexts are cut to n-1
  CHECK(model.probability({3}, 1) == 0.0);                            // unseen context
  CHECK_FALSE(model.next_distribution({3}).has_value());              // -> no continuation
  check_close(*model.next_distribution({2}), {0, 0, 0, 2.0 / 3.0, 1.0 / 3.0});
  // Without a begin token the first token of a sequence is predicted from the empty context.
  check_close(*model.next_distribution({}), {0, 2.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8});
  CHECK_THROWS_AS(model.probability({2}, 5), value_error);
  CHECK_THROWS_AS(NGramModel(1, 5), value_error);
  CHECK_THROWS_AS(NGramModel(NGramModel::max_order + 1, 5), value_error);
  CHECK_THROWS_AS(NGramModel(2, 0), value_error);
  NGramModel writable = hand_model();
  CHECK_THROWS_AS(writable.learn({1, 9}), value_error);
}

TEST_CASE("add-k smoothing follows (c + k) / (total + k V)") {
  NGramModel model = hand_model();
  model.set_add_k(1.0);
  CHECK(model.probability({2}, 3) == doctest::Approx(3.0 / 8.0));  // (2 + 1) / (3 + 5)
  CHECK(model.probability({2}, 0) == doctest::Approx(1.0 / 8.0));
  CHECK(model.probability({3}, 1) == doctest::Approx(1.0 / 5.0));  // unseen context: uniform
  model.set_add_k(0.5);
  CHECK(model.probability({1}, 2) == doctest::Approx(2.5 / 4.5));  // (2 + 0.5) / (2 + 2.5)
  for (const auto& context : std::vector<NGramModel::Context>{{}, {1}, {2}, {3}}) {
    const auto p = model.next_distribution(context);
    REQUIRE(p.has_value());
    double total = 0;
    for (double q : *p) total += q;
    CHECK(total == doctest::Approx(1.0));
  }
  CHECK_THROWS_AS(model.set_add_k(-1.0), value_error);
}

TEST_CASE("perplexity on a known case, inf without smoothing, finite with add-k") {
  NGramModel model = hand_model();
  // {1, 2, 3}: P(1 | ()) = 2/8, P(2 | 1) = 1, P(3 | 2) = 2/3 -> (1/4 * 2/3)^(-1/3) = 6^(1/3).
  CHECK(model.perplexity({{1, 2, 3}}) == doctest::Approx(std::cbrt(6.0)));
  const auto e = model.evaluate({{1, 2, 3}});
  CHECK(e.predicted_tokens == 3);
  CHECK(e.log_likelihood == doctest::Approx(std::log(1.0 / 6.0)));
  CHECK(std::isinf(model.perplexity({{3, 1}})));  // 3 -> 1 was never seen
  model.set_add_k(1.0);
  const double smoothed = model.perplexity({{3, 1}});
  CHECK(std::isfinite(smoothed));
  // P(3 | ()) = (2 + 1) / (8 + 5), P(1 | 3) = 1/5.
  CHECK(smoothed == doctest::Approx(std::pow(3.0 / 13.0 * 1.0 / 5.0, -0.5)));
  CHECK_THROWS_AS(model.perplexity({{}}), value_error);
}

TEST_CASE("begin and end tokens, shorter contexts and backoff") {
  NGramOptions options;
  options.begin_token = 0;
  options.end_token = 5;
  NGramModel model(3, 6, options);
  model.learn({1, 2});  // read as [0 0 1 2 5]: 1 | (0 0), 2 | (0 1), 5 | (1 2)
  CHECK(model.count({0, 0}, 1) == 1);
  CHECK(model.count({0, 1}, 2) == 1);
  CHECK(model.count({1, 2}, 5) == 1);
  CHECK(model.probability({}, 1) == 1.0);   // an empty context is padded to (0 0)
  CHECK(model.probability({1}, 2) == 1.0);  // (1) is padded to (0 1)
  GenerationOptions greedy;
  greedy.temperature = 0.0;
  const GenerationResult from_start = model.generate({}, greedy);
  CHECK(from_start.tokens == std::vector<TokenId>{1, 2});
  CHECK(from_start.reason == StopReason::stop_token);  // the end token stops it, unreported

  NGramModel trigram(3, 6);
  trigram.learn({1, 2, 3});
  CHECK_FALSE(trigram.next_distribution({4, 2}).has_value());
  CHECK(trigram.probability({4, 2}, 3) == 0.0);
  trigram.set_backoff(true);  // (4 2) unseen -> (2) -> 3
  CHECK(trigram.probability({4, 2}, 3) == 1.0);
  CHECK(trigram.generate({4, 2}, greedy).tokens.front() == 3);
  CHECK(trigram.next_distribution({5}).has_value());  // backs off to the empty context
}

TEST_CASE("learning is online: counts and answers change as sequences arrive") {
  NGramModel model(2, 4);
  CHECK_FALSE(model.next_distribution({1}).has_value());
  model.learn({1, 2});
  CHECK(model.probability({1}, 2) == 1.0);
  model.learn({1, 3});
  CHECK(model.probability({1}, 2) == 0.5);
  model.grow_vocabulary(6);
  model.learn({1, 5});
  CHECK(model.probability({1}, 5) == doctest::Approx(1.0 / 3.0));
  CHECK_THROWS_AS(model.grow_vocabulary(3), value_error);
}

TEST_CASE("generation: seeds, greedy, stop token, max tokens, callback, no continuation") {
  NGramModel model(2, 6);
  model.learn({0, 1, 2, 0, 3, 0, 1, 4, 0, 2, 2, 1, 0, 4, 3, 3, 1, 0});
  GenerationOptions options;
  options.max_tokens = 40;
  options.seed = 17;
  const GenerationResult a = model.generate({0}, options);
  const GenerationResult b = model.generate({0}, options);
  CHECK(a.tokens == b.tokens);
  CHECK(a.tokens.size() == 40);
  CHECK(a.reason == StopReason::max_tokens);
  bool some_seed_differs = false;
  for (std::uint64_t seed = 18; seed < 30; ++seed) {
    options.seed = seed;
    some_seed_differs |= model.generate({0}, options).tokens != a.tokens;
  }
  CHECK(some_seed_differs);

  // Every generated transition was seen in training.
  NGramModel::Context previous = {0};
  for (TokenId token : a.tokens) {
    CHECK(model.count(previous, token) > 0);
    previous = {token};
  }

  // Greedy is the argmax chain and uses no randomness: the seed does not matter.
  GenerationOptions greedy;
  greedy.temperature = 0.0;
  greedy.max_tokens = 5;
  const auto first = model.generate({0}, greedy);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    greedy.seed = seed;
    CHECK(model.generate({0}, greedy).tokens == first.tokens);
  }
  for (size_t k = 0; k < first.tokens.size(); ++k) {
    const TokenId context = k == 0 ? 0 : first.tokens[k - 1];
    CHECK(first.tokens[k] == argmax(*model.next_distribution({context})));
  }

  // Stop token: generation ends when it is chosen; it is not part of the result.
  options.seed = 17;
  options.stop_token = 4;
  const auto stopped = model.generate({0}, options);
  CHECK(std::find(stopped.tokens.begin(), stopped.tokens.end(), 4) == stopped.tokens.end());
  if (stopped.reason == StopReason::stop_token) CHECK(stopped.tokens.size() < 40);

  // The callback sees every token as it is produced.
  std::vector<TokenId> streamed;
  options.stop_token.reset();
  const auto result = model.generate({0}, options, [&](TokenId id) { streamed.push_back(id); });
  CHECK(streamed == result.tokens);

  // A token never followed by anything: no continuation.
  NGramModel dead_end(2, 3);
  dead_end.learn({0, 1});
  const auto none = dead_end.generate({1}, options);
  CHECK(none.tokens.empty());
  CHECK(none.reason == StopReason::no_continuation);
  const auto short_one = dead_end.generate({0}, options);
  CHECK(short_one.tokens == std::vector<TokenId>{1});
  CHECK(short_one.reason == StopReason::no_continuation);

  GenerationOptions bad;
  bad.temperature = -1;
  CHECK_THROWS_AS(model.generate({0}, bad), value_error);
  CHECK_THROWS_AS(model.generate({9}, options), value_error);
}

TEST_CASE("temperature controls how often the less likely token is sampled") {
  NGramModel model(2, 4);
  for (int k = 0; k < 9; ++k) model.learn({0, 1});
  model.learn({0, 2});  // P(1 | 0) = 0.9, P(2 | 0) = 0.1
  GenerationOptions options;
  options.max_tokens = 1;
  int ones_hot = 0, ones_cold = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    options.seed = seed;
    options.temperature = 1.0;
    ones_hot += model.generate({0}, options).tokens.at(0) == 1;
    options.temperature = 0.3;  // 0.9^(1/0.3) vs 0.1^(1/0.3): about 0.9994 vs 0.0006
    ones_cold += model.generate({0}, options).tokens.at(0) == 1;
  }
  CHECK(ones_hot < 395);
  CHECK(ones_hot > 330);
  CHECK(ones_cold >= 398);
  options.temperature = 5.0;  // flatter: 2 becomes much more frequent
  int twos_flat = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    options.seed = seed;
    twos_flat += model.generate({0}, options).tokens.at(0) == 2;
  }
  CHECK(twos_flat > 100);
}

TEST_CASE("save and load round trip, and corrupt files are file_error") {
  NGramOptions options;
  options.begin_token = 0;
  options.end_token = 1;
  options.add_k = 0.25;
  NGramModel model(3, 8, options);
  model.learn({2, 3, 4, 2, 3, 5});
  model.learn({7, 3, 4});
  ScratchFile file("model.json");
  model.save(file.path);
  const NGramModel loaded = NGramModel::load(file.path);
  CHECK(loaded.order() == 3);
  CHECK(loaded.vocabulary_size() == 8);
  CHECK(loaded.options().begin_token == 0);
  CHECK(loaded.options().end_token == 1);
  CHECK(loaded.options().add_k == 0.25);
  CHECK(loaded.to_json() == model.to_json());
  CHECK(loaded.counts().size() == model.counts().size());
  for (TokenId next = 0; next < 8; ++next)
    CHECK(loaded.probability({2, 3}, next) == model.probability({2, 3}, next));
  const std::string bytes = file.read();
  loaded.save(file.path);
  CHECK(file.read() == bytes);  // deterministic files

  auto corrupt = [&](const std::string& from, const std::string& to) {
    std::string text = bytes;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    file.write(text);
    CHECK_THROWS_AS(NGramModel::load(file.path), file_error);
  };
  corrupt("\"seqlm.ngram\"", "\"something.else\"");
  corrupt("\"order\":3", "\"order\":1");
  corrupt("\"vocabulary_size\":8", "\"vocabulary_size\":\"8\"");
  corrupt("\"contexts\":[", "\"contexts\":[[[9],[2,1]],");      // token id outside the vocabulary
  corrupt("\"contexts\":[", "\"contexts\":[[[2,3,4],[2,1]],");  // context longer than n - 1
  corrupt("\"contexts\":[", "\"contexts\":[[[6],[2,0]],");      // zero count
  corrupt("\"contexts\":[", "\"contexts\":[[[6],[3,1,2,1]],");  // next ids not increasing
  corrupt("\"contexts\":[", "\"contexts\":[[[],[2,1]],");       // duplicate context
  corrupt("\"end_token\":1", "\"end_token\":-1");
  corrupt("\"contexts\":[", "\"contexts\":[[[6],[2,9223372036854775807,3,9]],");  // total overflows
  file.write(bytes.substr(0, bytes.size() / 2));                                  // truncated
  CHECK_THROWS_AS(NGramModel::load(file.path), file_error);
  file.write("not json at all");
  CHECK_THROWS_AS(NGramModel::load(file.path), file_error);
  CHECK_THROWS_AS(NGramModel::load("/nonexistent/dir/model.json"), file_error);
  try {
    file.write(bytes.substr(0, 10));
    NGramModel::load(file.path);
  } catch (const file_error& e) {
    CHECK(std::string(e.what()).find(file.path) != std::string::npos);  // names the file
  }
}

TEST_CASE("the vocabulary size is capped, in files before anything is allocated") {
  // A distribution holds V doubles: a file claiming V = 2^31 - 1 made generate() allocate 16 GiB.
  const Index limit = NGramModel::max_vocabulary_size;
  CHECK(limit == Index(1) << 22);
  CHECK(NGramModel(2, limit).vocabulary_size() == limit);
  CHECK_THROWS_WITH_AS(NGramModel(2, limit + 1), doctest::Contains("at most 4194304"), value_error);
  NGramModel growing(2, 4);
  CHECK_THROWS_WITH_AS(growing.grow_vocabulary(limit + 1), doctest::Contains("at most 4194304"), value_error);
  CHECK(growing.vocabulary_size() == 4);

  NGramOptions options;
  options.add_k = 1;
  NGramModel model(2, 8, options);
  model.learn({2, 3, 4});
  ScratchFile file("huge.json");
  model.save(file.path);
  std::string text = file.read();
  const size_t at = text.find("\"vocabulary_size\":8");
  REQUIRE(at != std::string::npos);
  text.replace(at, 19, "\"vocabulary_size\":2147483647");
  file.write(text);
  CHECK_THROWS_WITH_AS(NGramModel::load(file.path), doctest::Contains("vocabulary_size 2147483647"),
                       file_error);
  try {
    NGramModel::load(file.path);
  } catch (const file_error& e) {
    CHECK(std::string(e.what()).find(file.path) != std::string::npos);
    CHECK(std::string(e.what()).find("at most 4194304") != std::string::npos);
  }
}

// ---- the greetings tutorial ("super small language model") --------------------------------------

namespace {

const char* const sorry = "Desculpe, não entendi sua mensagem.";

// The tutorial's generate_response: continue from the message's last word with the bigram
// model until the end of a line (id 0) or no transition; unknown word -> sorry.
std::string reply(const WhitespaceVocabulary& vocabulary, const NGramModel& model, const std::string& message,
                  const GenerationOptions& options) {
  const std::vector<std::string> words = WhitespaceVocabulary::split(message);
  if (words.empty()) return sorry;
  const std::optional<TokenId> last = vocabulary.find(words.back());
  if (!last) return sorry;
  std::vector<TokenId> response = {*last};
  const GenerationResult more = model.generate({*last}, options);
  response.insert(response.end(), more.tokens.begin(), more.tokens.end());
  return vocabulary.decode(response);
}

}  // namespace

TEST_CASE("the greetings tutorial: whitespace vocabulary, bigram model, online learning") {
  const std::vector<std::string> dataset = {
      "Olá! Como você está?",
      "Oi! Tudo bem com você?",
      "Bom dia! Espero que você tenha um ótimo dia.",
      "Boa tarde! Como posso te ajudar hoje?",
      "Boa noite! Espero que você esteja bem.",
      "Oi! É um prazer falar com você.",
      "Olá! Em que posso te ajudar?",
      "Oi! Espero que você esteja tendo um bom dia.",
      "Olá! Como posso ser útil para você hoje?",
      "Oi! Que bom te ver por aqui.",
  };
  WhitespaceVocabulary vocabulary;
  std::vector<std::vector<TokenId>> lines;
  for (const std::string& line : dataset) lines.push_back(vocabulary.add(line));
  CHECK(lines[0] == std::vector<TokenId>{1, 2, 3, 4});  // ids in order of first appearance
  CHECK(lines[1] == std::vector<TokenId>{5, 6, 7, 8, 9});
  CHECK(vocabulary.word_count() == 41);
  CHECK(vocabulary.decode(lines[3]) == dataset[3]);

  // End of line = id 0, like the tutorial's padding token that stops generation.
  NGramOptions options;
  options.end_token = WhitespaceVocabulary::reserved_id;
  NGramModel model(2, vocabulary.size(), options);
  for (const auto& line : lines) model.learn(line);
  CHECK(model.probability({*vocabulary.find("Olá!")}, *vocabulary.find("Como")) ==
        doctest::Approx(2.0 / 3.0));

  GenerationOptions greedy;
  greedy.temperature = 0.0;
  CHECK(reply(vocabulary, model, "Olá!", greedy) == "Olá! Como posso te ajudar hoje?");
  CHECK(reply(vocabulary, model, "Oi! Tudo bem? Eu te desjo um bom dia!", greedy) ==
        "dia! Espero que você esteja bem.");
  CHECK(reply(vocabulary, model, "Oi!", greedy) == "Oi! Tudo bem com você?");
  CHECK(reply(vocabulary, model, "Bom dia, xyz", greedy) == sorry);
  CHECK(reply(vocabulary, model, "   ", greedy) == sorry);

  // Sampled replies follow seen transitions and end where a training line ends.
  GenerationOptions sampled;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    sampled.seed = seed;
    const auto result = model.generate({*vocabulary.find("Oi!")}, sampled);
    CHECK(result.reason == StopReason::stop_token);
    TokenId previous = *vocabulary.find("Oi!");
    for (TokenId token : result.tokens) {
      CHECK(model.count({previous}, token) > 0);
      previous = token;
    }
    CHECK(model.count({previous}, 0) > 0);
  }

  // learn_from_message: new words get the next ids, counts update online.
  const std::string message = "carros são automóveis movidos a combustível";
  const std::vector<TokenId> ids = vocabulary.add(message);
  CHECK(ids.front() == 42);
  model.grow_vocabulary(vocabulary.size());
  model.learn(ids);
  CHECK(reply(vocabulary, model, "O que são carros?", greedy) == sorry);  // "carros?" is not "carros"
  CHECK(reply(vocabulary, model, "O que são carros", greedy) == message);

  // Vocabulary files round trip; corrupt ones are file_error.
  ScratchFile file("vocabulary.json");
  vocabulary.save(file.path);
  const WhitespaceVocabulary loaded = WhitespaceVocabulary::load(file.path);
  CHECK(loaded.words() == vocabulary.words());
  CHECK(loaded.find("carros") == vocabulary.find("carros"));
  file.write(R"({"format":"seqlm.whitespace_vocabulary","version":1,"words":["a","b","a"]})");
  CHECK_THROWS_AS(WhitespaceVocabulary::load(file.path), file_error);
  file.write(R"({"format":"seqlm.whitespace_vocabulary","version":1,"words":["a b"]})");
  CHECK_THROWS_AS(WhitespaceVocabulary::load(file.path), file_error);
  file.write(R"({"format":"seqlm.whitespace_vocabulary","version":1,"words":[3]})");
  CHECK_THROWS_AS(WhitespaceVocabulary::load(file.path), file_error);
  file.write("{");
  CHECK_THROWS_AS(WhitespaceVocabulary::load(file.path), file_error);
}

}  // namespace ngram_tests
