#!/usr/bin/python3
"""The four neural tutorial models in PyTorch, for benchmarks/pytorch_side_by_side.py.

Same architectures, shapes, losses and optimizers as seqlm's benchmarks/tutorial_models.hpp,
time-major like seqlm ((T, B, ...) tensors), float32:

  model      PyTorch layers                                          input      T    B    loss         optimizer
  nietzsche  LSTM(57, 128) -> Linear(128, 57) on the last step       one-hot    60   128  last step    RMSprop(0.01)
  poems      GRU(60, 128) -> GRU(128, 128) -> Linear(128, 60), last  one-hot    60   128  last step    RMSprop(0.001)
  machado    Embedding(82, 16) -> Conv1d(16, 32, 3) left-padded by 2  ids        128  32   every step   NAdam(0.001)
             (causal) + relu -> GRU(32, 128) -> Linear(128, 82)
  headlines  Embedding(3582, 10) -> LSTM(10, 100) -> Dropout(0.1) ->  ids        17   32   last step    Adam(0.001)
             Linear(100, 3582); prefix sharing: every step, masked

Weights start from Keras's initialisers, as seqlm's layers do (keras_initialise): they do not
change the timings, but they do change how fast the loss falls (--headline-epochs).

One-hot inputs only where the tutorial feeds them (Chollet's Nietzsche LSTM and poema-top's GRUs
read one-hot windows; Machado and the headlines use an Embedding). Keras's optimizer settings:
RMSprop rho = 0.9 (torch alpha), epsilon = 1e-7; Adam/Nadam epsilon = 1e-7. PyTorch's GRU is the
Keras reset_after = True formulation (two bias vectors), as seqlm's default GRU.

Also runnable by itself, for the peak memory of the PyTorch Nietzsche training:
  /usr/bin/python3 benchmarks/torch_models.py rss --batches 50 [--threads 1] [--data nietzsche.txt]
"""

import argparse
import csv
import json
import os
import resource
import string
import sys
import time
from collections import OrderedDict

# The tutorial shapes (vocabulary, steps, batch, a target at every step, one-hot inputs).
TUTORIALS = {
    "nietzsche": dict(vocabulary=57, steps=60, batch=128, every_position=False, one_hot=True),
    "poems": dict(vocabulary=60, steps=60, batch=128, every_position=False, one_hot=True),
    "machado": dict(vocabulary=82, steps=128, batch=32, every_position=True, one_hot=False),
    "headlines": dict(vocabulary=3582, steps=17, batch=32, every_position=False, one_hot=False),
}


# ---- the models -------------------------------------------------------------------------------


def build_model(torch, name, vocabulary=None, prefix_sharing=False):
    """The tutorial's model as an nn.Module mapping time-major inputs to logits: (B, V) for the
    last step, or (T, B, V) for every step (machado, headlines with prefix sharing)."""
    nn = torch.nn
    V = vocabulary or TUTORIALS[name]["vocabulary"]

    class Nietzsche(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.dense = nn.LSTM(V, 128), nn.Linear(128, V)

        def forward(self, x):  # x: (T, B, V) one-hot
            output, _ = self.lstm(x)
            return self.dense(output[-1])

    class Poems(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru1, self.gru2, self.dense = nn.GRU(V, 128), nn.GRU(128, 128), nn.Linear(128, V)

        def forward(self, x):  # x: (T, B, V) one-hot
            sequence, _ = self.gru1(x)
            output, _ = self.gru2(sequence)
            return self.dense(output[-1])

    class Machado(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, 16)
            self.conv = nn.Conv1d(16, 32, 3)
            self.gru, self.dense = nn.GRU(32, 128), nn.Linear(128, V)

        def forward(self, ids):  # ids: (T, B)
            x = self.embedding(ids).permute(1, 2, 0)  # (B, 16, T)
            x = torch.relu(self.conv(nn.functional.pad(x, (2, 0))))  # causal: 2 zero steps in front
            output, _ = self.gru(x.permute(2, 0, 1))  # (T, B, 128)
            return self.dense(output)

    class Headlines(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.lstm = nn.Embedding(V, 10), nn.LSTM(10, 100)
            self.dropout, self.dense = nn.Dropout(0.1), nn.Linear(100, V)

        def forward(self, ids):  # ids: (T, B)
            output, _ = self.lstm(self.embedding(ids))
            return self.dense(self.dropout(output if prefix_sharing else output[-1]))

    model = {"nietzsche": Nietzsche, "poems": Poems, "machado": Machado, "headlines": Headlines}[name]()
    return keras_initialise(torch, model)


def keras_initialise(torch, model):
    """Keras's default initialisers on every layer of `model` (what seqlm's initialize() does):
    Embedding U(-0.05, 0.05); recurrent input kernels glorot_uniform, recurrent kernels orthogonal,
    biases zero with the LSTM forget-gate bias 1 (unit_forget_bias); Conv1d and Linear kernels
    glorot_uniform, biases zero. PyTorch's fan-in/fan-out of each weight equal Keras's for the
    transposed kernel, so the distributions are the same."""
    nn = torch.nn
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Embedding):
                nn.init.uniform_(module.weight, -0.05, 0.05)
            elif isinstance(module, (nn.LSTM, nn.GRU)):
                for layer in range(module.num_layers):
                    nn.init.xavier_uniform_(getattr(module, f"weight_ih_l{layer}"))
                    nn.init.orthogonal_(getattr(module, f"weight_hh_l{layer}"))
                    getattr(module, f"bias_ih_l{layer}").zero_()
                    getattr(module, f"bias_hh_l{layer}").zero_()
                    if isinstance(module, nn.LSTM):  # gates i, f, g, o: the forget gate's bias is 1
                        H = module.hidden_size
                        getattr(module, f"bias_ih_l{layer}")[H : 2 * H] = 1.0
            elif isinstance(module, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                module.bias.zero_()
    return model


def make_optimizer(torch, name, parameters):
    if name == "nietzsche":
        return torch.optim.RMSprop(parameters, lr=0.01, alpha=0.9, eps=1e-7)
    if name == "poems":
        return torch.optim.RMSprop(parameters, lr=0.001, alpha=0.9, eps=1e-7)
    if name == "machado":
        return torch.optim.NAdam(parameters, lr=0.001, betas=(0.9, 0.999), eps=1e-7)
    return torch.optim.Adam(parameters, lr=0.001, betas=(0.9, 0.999), eps=1e-7)


def loss_of(torch, logits, targets):
    """Mean softmax cross-entropy; targets -100 do not count (padding)."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=-100)


# ---- one training step on synthetic batches ---------------------------------------------------------


def make_train_step(torch, name, seed=0, pool=4):
    """A zero-argument function doing one optimizer step of the tutorial model on a batch of
    synthetic ids of the tutorial shape (`pool` batches built beforehand, used in turn):
    zero_grad, forward, loss, backward, step."""
    torch.manual_seed(seed)
    shape = TUTORIALS[name]
    V, T, B = shape["vocabulary"], shape["steps"], shape["batch"]
    model = build_model(torch, name)
    model.train()
    optimizer = make_optimizer(torch, name, model.parameters())
    batches = []
    for _ in range(pool):
        ids = torch.randint(0, V, (T, B))
        inputs = torch.nn.functional.one_hot(ids, V).float() if shape["one_hot"] else ids
        targets = torch.randint(0, V, (T, B) if shape["every_position"] else (B,))
        batches.append((inputs, targets))
    turn = [0]

    def step():
        inputs, targets = batches[turn[0] % pool]
        turn[0] += 1
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(torch, model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


# ---- batch-1 generation with the Nietzsche model ------------------------------------------------------


def make_generator(torch, windowed, characters, temperature=0.5, window=60, seed=0):
    """A zero-argument function that writes `characters` characters with an (untrained) Nietzsche
    model at batch 1, softmax and sampling included, and returns how many it wrote.

    streaming: nn.LSTMCell sharing the LSTM's weights keeps (h, c); the 60-character prompt is read
               once, then one cell step + Linear + softmax + torch.multinomial per character;
    windowed:  the tutorial's loop: a full nn.LSTM forward over the one-hot of the last 60
               characters for every character."""
    torch.manual_seed(seed)
    V = TUTORIALS["nietzsche"]["vocabulary"]
    model = build_model(torch, "nietzsche")
    model.eval()
    cell = torch.nn.LSTMCell(V, 128)
    with torch.no_grad():
        cell.weight_ih.copy_(model.lstm.weight_ih_l0)
        cell.weight_hh.copy_(model.lstm.weight_hh_l0)
        cell.bias_ih.copy_(model.lstm.bias_ih_l0)
        cell.bias_hh.copy_(model.lstm.bias_hh_l0)
    eye = torch.eye(V)
    prompt = torch.randint(0, V, (window,)).tolist()

    def sample(logits):
        probabilities = torch.softmax(logits.reshape(-1) / temperature, dim=0)
        return int(torch.multinomial(probabilities, 1).item())

    def streaming():
        with torch.no_grad():
            h, c = torch.zeros(1, 128), torch.zeros(1, 128)
            for token in prompt:
                h, c = cell(eye[token : token + 1], (h, c))
            for _ in range(characters):
                token = sample(model.dense(h))
                h, c = cell(eye[token : token + 1], (h, c))
        return characters

    def windowed_loop():
        context = list(prompt)
        with torch.no_grad():
            for _ in range(characters):
                x = eye[torch.tensor(context[-window:])].unsqueeze(1)  # (60, 1, V) one-hot
                context.append(sample(model(x)))
        return characters

    return windowed_loop if windowed else streaming


# ---- the headlines tutorial on its real data ------------------------------------------------------------

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def clean_headline(text):
    """The tutorial's clean_text: drop string.punctuation, lower-case, drop non-ASCII."""
    text = "".join(c for c in text if c not in string.punctuation).lower()
    return text.encode("utf8").decode("ascii", "ignore")


def keras_words(text):
    """keras.preprocessing.text.text_to_word_sequence with Tokenizer()'s defaults."""
    text = text.lower().translate(str.maketrans(KERAS_FILTERS, " " * len(KERAS_FILTERS)))
    return [word for word in text.split(" ") if word]


def read_headline_data(path):
    """Headlines of the CSV (column `headline`, "Unknown" dropped), cleaned, as Keras Tokenizer()
    ids (1.. by descending count, ties by first occurrence). Returns (id lists, vocabulary)."""
    with open(path, newline="", encoding="utf-8") as file:
        headlines = [clean_headline(row["headline"]) for row in csv.DictReader(file) if row["headline"] != "Unknown"]
    counts = OrderedDict()
    for headline in headlines:
        for word in keras_words(headline):
            counts[word] = counts.get(word, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: -item[1])  # stable: ties keep first-seen order
    index = {word: k + 1 for k, (word, _) in enumerate(ordered)}
    sequences = [[index[word] for word in keras_words(headline)] for headline in headlines]
    return sequences, len(index) + 1


def make_headline_epoch(torch, sequences, vocabulary, prefix_sharing, seed=0, batch_size=32):
    """A function run(max_batches=None) -> mean training loss that trains one epoch (or its first
    max_batches batches) of the headline model with Adam, batch 32, in a fresh random order;
    run.evaluate() -> the inference loss over all (context, next word) pairs.

    tutorial:       every prefix t[0..k] (k >= 1) of every headline, pre-padded with 0 to the
                    longest headline; x = all but the last id (17 steps), y = the last id
    prefix sharing: one sequence per headline of >= 2 words, padded after its end to the longest
                    of its batch; a target at every position, padding positions ignored
    Batches are cut from the epoch's permutation inside the timed loop (as a DataLoader would)."""
    torch.manual_seed(seed)
    model = build_model(torch, "headlines", vocabulary, prefix_sharing)
    model.train()
    optimizer = make_optimizer(torch, "headlines", model.parameters())
    if prefix_sharing:
        lines = [torch.tensor(s) for s in sequences if len(s) >= 2]
        count = len(lines)
    else:
        prefixes = [s[: k + 1] for s in sequences for k in range(1, len(s))]
        length = max(len(p) for p in prefixes)
        padded = torch.zeros(len(prefixes), length, dtype=torch.long)
        for row, prefix in enumerate(prefixes):
            padded[row, length - len(prefix) :] = torch.tensor(prefix)
        x_all, y_all = padded[:, :-1].t().contiguous(), padded[:, -1].contiguous()  # (17, N), (N,)
        count = len(prefixes)

    def batch(indices):
        if not prefix_sharing:
            return x_all[:, indices], y_all[indices]
        chosen = [lines[i] for i in indices.tolist()]
        steps = max(len(line) for line in chosen) - 1
        x = torch.zeros(steps, len(chosen), dtype=torch.long)
        y = torch.full((steps, len(chosen)), -100, dtype=torch.long)
        for b, line in enumerate(chosen):
            x[: len(line) - 1, b] = line[:-1]
            y[: len(line) - 1, b] = line[1:]
        return x, y

    def run(max_batches=None):
        order = torch.randperm(count)
        total, batches = 0.0, 0
        for start in range(0, count, batch_size):
            if max_batches is not None and batches >= max_batches:
                break
            x, y = batch(order[start : start + batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(torch, model(x), y)
            loss.backward()
            optimizer.step()
            total += float(loss)
            batches += 1
        return total / max(batches, 1)

    def evaluate():
        """Inference loss (no dropout) over every (context, next word) pair of the data: the mean
        cross-entropy over all prefix examples, or over all real positions of all headlines."""
        model.eval()
        total, pairs = 0.0, 0
        with torch.no_grad():
            for start in range(0, count, 256):
                x, y = batch(torch.arange(start, min(start + 256, count)))
                logits = model(x)
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100, reduction="sum"))
                pairs += int((y != -100).sum())
        model.train()
        return total / pairs

    run.examples = count
    run.evaluate = evaluate
    return run


# ---- peak memory of the Nietzsche training (run as its own process) ------------------------------------------


def peak_rss_mib():
    """This process's peak resident set size in MiB: VmHWM, or ru_maxrss without /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def nietzsche_rss(batches, threads, data):
    """Trains the Nietzsche model for `batches` batches of 128 windows, one-hot built per batch
    from the ids (not the tutorial's whole 200,278 x 60 x 57 one-hot array), and returns a dict
    with the peak RSS (VmHWM of /proc/self/status, like seqlm_train_rss; ru_maxrss survives execve)
    at start, after importing torch and reading the text, and after training."""
    result = {"peak_rss_mib_start": peak_rss_mib()}
    import torch

    torch.set_num_threads(threads)
    if data and os.path.exists(data):
        text = open(data, encoding="utf-8").read().lower()
        index = {c: k for k, c in enumerate(sorted(set(text)))}
        ids = torch.tensor([index[c] for c in text])
        source = data
    else:
        ids = torch.randint(0, 57, (600_893,))
        source = "synthetic"
    V = int(ids.max()) + 1
    starts = torch.arange(0, len(ids) - 60, 3)
    result.update(source=source, characters=len(ids), windows=len(starts), peak_rss_mib_text=peak_rss_mib())
    model = build_model(torch, "nietzsche", V)
    optimizer = make_optimizer(torch, "nietzsche", model.parameters())
    order = torch.randperm(len(starts))
    offsets = torch.arange(60)
    begin = time.perf_counter()
    for k in range(batches):
        chosen = starts[order[k * 128 : (k + 1) * 128]]
        windows = ids[chosen[None, :] + offsets[:, None]]  # (60, 128)
        x = torch.nn.functional.one_hot(windows, V).float()
        y = ids[chosen + 60]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(torch, model(x), y)
        loss.backward()
        optimizer.step()
    result.update(batches=batches, threads=threads, seconds=time.perf_counter() - begin, loss=float(loss),
                  peak_rss_mib=peak_rss_mib(), torch=torch.__version__,
                  ru_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["rss"])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="", help="nietzsche.txt (default: synthetic ids of its size)")
    arguments = parser.parse_args()
    print(json.dumps(nietzsche_rss(arguments.batches, arguments.threads, arguments.data)))


if __name__ == "__main__":
    sys.exit(main())
