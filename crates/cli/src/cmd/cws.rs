//! `kexue cws`: train, segment, score.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use cws::train::{Resume, TrainConfig};
use cws::{Dict, FastTagger, Mode, Segmenter};

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
    /// B/M/E/S and streamed into the model; nothing is written but the checkpoints. Training
    /// resumes from OUT/state.json when present (same settings), and stops on a NaN loss.
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
    /// Optimiser steps.
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
    /// Ignore an existing checkpoint in --out and start over.
    #[arg(long)]
    restart: bool,
    /// Train on the GPU (needs the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    /// Neural tagger + constrained Viterbi.
    Neural,
    /// Unigram DAG + maximum-probability route (fastest).
    Dict,
    /// Tagger scores + dictionary log-probabilities on a word lattice.
    Hybrid,
}

#[derive(Debug, clap::Args)]
struct SegArgs {
    /// Segmentation mode.
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: ModeArg,
    /// Dictionary replacing the shipped one (dict and hybrid modes).
    #[arg(long)]
    dict: Option<PathBuf>,
    /// User dictionary adding words (`word [count] [tag]`; dict and hybrid modes).
    #[arg(long)]
    user_dict: Option<PathBuf>,
    /// Model directory replacing the shipped one (neural and hybrid modes).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Dictionary weight λ of the hybrid mode.
    #[arg(long, default_value_t = cws::builtin::HYBRID_LAMBDA)]
    lambda: f32,
    /// Print each line's tokens as a JSON array instead, whitespace tokens included
    /// (lossless: the tokens concatenate to the line).
    #[arg(long)]
    json: bool,
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
    let segmenter = match a.mode {
        ModeArg::Dict => Segmenter::dict(load_dict(&a.dict, &a.user_dict)?),
        ModeArg::Neural => {
            if a.dict.is_some() || a.user_dict.is_some() {
                anyhow::bail!("--dict and --user-dict apply to --mode dict or hybrid, not neural");
            }
            Segmenter::neural(load_tagger(&a.model)?)
        }
        ModeArg::Hybrid => Segmenter::hybrid(
            load_tagger(&a.model)?,
            load_dict(&a.dict, &a.user_dict)?,
            a.lambda,
        )?,
    };
    debug_assert!(matches!(
        segmenter.mode(),
        Mode::Dict | Mode::Neural | Mode::Hybrid
    ));
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let start = std::time::Instant::now();
    let mut chars = 0u64;
    if a.files.is_empty() {
        let stdin = std::io::stdin();
        chars += seg_stream(&segmenter, stdin.lock(), "stdin", a.json, &mut out)?;
    } else {
        for p in &a.files {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            chars += seg_stream(
                &segmenter,
                BufReader::new(f),
                &p.display().to_string(),
                a.json,
                &mut out,
            )?;
        }
    }
    out.flush()?;
    if a.stats {
        let seconds = start.elapsed().as_secs_f64();
        let v = serde_json::json!({
            "chars": chars,
            "seconds": seconds,
            "chars_per_s": chars as f64 / seconds.max(1e-9),
        });
        eprintln!("{v}");
    }
    Ok(())
}

fn seg_stream(
    segmenter: &Segmenter,
    mut input: impl BufRead,
    name: &str,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut chars = 0u64;
    let mut scratch = cws::Scratch::default();
    loop {
        buf.clear();
        if input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name}"))?
            == 0
        {
            return Ok(chars);
        }
        line_no += 1;
        let mut line = &buf[..];
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l.strip_suffix(b"\r").unwrap_or(l);
        }
        let text = std::str::from_utf8(line)
            .map_err(|e| cws::Error::Utf8 {
                offset: e.valid_up_to(),
            })
            .with_context(|| format!("{name} line {line_no}"))?;
        let mut tokens = Vec::new();
        segmenter.segment_into(text, &mut scratch, &mut tokens);
        // Characters = bytes that are not UTF-8 continuation bytes (vectorises well).
        chars += text.bytes().filter(|&b| b & 0xC0 != 0x80).count() as u64;
        if json {
            serde_json::to_writer(&mut *out, &tokens)?;
        } else {
            let mut first = true;
            for t in tokens
                .iter()
                .filter(|t| !t.chars().all(char::is_whitespace))
            {
                if !first {
                    out.write_all(b" ")?;
                }
                out.write_all(t.as_bytes())?;
                first = false;
            }
        }
        out.write_all(b"\n")?;
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
    };
    let dev = if a.cuda {
        cws::Device::new_cuda(0).context("opening CUDA device 0")?
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
    let state = cws::train::train(&dict, &a.out, &cfg, resume, &dev, |p| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.4} acc {:.4}", p.loss, p.accuracy));
    })
    .with_context(|| format!("training into {}", a.out.display()))?;
    bar.finish();
    println!(
        "trained {} steps: loss {:.4}, tag accuracy {:.4}; model in {}",
        state.step,
        state.loss,
        state.accuracy,
        a.out.display()
    );
    Ok(())
}
