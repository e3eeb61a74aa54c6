// Checkpoints (train/checkpoint.hpp): load_checkpoint on arbitrary bytes, as they are and with
// the checksum fixed up (fuzz_files.hpp), then a real resume: the optimizer restored from the
// file and fit() continued with the callbacks of the run the seeds come from (resume_run.hpp).
//
// Properties of every loaded checkpoint:
//   * saving it again is a fixed point: save(load(save(c))) writes the same bytes as save(c)
//     (model, optimizer state, training state and callback states all come back exactly);
//   * when restore_optimizer and fit() accept it, the run continues to the end of the current
//     epoch, and the checkpoint its ModelCheckpoint wrote on the way loads again.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <seqlm/optim/make_optimizer.hpp>
#include <string>

#include "fuzz_files.hpp"
#include "resume_run.hpp"

using namespace seqlm;

namespace {

// Resumes at most this many batches per epoch (the seeds have 3), and epochs below 2^40 (so
// that epoch + 1 cannot overflow in the harness itself).
constexpr Index max_resumed_batches = 8;
constexpr Index max_resumed_epoch = Index{1} << 40;

std::string save(const LoadedCheckpoint<float>& loaded, const std::string& path) {
  ModelFileContents contents;
  contents.tokenizer = loaded.model.tokenizer;
  contents.training_config = loaded.model.training_config;
  contents.metadata = loaded.model.metadata;
  save_checkpoint(path, loaded.model.model, loaded.optimizer, loaded.state, contents);
  return read_text_file(path);
}

void resume(LoadedCheckpoint<float>& loaded) {
  const std::string directory = fuzz::scratch_directory();
  const std::string written = directory + "/resumed.checkpoint";
  const TrainingState& state = loaded.state;
  const Index batches = state.batches_per_epoch > 0 ? state.batches_per_epoch : 3;
  if (batches > max_resumed_batches || state.epoch >= max_resumed_epoch) return;

  Sequential<float>& model = loaded.model.model;
  std::unique_ptr<Optimizer<float>> optimizer;
  if (!fuzz::accepted([&] { optimizer = restore_optimizer<float>(loaded.optimizer); })) return;
  fuzz::ResumeRun run(written, directory + "/resumed.csv");
  run.options.epochs = state.epoch + 1;
  const fuzz::CountingSequences data{batches * fuzz::resume_batch_size, model.input_spec().size,
                                     model.output_size()};
  ::unlink(written.c_str());
  if (!fuzz::accepted([&] {
        fit(model, *optimizer, data, run.options, static_cast<const NoValidation*>(nullptr), &loaded.state);
      }))
    return;
  if (::access(written.c_str(), F_OK) == 0) {
    fuzz::must("loading the checkpoint the resumed run wrote",
               [&] { return load_checkpoint<float>(written); });
  }
}

void load_and_check(const std::string& path) {
  std::optional<LoadedCheckpoint<float>> loaded =
      fuzz::refused_or([&] { return load_checkpoint<float>(path); });
  if (!loaded) return;

  const std::string directory = fuzz::scratch_directory();
  const std::string first = fuzz::must("save_checkpoint(load_checkpoint(c))",
                                       [&] { return save(*loaded, directory + "/first.checkpoint"); });
  const LoadedCheckpoint<float> again = fuzz::must("load_checkpoint(save_checkpoint())", [&] {
    return load_checkpoint<float>(directory + "/first.checkpoint");
  });
  const std::string second =
      fuzz::must("saving it again", [&] { return save(again, directory + "/second.checkpoint"); });
  fuzz::check(first == second, "save(load(save(c))) == save(c)");

  resume(*loaded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file;
  const std::string_view input = fuzz::bytes(data, size);
  load_and_check(file.set(input));
  if (const std::optional<std::string> fixed = fuzz::with_fixed_checksum(input))
    load_and_check(file.set(*fixed));
  return 0;
}
