//! Streaming segmentation of line-oriented text: read lines, segment them (in parallel on a
//! rayon pool when asked), write one output line per input line, in input order.
//!
//! Output formats ([`Format`]):
//! - [`Format::Text`]: the tokens separated by single spaces, whitespace tokens dropped; with
//!   part-of-speech tags each token is `word/tag`.
//! - [`Format::Json`]: one JSON array per line of objects
//!   `{"word", "start", "end", "byte_start", "byte_end"[, "pos"]}` (offsets in characters and
//!   bytes from the start of the line, whitespace tokens included). The tokens of
//!   [`Granularity::Words`] concatenate to the line exactly, including the `\r` of a CRLF line
//!   ending (only the `\n` is the separator).
//!
//! The parallel output is byte-identical to the serial one: lines are cut into blocks, each
//! block's lines are formatted independently into their own buffers, and the buffers are written
//! in order.

use std::io::{BufRead, Write};

use rayon::prelude::*;

use crate::segment::{Scratch, Segmenter, count_chars};
use crate::{Error, Result};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Space-separated words.
    Text,
    /// A JSON array of token objects per line.
    Json,
}

/// Which tokens are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// The segmentation's words ([`Segmenter::tokenize`]).
    Words,
    /// Words plus their dictionary sub-words ([`Segmenter::tokenize_search`]).
    Search,
}

/// Whether part-of-speech tags are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pos {
    /// No tags.
    Off,
    /// Tags from [`crate::pos::tag`].
    On,
}

/// What to write and how many threads to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Output format.
    pub format: Format,
    /// Token granularity.
    pub granularity: Granularity,
    /// Part-of-speech tags.
    pub pos: Pos,
    /// Worker threads (1 = the calling thread only).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Text,
            granularity: Granularity::Words,
            pos: Pos::Off,
            threads: 1,
        }
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read.
    pub lines: u64,
    /// Characters segmented (line terminators excluded).
    pub chars: u64,
}

/// Lines per block handed to the pool, and the byte budget of a block.
const BLOCK_LINES: usize = 4096;
const BLOCK_BYTES: usize = 1 << 20;

/// Formats one line (without its `\n`) into `out` (appended), followed by `\n`.
///
/// # Errors
/// [`Error::Utf8Line`] if the line is not valid UTF-8 (`line` is its 1-based number).
pub fn format_line(
    seg: &Segmenter,
    opts: &Options,
    line: &[u8],
    line_no: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    format_with(seg, opts, line, line_no, &mut Scratch::default(), out)
}

fn format_with(
    seg: &Segmenter,
    opts: &Options,
    line: &[u8],
    line_no: usize,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<()> {
    let line = match opts.format {
        // The `\r` of CRLF is part of the line in JSON (lossless), not in text output.
        Format::Json => line,
        Format::Text => line.strip_suffix(b"\r").unwrap_or(line),
    };
    let text = std::str::from_utf8(line).map_err(|e| Error::Utf8Line {
        line: line_no,
        offset: e.valid_up_to(),
    })?;
    let mut tokens = Vec::new();
    match opts.granularity {
        Granularity::Words => seg.tokenize_into(text, scratch, &mut tokens),
        Granularity::Search => {
            seg.tokenize_search_into(text, scratch, &mut Vec::new(), &mut tokens)
        }
    }
    if opts.pos == Pos::On {
        seg.pos_tag(&mut tokens);
    }
    match opts.format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &tokens)?;
        }
        Format::Text => {
            let mut first = true;
            for t in tokens
                .iter()
                .filter(|t| !t.word.chars().all(char::is_whitespace))
            {
                if !first {
                    out.push(b' ');
                }
                out.extend_from_slice(t.word.as_bytes());
                if let Some(p) = t.pos {
                    out.push(b'/');
                    out.extend_from_slice(p.as_bytes());
                }
                first = false;
            }
        }
    }
    out.push(b'\n');
    Ok(())
}

/// Segments every line of `input` into `out`.
///
/// Lines before an invalid one are written before the error is returned.
///
/// # Errors
/// [`Error::Utf8Line`] for a line that is not UTF-8, [`Error::Io`] for read or write errors
/// (a closed pipe included), [`Error::Invalid`] for `threads == 0`.
pub fn run(
    seg: &Segmenter,
    opts: &Options,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> Result<Stats> {
    if opts.threads == 0 {
        return Err(Error::Invalid("threads must be at least 1".into()));
    }
    let pool = if opts.threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.threads)
                .build()
                .map_err(|e| {
                    Error::Invalid(format!("cannot start {} threads: {e}", opts.threads))
                })?,
        )
    } else {
        None
    };
    let mut stats = Stats::default();
    let mut block: Vec<Vec<u8>> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut bufs: Vec<Vec<u8>> = Vec::new();
    let mut serial = Scratch::default();
    let mut out_buf = Vec::new();
    loop {
        // Read a block of lines.
        let mut bytes = 0;
        while block.len() < BLOCK_LINES && bytes < BLOCK_BYTES {
            let mut line = spare.pop().unwrap_or_default();
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                spare.push(line);
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            bytes += line.len();
            block.push(line);
        }
        if block.is_empty() {
            return Ok(stats);
        }
        let first_line = stats.lines as usize + 1;
        let results: Vec<Result<()>> = match &pool {
            Some(pool) => {
                bufs.resize_with(block.len(), Vec::new);
                pool.install(|| {
                    block
                        .par_iter()
                        .zip(bufs.par_iter_mut())
                        .enumerate()
                        .map_init(Scratch::default, |scratch, (i, (line, buf))| {
                            buf.clear();
                            format_with(seg, opts, line, first_line + i, scratch, buf)
                        })
                        .collect()
                })
            }
            None => {
                bufs.resize_with(block.len(), Vec::new);
                block
                    .iter()
                    .zip(bufs.iter_mut())
                    .enumerate()
                    .map(|(i, (line, buf))| {
                        buf.clear();
                        format_with(seg, opts, line, first_line + i, &mut serial, buf)
                    })
                    .collect()
            }
        };
        out_buf.clear();
        for ((line, buf), r) in block.iter().zip(&bufs).zip(results) {
            if let Err(e) = r {
                out.write_all(&out_buf)?;
                return Err(e);
            }
            stats.lines += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            stats.chars += std::str::from_utf8(line).map_or(0, |t| count_chars(t) as u64);
            out_buf.extend_from_slice(buf);
        }
        out.write_all(&out_buf)?;
        spare.append(&mut block);
    }
}
