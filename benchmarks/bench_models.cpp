// End-to-end benchmarks of the four neural tutorial models (tutorial_models.hpp): training
// steps at the tutorials' batch shapes on 1 and 2 threads, batch-1 text generation, and whole
// headline epochs on the real data. See docs/performance.md ("End to end") for the method.
//
// Rows (all real time):
//   train_step/<model>/threads:{1,2}     one optimizer step, the way fit() does it:
//                                        dataset.fill(batch k) -> DataParallelTrainer::compute_gradients
//                                        (forward, loss, BPTT; split over the threads) -> finite check ->
//                                        optimizer.step(parameters). Synthetic ids of the tutorial shape.
//   generate/nietzsche/streaming         generate(): the 60-character prompt is read once, then one
//                                        LSTM step + Dense + softmax + sampling per character
//   generate/nietzsche/windowed          generate_windowed(): a full forward over the last 60
//                                        characters per character (the tutorial's loop)
//   headline_epoch/{tutorial,prefix_sharing,prefix_sharing_batch5}/threads:{1,2}
//                                        one fit() epoch on ArticlesMarch2018.csv: the tutorial's
//                                        pre-padded prefix examples (batches of 32), or one masked
//                                        sequence per headline with a loss at every position, in
//                                        batches of 32 headlines or of 5 (batch5: as many optimizer
//                                        steps per epoch as the tutorial, 250 vs 252, which is what
//                                        reaches the tutorial's loss in as many epochs)
//
// Counters:
//   sequences/s, tokens/s   training sequences (windows, examples) and input tokens per second
//   s_per_epoch             batches per epoch x seconds per batch (train_step), or the epoch's time
//   batches_per_epoch       ceil(sequences per epoch / B) for the tutorial data (see the context)
//   chars/s                 generated characters per second (generate rows)
//   loss                    headline_epoch: the training loss of the last timed epoch
//   cpu_ms                  CPU time of the whole process (all threads) per iteration, in ms: on a
//                           busy machine the work done, where the wall-clock time also counts waiting
#include <cmath>
#include <memory>
#include <optional>
#include <seqlm/data/batching.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/data_parallel.hpp>
#include <seqlm/train/fit.hpp>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "tutorial_models.hpp"

namespace seqlm::bench {
namespace {

constexpr std::uint64_t kSeed = 42;

// ---- training steps ---------------------------------------------------------------------------

// Tokens of the synthetic stream the training windows are cut from: the tutorial corpus sizes
// (so that batches read from memory spread like the real ones).
Index synthetic_token_count(Tutorial which, const TutorialShape& shape) {
  switch (which) {
    case Tutorial::nietzsche: return 600'893;
    case Tutorial::poems: return shape.sequences_per_epoch * 3 + shape.steps;
    case Tutorial::machado: return 1'000'000;
    case Tutorial::headlines: return 100'000;
  }
  return 0;
}

void BM_train_step(benchmark::State& state, Tutorial which, Index threads) {
  const TutorialShape shape = tutorial_shape(which);
  const WindowDataset data = synthetic_windows(shape, which, synthetic_token_count(which, shape), kSeed);
  Model model = build_tutorial_model(which);
  Rng init_rng(kSeed);
  model.initialize(init_rng);
  const std::unique_ptr<Optimizer<float>> optimizer = make_tutorial_optimizer(which);
  ParameterList<float> parameters = model.parameters();

  // fit()'s per-batch work, with its objects: the trainer (replicas, worker pool), the shuffled
  // schedule, one reused Batch. Only full batches are used.
  DataParallelTrainer<float> trainer(model, threads, kSeed);
  const BatchSchedule schedule(data.size(), shape.batch, BatchOptions{true, kSeed, true});
  Batch batch;
  Index k = 0;
  bool failed = false;
  auto one_step = [&]() {
    data.fill(schedule.batch(k), batch);
    const CrossEntropyResult result = trainer.compute_gradients(batch, 0, k, 0);
    if (!std::isfinite(result.loss) || !detail::first_non_finite_gradient(parameters).empty()) {
      failed = true;
      return;
    }
    optimizer->step(parameters);
    k = (k + 1) % schedule.batch_count();
  };
  for (int warm_up = 0; warm_up < 2; ++warm_up) one_step();  // sizes every buffer

  const LoopClock clock;
  const ProcessCpuClock cpu_clock;
  for (auto _ : state) {
    one_step();
    if (failed) break;
  }
  if (failed) {
    state.SkipWithError("the loss or a gradient is not finite");
    return;
  }
  using benchmark::Counter;
  const double seconds_per_batch = clock.seconds() / static_cast<double>(state.iterations());
  state.counters["cpu_ms"] = Counter(1e3 * cpu_clock.seconds() / static_cast<double>(state.iterations()));
  state.counters["sequences"] = Counter(static_cast<double>(shape.batch), Counter::kIsIterationInvariantRate);
  state.counters["tokens"] =
      Counter(static_cast<double>(shape.batch * shape.steps), Counter::kIsIterationInvariantRate);
  if (shape.sequences_per_epoch > 0) {
    const Index batches = (shape.sequences_per_epoch + shape.batch - 1) / shape.batch;
    state.counters["batches_per_epoch"] = Counter(static_cast<double>(batches));
    state.counters["s_per_epoch"] = Counter(static_cast<double>(batches) * seconds_per_batch);
  }
  state.SetLabel(shape.epoch_source);
}

// ---- generation -------------------------------------------------------------------------------

// Characters per iteration: streaming costs ~1 step each, so a long text makes the 60-step prompt
// negligible (0.6 %); windowed writes the tutorial's 400 characters.
constexpr Index kStreamingCharacters = 10'000;
constexpr Index kWindowedCharacters = 400;
constexpr Index kWindow = 60;

void BM_generate(benchmark::State& state, bool windowed) {
  const TutorialShape shape = tutorial_shape(Tutorial::nietzsche);
  Model model = build_nietzsche();
  Rng init_rng(kSeed);
  model.initialize(init_rng);
  Rng prompt_rng(kSeed + 1);
  const std::vector<TokenId> prompt = random_ids(kWindow, shape.vocabulary, prompt_rng);
  GenerationOptions options;
  options.temperature = 0.5;  // one of the tutorial's temperatures: the sampling path, not argmax
  options.max_tokens = windowed ? kWindowedCharacters : kStreamingCharacters;
  Rng rng(kSeed);
  Index generated = 0;
  const ProcessCpuClock cpu_clock;
  for (auto _ : state) {
    const GenerationResult result = windowed ? generate_windowed(model, prompt, kWindow, options, rng)
                                             : generate(model, prompt, options, rng);
    generated += static_cast<Index>(result.tokens.size());
    benchmark::DoNotOptimize(result.tokens.data());
  }
  state.counters["chars"] = benchmark::Counter(static_cast<double>(generated), benchmark::Counter::kIsRate);
  state.counters["cpu_ms"] =
      benchmark::Counter(1e3 * cpu_clock.seconds() / static_cast<double>(state.iterations()));
}

// ---- headline epochs ------------------------------------------------------------------------------

template <class Dataset>
void run_headline_epochs(benchmark::State& state, const Dataset& data, Index vocabulary, bool prefix_sharing,
                         Index batch_size, Index threads) {
  Model model = build_headlines(vocabulary, prefix_sharing);
  Rng init_rng(kSeed);
  model.initialize(init_rng);
  Adam<float> optimizer(AdamOptions{});
  FitOptions<float> options;
  options.epochs = 1;
  options.batch_size = batch_size;
  options.threads = threads;
  options.seed = kSeed;
  options.verbosity = Verbosity::silent;

  // Warm-up: three batches, so that the first timed epoch does not pay for sizing the buffers.
  LambdaCallback<float> stop_early;
  stop_early.batch_end = [](Index batch, const Logs&, TrainingContext<float>& context) {
    if (batch >= 2) context.stop_training = true;
  };
  FitOptions<float> warm_up = options;
  warm_up.callbacks = {&stop_early};
  fit(model, optimizer, data, warm_up);

  double loss = 0.0, tokens = 0.0;
  Index epoch = 0;
  const LoopClock clock;
  const ProcessCpuClock cpu_clock;
  for (auto _ : state) {
    options.seed = kSeed + static_cast<std::uint64_t>(epoch++);  // a new shuffle each epoch
    const History history = fit(model, optimizer, data, options);
    loss = history.last("loss");
    tokens += history.last("tokens_per_second") * history.last("seconds");
  }
  using benchmark::Counter;
  state.counters["sequences"] = Counter(static_cast<double>(data.size()), Counter::kIsIterationInvariantRate);
  state.counters["tokens"] = Counter(tokens, Counter::kIsRate);
  state.counters["s_per_epoch"] = Counter(clock.seconds() / static_cast<double>(state.iterations()));
  state.counters["cpu_ms"] = Counter(1e3 * cpu_clock.seconds() / static_cast<double>(state.iterations()));
  state.counters["loss"] = Counter(loss);
}

void BM_headline_epoch(benchmark::State& state, bool prefix_sharing, Index batch_size, Index threads) {
  const std::string path = headlines_csv();
  if (!file_exists(path)) {
    state.SkipWithError(
        ("the headlines data is absent (" + path + "); set SEQLM_DATA_DIR or run scripts/fetch-data.sh")
            .c_str());
    return;
  }
  const HeadlineData data = read_headline_data(path);
  if (prefix_sharing) {
    const LineSequences lines(data.corpus);
    run_headline_epochs(state, lines, data.vocabulary, true, batch_size, threads);
    state.SetLabel(std::to_string(lines.size()) + " headlines in batches of " + std::to_string(batch_size) +
                   ", a loss at every position");
  } else {
    const PrefixSequences prefixes(data.corpus);
    run_headline_epochs(state, prefixes, data.vocabulary, false, batch_size, threads);
    state.SetLabel(std::to_string(prefixes.size()) + " prefix examples of " +
                   std::to_string(prefixes.input_steps()) + " steps");
  }
}

}  // namespace

void register_model_benchmarks() {
  using benchmark::RegisterBenchmark;
  for (const Tutorial which :
       {Tutorial::nietzsche, Tutorial::poems, Tutorial::machado, Tutorial::headlines}) {
    for (const Index threads : {1, 2}) {
      const std::string name =
          std::string("train_step/") + tutorial_name(which) + "/threads:" + std::to_string(threads);
      RegisterBenchmark(name.c_str(), BM_train_step, which, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  RegisterBenchmark("generate/nietzsche/streaming", BM_generate, false)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("generate/nietzsche/windowed", BM_generate, true)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  struct HeadlineMode {
    const char* name;
    bool prefix_sharing;
    Index batch_size;
  };
  for (const HeadlineMode mode :
       {HeadlineMode{"tutorial", false, 32}, HeadlineMode{"prefix_sharing", true, 32},
        HeadlineMode{"prefix_sharing_batch5", true, 5}}) {
    for (const Index threads : {1, 2}) {
      const std::string name =
          std::string("headline_epoch/") + mode.name + "/threads:" + std::to_string(threads);
      RegisterBenchmark(name.c_str(), BM_headline_epoch, mode.prefix_sharing, mode.batch_size, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace seqlm::bench
