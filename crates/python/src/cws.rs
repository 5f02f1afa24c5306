//! `kexue.cws`: jieba-shaped Chinese word segmentation over the `cws` crate.
//!
//! Module functions (`cut`, `lcut`, `tokenize`, `load_userdict`, `add_word`) work on one
//! process-wide default [`Segmenter`] with the dictionary and model shipped in the repository
//! (loaded on first use); a `Segmenter` object holds its own dictionary and model. Segmentation
//! runs with the GIL released.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use cws::{Dict, FastTagger, Segmenter as CoreSegmenter};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::errors::{from_cws, value_error};

/// Fills `kexue._kexue.cws`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Segmenter>()?;
    m.add_class::<Tokens>()?;
    m.add_function(wrap_pyfunction!(cut, m)?)?;
    m.add_function(wrap_pyfunction!(lcut, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(load_userdict, m)?)?;
    m.add_function(wrap_pyfunction!(add_word, m)?)?;
    m.add_function(wrap_pyfunction!(del_word, m)?)?;
    m.add("HYBRID_LAMBDA", cws::builtin::HYBRID_LAMBDA)?;
    m.add("MODES", vec!["hybrid", "dict", "neural", "search"])?;
    Ok(())
}

/// The segmentation modes of `cws` (search = hybrid words plus their dictionary sub-words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dict,
    Neural,
    Hybrid,
    Search,
}

impl Mode {
    fn parse(name: &str) -> PyResult<Self> {
        Ok(match name {
            "dict" => Mode::Dict,
            "neural" => Mode::Neural,
            "hybrid" => Mode::Hybrid,
            "search" => Mode::Search,
            other => {
                return Err(value_error(format!(
                    "unknown mode {other:?} (expected hybrid, dict, neural or search)"
                )));
            }
        })
    }

    fn slot(self) -> usize {
        match self {
            Mode::Dict => 0,
            Mode::Neural => 1,
            Mode::Hybrid | Mode::Search => 2,
        }
    }
}

/// Dictionary, model and the segmenters built from them (rebuilt after a dictionary change).
struct State {
    dict: Option<Dict>,
    tagger: Option<FastTagger>,
    lambda: f32,
    built: [Option<CoreSegmenter>; 3],
}

impl State {
    fn dict_mut(&mut self) -> PyResult<&mut Dict> {
        if self.dict.is_none() {
            self.dict = Some(cws::builtin::dict().map_err(from_cws)?);
        }
        self.built = [None, None, None];
        Ok(self.dict.as_mut().expect("just set"))
    }

    fn segmenter(&mut self, mode: Mode) -> PyResult<&CoreSegmenter> {
        if self.built[mode.slot()].is_none() {
            if mode != Mode::Neural && self.dict.is_none() {
                self.dict = Some(cws::builtin::dict().map_err(from_cws)?);
            }
            if mode != Mode::Dict && self.tagger.is_none() {
                self.tagger = Some(cws::builtin::tagger().map_err(from_cws)?);
            }
            let dict = || self.dict.clone().expect("loaded above");
            let tagger = || self.tagger.clone().expect("loaded above");
            let seg = match mode {
                Mode::Dict => CoreSegmenter::dict(dict()),
                Mode::Neural => CoreSegmenter::neural(tagger()),
                Mode::Hybrid | Mode::Search => {
                    CoreSegmenter::hybrid(tagger(), dict(), self.lambda).map_err(from_cws)?
                }
            };
            self.built[mode.slot()] = Some(seg);
        }
        Ok(self.built[mode.slot()].as_ref().expect("built above"))
    }
}

/// A segmenter with its own dictionary and model (the shipped ones unless paths are given).
#[pyclass(module = "kexue.cws", frozen)]
pub struct Segmenter {
    mode: Mode,
    state: RwLock<State>,
}

#[pymethods]
impl Segmenter {
    /// `mode`: the default mode of `cut`; `dict`: a dictionary file replacing the shipped one
    /// (`word count [tag]` per line); `user_dict`: a user dictionary added to it; `model`: a
    /// tagger folder (`kexue cws train --out`); `lam`: the hybrid weight λ.
    #[new]
    #[pyo3(signature = (mode = "hybrid", dict = None, user_dict = None, model = None, lam = cws::builtin::HYBRID_LAMBDA))]
    fn new(
        py: Python<'_>,
        mode: &str,
        dict: Option<PathBuf>,
        user_dict: Option<PathBuf>,
        model: Option<PathBuf>,
        lam: f32,
    ) -> PyResult<Self> {
        let mode = Mode::parse(mode)?;
        if !(lam.is_finite() && lam >= 0.0) {
            return Err(value_error(format!("lam must be ≥ 0, got {lam}")));
        }
        let state = py.detach(|| -> PyResult<State> {
            let dict = match dict {
                Some(p) => Some(
                    Dict::parse(BufReader::new(open(&p, "dictionary")?))
                        .map_err(|e| with_path(e, &p))?,
                ),
                None => None,
            };
            let tagger = match model {
                Some(p) => Some(FastTagger::load(&p).map_err(|e| with_path(e, &p))?),
                None => None,
            };
            let mut state = State {
                dict,
                tagger,
                lambda: lam,
                built: [None, None, None],
            };
            if let Some(p) = user_dict {
                add_user_file(&mut state, &p)?;
            }
            Ok(state)
        })?;
        Ok(Self {
            mode,
            state: RwLock::new(state),
        })
    }

    /// Segments `text`; an iterator of words that concatenate to `text`.
    #[pyo3(signature = (text, mode = None))]
    fn cut(&self, py: Python<'_>, text: &str, mode: Option<&str>) -> PyResult<Tokens> {
        let spans = self.spans(py, text, mode)?;
        Ok(Tokens::words(py, text, &spans))
    }

    /// Segments `text` into a list of words.
    #[pyo3(signature = (text, mode = None))]
    fn lcut(&self, py: Python<'_>, text: &str, mode: Option<&str>) -> PyResult<Vec<Py<PyAny>>> {
        let spans = self.spans(py, text, mode)?;
        Ok(Tokens::words(py, text, &spans).items)
    }

    /// An iterator of `(word, start, end)` with `text[start:end] == word` (character offsets).
    #[pyo3(signature = (text, mode = None))]
    fn tokenize(&self, py: Python<'_>, text: &str, mode: Option<&str>) -> PyResult<Tokens> {
        let spans = self.spans(py, text, mode)?;
        Tokens::triples(py, text, &spans)
    }

    /// Adds a user dictionary file (`word [count] [tag]` per line; a missing count is jieba's
    /// suggested count).
    fn load_userdict(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| add_user_file(&mut *self.write()?, &path))
    }

    /// Adds one word (count = jieba's suggested count when `freq` is None).
    #[pyo3(signature = (word, freq = None, tag = None))]
    fn add_word(&self, word: &str, freq: Option<u64>, tag: Option<&str>) -> PyResult<()> {
        add_one_word(&mut *self.write()?, word, freq, tag)
    }

    /// Removes a word from the dictionary: it is never a token of the dict, hybrid and search
    /// modes afterwards (jieba's `del_word`).
    fn del_word(&self, word: &str) -> PyResult<()> {
        self.write()?.dict_mut()?.del_word(word).map_err(from_cws)
    }

    /// The default mode of `cut`.
    #[getter]
    fn mode(&self) -> &'static str {
        match self.mode {
            Mode::Dict => "dict",
            Mode::Neural => "neural",
            Mode::Hybrid => "hybrid",
            Mode::Search => "search",
        }
    }

    fn __repr__(&self) -> String {
        format!("Segmenter(mode={:?})", self.mode())
    }
}

impl Segmenter {
    fn write(&self) -> PyResult<std::sync::RwLockWriteGuard<'_, State>> {
        self.state.write().map_err(|_| poisoned())
    }

    /// Byte ranges of the tokens of `text`, computed without the GIL.
    fn spans(&self, py: Python<'_>, text: &str, mode: Option<&str>) -> PyResult<Vec<Span>> {
        let mode = match mode {
            Some(m) => Mode::parse(m)?,
            None => self.mode,
        };
        py.detach(|| {
            let spans_of = |seg: &CoreSegmenter| {
                let tokens = if mode == Mode::Search {
                    seg.tokenize_search(text)
                } else {
                    seg.tokenize(text)
                };
                tokens
                    .iter()
                    .map(|t| Span {
                        bytes: (t.byte_start, t.byte_end),
                        chars: (t.start, t.end),
                    })
                    .collect::<Vec<_>>()
            };
            // Shared lock when the segmenter is built (concurrent calls run in parallel); the
            // exclusive one only to build it.
            {
                let state = self.state.read().map_err(|_| poisoned())?;
                if let Some(seg) = &state.built[mode.slot()] {
                    return Ok(spans_of(seg));
                }
            }
            let mut state = self.write()?;
            Ok(spans_of(state.segmenter(mode)?))
        })
    }
}

/// One token's byte range and character range in the text (from the library's `Token`).
#[derive(Debug, Clone, Copy)]
struct Span {
    bytes: (usize, usize),
    chars: (usize, usize),
}

fn poisoned() -> PyErr {
    PyRuntimeError::new_err("the segmenter was poisoned by a panic")
}

/// The tokens of one call, handed out one by one (`cut`, `tokenize`).
#[pyclass(module = "kexue.cws")]
pub struct Tokens {
    items: Vec<Py<PyAny>>,
    next: usize,
}

#[pymethods]
impl Tokens {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> Option<Py<PyAny>> {
        let item = self.items.get(self.next).map(|o| o.clone_ref(py));
        self.next += 1;
        item
    }

    fn __len__(&self) -> usize {
        self.items.len().saturating_sub(self.next)
    }
}

impl Tokens {
    fn words(py: Python<'_>, text: &str, spans: &[Span]) -> Self {
        let items = spans
            .iter()
            .map(|s| {
                PyString::new(py, &text[s.bytes.0..s.bytes.1])
                    .into_any()
                    .unbind()
            })
            .collect();
        Self { items, next: 0 }
    }

    /// `(word, start, end)` with character offsets (Python string indices).
    fn triples(py: Python<'_>, text: &str, spans: &[Span]) -> PyResult<Self> {
        let mut items = Vec::with_capacity(spans.len());
        for s in spans {
            let word = &text[s.bytes.0..s.bytes.1];
            let (start, end) = s.chars;
            items.push(
                PyTuple::new(
                    py,
                    [
                        word.into_pyobject(py)?.into_any(),
                        start.into_pyobject(py)?.into_any(),
                        end.into_pyobject(py)?.into_any(),
                    ],
                )?
                .into_any()
                .unbind(),
            );
        }
        Ok(Self { items, next: 0 })
    }
}

fn open(path: &PathBuf, what: &str) -> PyResult<File> {
    File::open(path).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("opening {what} {}: {e}", path.display()))
    })
}

fn with_path(e: cws::Error, path: &std::path::Path) -> PyErr {
    let err = from_cws(e);
    Python::attach(|py| {
        let msg = format!("{}: {}", path.display(), err.value(py));
        PyErr::from_type(err.get_type(py), msg)
    })
}

fn add_user_file(state: &mut State, path: &PathBuf) -> PyResult<()> {
    let file = open(path, "user dictionary")?;
    state
        .dict_mut()?
        .add_user(BufReader::new(file))
        .map_err(|e| with_path(e, path))
}

/// One `word [count] [tag]` line through the library's user-dictionary reader.
fn add_one_word(
    state: &mut State,
    word: &str,
    freq: Option<u64>,
    tag: Option<&str>,
) -> PyResult<()> {
    state
        .dict_mut()?
        .add_word(word, freq, tag)
        .map_err(from_cws)
}

/// The process-wide segmenter of the module functions (shipped dictionary and model).
fn default_segmenter() -> &'static Segmenter {
    static DEFAULT: OnceLock<Segmenter> = OnceLock::new();
    DEFAULT.get_or_init(|| Segmenter {
        mode: Mode::Hybrid,
        state: RwLock::new(State {
            dict: None,
            tagger: None,
            lambda: cws::builtin::HYBRID_LAMBDA,
            built: [None, None, None],
        }),
    })
}

/// Segments `text` with the shipped dictionary/model; an iterator of words.
#[pyfunction]
#[pyo3(signature = (text, mode = "hybrid"))]
fn cut(py: Python<'_>, text: &str, mode: &str) -> PyResult<Tokens> {
    default_segmenter().cut(py, text, Some(mode))
}

/// `list(cut(text, mode))`.
#[pyfunction]
#[pyo3(signature = (text, mode = "hybrid"))]
fn lcut(py: Python<'_>, text: &str, mode: &str) -> PyResult<Vec<Py<PyAny>>> {
    default_segmenter().lcut(py, text, Some(mode))
}

/// `(word, start, end)` triples with `text[start:end] == word`.
#[pyfunction]
#[pyo3(signature = (text, mode = "hybrid"))]
fn tokenize(py: Python<'_>, text: &str, mode: &str) -> PyResult<Tokens> {
    default_segmenter().tokenize(py, text, Some(mode))
}

/// Adds a user dictionary file to the default segmenter.
#[pyfunction]
fn load_userdict(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    default_segmenter().load_userdict(py, path)
}

/// Adds one word to the default segmenter's dictionary.
#[pyfunction]
#[pyo3(signature = (word, freq = None, tag = None))]
fn add_word(word: &str, freq: Option<u64>, tag: Option<&str>) -> PyResult<()> {
    default_segmenter().add_word(word, freq, tag)
}

/// Removes a word from the default segmenter's dictionary.
#[pyfunction]
fn del_word(word: &str) -> PyResult<()> {
    default_segmenter().del_word(word)
}
