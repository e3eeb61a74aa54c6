// N-gram models (ngram.hpp): NGramModel::load on arbitrary bytes, then queries and learning.
//
// Properties of every accepted file:
//   * it round-trips: to_json() of the loaded model, loaded again, gives the same bytes;
//   * every stored context's total is the sum of its counts, and P(w | c) is count / total
//     without smoothing;
//   * next_distribution() of a stored context (and of the empty one) is a probability
//     distribution that agrees with probability();
//   * learning a sequence keeps the model loadable, and generate() gives ids in range.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <seqlm/ngram.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

void check_round_trip(const NGramModel& model, fuzz::MemoryFile& file) {
  const std::string saved = fuzz::must("to_json", [&] { return model.to_json().dump(); });
  const NGramModel back = fuzz::must("load(saved form)", [&] { return NGramModel::load(file.set(saved)); });
  fuzz::check(back.to_json().dump() == saved, "load(save(m)) == m");
}

void check_distribution(const NGramModel& model, const NGramModel::Context& context) {
  const std::optional<std::vector<double>> p = model.next_distribution(context);
  if (!p) return;
  fuzz::check(static_cast<Index>(p->size()) == model.vocabulary_size(), "one probability per token");
  double sum = 0;
  for (std::size_t w = 0; w < p->size(); ++w) {
    fuzz::check((*p)[w] >= 0.0 && (*p)[w] <= 1.0, "probabilities in [0, 1]");
    sum += (*p)[w];
  }
  fuzz::check(std::abs(sum - 1.0) < 1e-6, "next_distribution sums to 1");
  for (std::size_t w = 0; w < std::min<std::size_t>(p->size(), 8); ++w) {
    const double q = model.probability(context, static_cast<TokenId>(w));
    fuzz::check(std::abs(q - (*p)[w]) <= 1e-12 * (1 + q), "probability() agrees with next_distribution()");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file;
  const std::string& path = file.set(fuzz::bytes(data, size));
  std::optional<NGramModel> model = fuzz::refused_or([&] { return NGramModel::load(path); });
  if (!model) return 0;
  check_round_trip(*model, file);

  std::vector<TokenId> sequence;  // the longest stored context, learned again below
  for (const auto& [context, next] : model->counts()) {
    std::int64_t total = 0;
    for (const auto& [token, count] : next.counts) total += count;
    fuzz::check(total == next.total, "a context's total is the sum of its counts");
    if (model->options().add_k == 0.0 && !model->options().begin_token) {
      const auto& [token, count] = next.counts.front();
      const double expected = static_cast<double>(count) / static_cast<double>(total);
      fuzz::check(std::abs(model->probability(context, token) - expected) <= 1e-12,
                  "P(w | c) = count / total without smoothing");
    }
    if (context.size() > sequence.size()) sequence = context;
  }

  // next_distribution() and generate() hold V doubles: the loader bounds V by
  // NGramModel::max_vocabulary_size (32 MiB of doubles at the limit), within -malloc_limit_mb.
  fuzz::check(model->vocabulary_size() <= NGramModel::max_vocabulary_size, "V within the loader's bound");
  check_distribution(*model, {});
  if (!model->counts().empty()) check_distribution(*model, model->counts().begin()->first);
  GenerationOptions options;
  options.max_tokens = 4;
  options.seed = size;
  const GenerationResult result = fuzz::must("generate", [&] { return model->generate(sequence, options); });
  for (const TokenId id : result.tokens) {
    fuzz::check(id >= 0 && id < model->vocabulary_size(), "generated ids are in the vocabulary");
  }

  fuzz::must("learn", [&] { model->learn(sequence); });
  check_round_trip(*model, file);
  return 0;
}
