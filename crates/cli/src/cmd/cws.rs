//! `kexue cws`: train, segment, score.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use cws::train::{Resume, TrainConfig};
use cws::{Dict, FastTagger, Mode, Segmenter, stream};

/// Chinese word segmentation trained from a dictionary alone (kexue.fm/archives/4245).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Train the character tagger on pseudo-sentences sampled from a dictionary.
    ///
    /// Sentences of 1..16 words are drawn with probability ∝ count (alias method), tagged
    /// B/M/E/S and streamed into the model; nothing is written but the checkpoints. Each
    /// checkpoint is a complete folder OUT/gen-<step>/ and OUT/CURRENT names the newest, so a
    /// kill at any moment leaves a resumable run. Training resumes from the current checkpoint
    /// (same settings; --steps is the total and may grow), and stops on a NaN loss. A run is
    /// deterministic for a --seed (on the CPU).
    ///
    /// The shipped model (models/cws) is the defaults: `kexue cws train --dict data/dict.txt
    /// --out runs/cws` (6,000 steps, about 11 minutes on two CPU cores). What helped and what
    /// did not (tempering, sentence lengths, training length) is in RESULTS.md: tempering
    /// with --temper alone shifts draws from single characters to long words and ruins the
    /// tagger; use it with --temper-within-lengths.
    Train(TrainArgs),
    /// Segment UTF-8 text, one output line per input line, words separated by spaces.
    ///
    /// Reads stdin (or the given files). Without --dict/--model the dictionary and model
    /// shipped in the repository are used (compiled into the binary).
    Seg(SegArgs),
    /// Score a prediction against a gold segmentation: word-span P, R, F1, OOV and IV recall.
    Score(ScoreArgs),
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Dictionary (`word count [tag]` per line, e.g. jieba's dict.txt).
    #[arg(long)]
    dict: PathBuf,
    /// Output model directory (config.json, vocab.txt, model.safetensors, state.json).
    #[arg(long)]
    out: PathBuf,
    /// Total optimiser steps; resuming with a larger value continues to the new total.
    #[arg(long, default_value_t = 6000)]
    steps: usize,
    /// Pseudo-sentences per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Longest pseudo-sentence in characters (longer draws are rejected).
    #[arg(long, default_value_t = 48)]
    max_chars: usize,
    /// Peak learning rate (AdamW, cosine decay to a tenth).
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of characters replaced by the unknown id during training.
    #[arg(long, default_value_t = 0.02)]
    unk_rate: f64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 250)]
    checkpoint_every: usize,
    /// Most characters in the vocabulary (the rest map to the unknown id).
    #[arg(long, default_value_t = 7000)]
    vocab_chars: usize,
    /// Character embedding dimension.
    #[arg(long, default_value_t = 64)]
    emb_dim: usize,
    /// Hidden channels.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Width of the first convolution (odd).
    #[arg(long, default_value_t = 7)]
    window: usize,
    /// Width of the output convolution (odd).
    #[arg(long, default_value_t = 3)]
    out_window: usize,
    /// Words are drawn with probability ∝ count^temper (1 = ∝ frequency as in the note;
    /// smaller values show rare words more often).
    #[arg(long, default_value_t = 1.0)]
    temper: f64,
    /// Apply --temper within each word-length class: every length keeps its share of the
    /// draws under ∝ count (plain tempering shifts draws from single characters to long
    /// words, which ruins the tagger; RESULTS.md).
    #[arg(long)]
    temper_within_lengths: bool,
    /// Most words per pseudo-sentence (n ~ uniform on 1..=max-words).
    #[arg(long, default_value_t = 16)]
    max_words: usize,
    /// Start from the weights of this model folder (same shape and vocabulary; e.g.
    /// models/cws) instead of a random initialisation, to fine-tune with other settings.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Ignore an existing checkpoint in --out and start over.
    #[arg(long)]
    restart: bool,
    /// Device: cpu, or cuda (the first CUDA GPU; needs a build with
    /// `cargo build --release -p cli --features cuda`), the same flag as the diffusion commands.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Old spelling of `--device cuda` (hidden; kept so existing scripts work).
    #[arg(long, hide = true, conflicts_with = "device")]
    cuda: bool,
}

/// `--device` of `cws train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// Neural tagger + constrained Viterbi.
    Neural,
    /// Unigram DAG + maximum-probability route (fastest).
    Dict,
    /// Tagger scores + dictionary log-probabilities on a word lattice.
    Hybrid,
    /// Hybrid words plus the 2- and 3-character dictionary words inside longer words, for
    /// search-engine indexing (jieba's cut_for_search); tokens overlap.
    Search,
}

#[derive(Debug, clap::Args)]
struct SegArgs {
    /// Segmentation mode.
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: ModeArg,
    /// Dictionary replacing the shipped one (dict, hybrid and search modes).
    #[arg(long)]
    dict: Option<PathBuf>,
    /// User dictionary (dict, hybrid and search modes), one `word [count] [tag]` per line.
    /// Every listed word is kept whole wherever it occurs (without a count it gets the count
    /// that makes it win); `word 0` deletes a word (never a token). A word listed twice with
    /// different settings is an error.
    #[arg(long)]
    user_dict: Option<PathBuf>,
    /// Model directory replacing the shipped one (neural, hybrid and search modes); a
    /// `cws train --out` folder works (its current checkpoint is used).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Dictionary weight λ of the hybrid and search modes [default: see `cws::builtin`].
    #[arg(long)]
    lambda: Option<f32>,
    /// Print each line's tokens as a JSON array of {"word", "start", "end", "byte_start",
    /// "byte_end"} objects (character and byte offsets in the line; with --pos also "pos").
    /// Whitespace tokens and the `\r` of CRLF line ends are included, so the words
    /// concatenate to the line.
    #[arg(long)]
    json: bool,
    /// Part-of-speech tags from the dictionary's tag column (`word/tag` in text output):
    /// m for numbers, eng for Latin runs, x for punctuation and symbols; a word the
    /// dictionary lacks gets the tag of its longest tagged suffix word, else x.
    #[arg(long)]
    pos: bool,
    /// Worker threads segmenting lines in parallel (output order and bytes are the same as
    /// with one thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print throughput to stderr at the end as JSON (`chars`, `seconds`, `chars_per_s`;
    /// model and dictionary loading excluded).
    #[arg(long)]
    stats: bool,
    /// Input files (default: stdin).
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ScoreArgs {
    /// Gold segmentation: one sentence per line, words separated by spaces.
    gold: PathBuf,
    /// Predicted segmentation of the same text.
    pred: PathBuf,
    /// Word list for OOV/IV recall (a dictionary file; the first field of each line).
    #[arg(long)]
    words: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `kexue cws`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Train(a) => train(a),
        Command::Seg(a) => seg(a),
        Command::Score(a) => score(a),
    }
}

fn load_dict(path: &Option<PathBuf>, user: &Option<PathBuf>) -> anyhow::Result<Dict> {
    let mut dict = match path {
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening dictionary {}", p.display()))?;
            Dict::parse(BufReader::new(f))
                .with_context(|| format!("reading dictionary {}", p.display()))?
        }
        None => cws::builtin::dict().context("loading the built-in dictionary")?,
    };
    if let Some(p) = user {
        let f =
            File::open(p).with_context(|| format!("opening user dictionary {}", p.display()))?;
        dict.add_user(BufReader::new(f))
            .with_context(|| format!("reading user dictionary {}", p.display()))?;
    }
    Ok(dict)
}

fn load_tagger(dir: &Option<PathBuf>) -> anyhow::Result<FastTagger> {
    match dir {
        Some(d) => FastTagger::load(d).with_context(|| format!("loading model {}", d.display())),
        None => cws::builtin::tagger().context("loading the built-in model"),
    }
}

fn seg(a: SegArgs) -> anyhow::Result<()> {
    if a.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    if a.lambda.is_some() && !matches!(a.mode, ModeArg::Hybrid | ModeArg::Search) {
        anyhow::bail!("--lambda applies to --mode hybrid or search only");
    }
    let segmenter = match a.mode {
        ModeArg::Dict => {
            if a.model.is_some() {
                anyhow::bail!(
                    "--model applies to --mode neural, hybrid or search; --mode dict uses no model"
                );
            }
            Segmenter::dict(load_dict(&a.dict, &a.user_dict)?)
        }
        ModeArg::Neural => {
            if a.dict.is_some() || a.user_dict.is_some() {
                anyhow::bail!(
                    "--dict and --user-dict apply to --mode dict, hybrid or search, not neural"
                );
            }
            Segmenter::neural(load_tagger(&a.model)?)
        }
        ModeArg::Hybrid | ModeArg::Search => Segmenter::hybrid(
            load_tagger(&a.model)?,
            load_dict(&a.dict, &a.user_dict)?,
            a.lambda.unwrap_or(cws::builtin::HYBRID_LAMBDA),
        )?,
    };
    debug_assert!(matches!(
        segmenter.mode(),
        Mode::Dict | Mode::Neural | Mode::Hybrid
    ));
    let opts = stream::Options {
        format: if a.json {
            stream::Format::Json
        } else {
            stream::Format::Text
        },
        granularity: if a.mode == ModeArg::Search {
            stream::Granularity::Search
        } else {
            stream::Granularity::Words
        },
        pos: if a.pos {
            stream::Pos::On
        } else {
            stream::Pos::Off
        },
        threads: a.threads,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let start = std::time::Instant::now();
    let mut chars = 0u64;
    if a.files.is_empty() {
        let stdin = std::io::stdin();
        chars += stream::run(&segmenter, &opts, stdin.lock(), &mut out)
            .map_err(plain_io)
            .context("segmenting stdin")?
            .chars;
    } else {
        for p in &a.files {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            chars += stream::run(&segmenter, &opts, BufReader::new(f), &mut out)
                .map_err(plain_io)
                .with_context(|| format!("segmenting {}", p.display()))?
                .chars;
        }
    }
    out.flush()?;
    if a.stats {
        let seconds = start.elapsed().as_secs_f64();
        let v = serde_json::json!({
            "chars": chars,
            "seconds": seconds,
            "chars_per_s": chars as f64 / seconds.max(1e-9),
            "threads": a.threads,
        });
        eprintln!("{v}");
    }
    Ok(())
}

/// An I/O error as itself, so that `main` recognises a closed stdout (`BrokenPipe`) in the chain.
fn plain_io(e: cws::Error) -> anyhow::Error {
    match e {
        cws::Error::Io(io) => io.into(),
        e => e.into(),
    }
}

fn read_text(p: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    File::open(p)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", p.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (byte {})",
            p.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn score(a: ScoreArgs) -> anyhow::Result<()> {
    let gold = read_text(&a.gold)?;
    let pred = read_text(&a.pred)?;
    let words: Option<HashSet<String>> = match &a.words {
        Some(p) => Some(
            read_text(p)?
                .lines()
                .filter_map(|l| l.split([' ', '\t']).next())
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_start_matches('\u{feff}').to_owned())
                .collect(),
        ),
        None => None,
    };
    let c = cws::score::score_texts(&gold, &pred, words.as_ref())
        .with_context(|| format!("scoring {} against {}", a.pred.display(), a.gold.display()))?;
    let mut stdout = std::io::stdout().lock();
    if a.json {
        let v = serde_json::json!({
            "precision": c.precision(),
            "recall": c.recall(),
            "f1": c.f1(),
            "oov_recall": c.oov_recall(),
            "iv_recall": c.iv_recall(),
            "exact_match": c.exact_match(),
            "counts": c,
        });
        writeln!(stdout, "{v}")?;
    } else {
        let opt = |x: Option<f64>| x.map_or("n/a (no --words)".to_string(), |v| format!("{v:.4}"));
        writeln!(
            stdout,
            "precision   {:.4}  ({} / {} predicted words)",
            c.precision(),
            c.correct,
            c.pred_words
        )?;
        writeln!(
            stdout,
            "recall      {:.4}  ({} / {} gold words)",
            c.recall(),
            c.correct,
            c.gold_words
        )?;
        writeln!(stdout, "f1          {:.4}", c.f1())?;
        writeln!(
            stdout,
            "oov_recall  {}  ({} OOV gold words)",
            opt(c.oov_recall()),
            c.oov_gold
        )?;
        writeln!(stdout, "iv_recall   {}", opt(c.iv_recall()))?;
        writeln!(
            stdout,
            "exact_match {:.4}  ({} / {} sentences)",
            c.exact_match(),
            c.exact,
            c.sentences
        )?;
    }
    Ok(())
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let f =
        File::open(&a.dict).with_context(|| format!("opening dictionary {}", a.dict.display()))?;
    let dict = Dict::parse(BufReader::new(f))
        .with_context(|| format!("reading dictionary {}", a.dict.display()))?;
    let cfg = TrainConfig {
        steps: a.steps,
        batch: a.batch,
        max_chars: a.max_chars,
        lr: a.lr,
        seed: a.seed,
        unk_rate: a.unk_rate,
        checkpoint_every: a.checkpoint_every,
        vocab_chars: a.vocab_chars,
        emb_dim: a.emb_dim,
        hidden: a.hidden,
        window: a.window,
        out_window: a.out_window,
        temper: a.temper,
        max_words: a.max_words,
        init: a.init,
        temper_within_lengths: a.temper_within_lengths,
    };
    let dev = if a.cuda || a.device == DeviceArg::Cuda {
        cws::Device::new_cuda(0).context(
            "opening CUDA device 0 for --device cuda (needs a build with \
             `cargo build --release -p cli --features cuda` and a GPU)",
        )?
    } else {
        cws::Device::Cpu
    };
    let resume = if a.restart {
        Resume::Never
    } else {
        Resume::IfPresent
    };
    let bar = indicatif::ProgressBar::new(cfg.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps, eta {eta} {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let mut first_step = None;
    let state = cws::train::train(&dict, &a.out, &cfg, resume, &dev, |p| {
        first_step.get_or_insert(p.step);
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.4} acc {:.4}", p.loss, p.accuracy));
    })
    .with_context(|| format!("training into {}", a.out.display()))?;
    bar.finish_and_clear();
    match first_step {
        Some(first) => println!(
            "trained steps {first}..={} of {}: loss {:.4}, tag accuracy {:.4} (running means); \
             model in {}",
            state.step,
            cfg.steps,
            state.loss,
            state.accuracy,
            a.out.display()
        ),
        None => println!(
            "nothing to do: {} already holds step {} of {} (loss {:.4}, tag accuracy {:.4} at \
             that checkpoint); pass a larger --steps to train on, or --restart to start over",
            a.out.display(),
            state.step,
            cfg.steps,
            state.loss,
            state.accuracy
        ),
    }
    Ok(())
}
