//! Crash-safe checkpoints: each checkpoint is a complete *generation* folder, and one pointer
//! file names the current generation.
//!
//! ```text
//! OUT/gen-00000250/{config.json, vocab.txt, model.safetensors, state.json}
//! OUT/gen-00000500/…
//! OUT/CURRENT          "gen-00000500\n"
//! ```
//!
//! Writing generation k: its files go into `OUT/gen-k.partial/` (each file flushed to disk),
//! the folder is renamed to `OUT/gen-k` (atomic), then `CURRENT` is replaced by an atomic rename
//! of `CURRENT.tmp`. Only then are older generations removed, keeping the previous one.
//! A kill at any moment therefore leaves `CURRENT` naming a complete generation (or no
//! `CURRENT` yet, before the first checkpoint). Should `CURRENT` ever be missing or name an
//! incomplete folder (e.g. it was deleted by hand), [`resolve`] falls back to the newest
//! complete `gen-*` folder. A model folder with `config.json` at its top level (the shipped
//! `models/cws/`) is used as it is.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::infer::files;
use crate::{Error, Result};

/// Name of the pointer file.
pub const CURRENT: &str = "CURRENT";
/// The training state inside a generation.
pub const STATE: &str = "state.json";

const PREFIX: &str = "gen-";
const PARTIAL: &str = ".partial";

fn is_complete(dir: &Path) -> bool {
    [files::CONFIG, files::VOCAB, files::WEIGHTS, STATE]
        .iter()
        .all(|f| dir.join(f).is_file())
}

fn generations(out: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut gens: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix(PREFIX)?.parse::<u64>().ok()?;
            Some((step, e.path()))
        })
        .collect();
    gens.sort();
    gens
}

/// The folder holding the model files of `dir`: `dir` itself if it has `config.json` at its
/// top level, else the generation named by `CURRENT`, else the newest complete generation.
/// `None` if there is none.
pub fn resolve(dir: &Path) -> Option<PathBuf> {
    if dir.join(files::CONFIG).is_file() {
        return Some(dir.to_path_buf());
    }
    if let Ok(name) = std::fs::read_to_string(dir.join(CURRENT)) {
        let name = name.trim();
        if name.starts_with(PREFIX) && !name.contains(['/', '\\']) {
            let g = dir.join(name);
            if is_complete(&g) {
                return Some(g);
            }
        }
    }
    generations(dir)
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| is_complete(p))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Directory fsync makes the renames durable across power loss; not all platforms allow
    // opening a directory, and a kill (the case this guards) does not need it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes generation `step` into `out` with `files` (name, bytes), then points `CURRENT` at it
/// and removes generations older than the previous one.
///
/// # Errors
/// I/O errors.
pub fn write_generation(out: &Path, step: u64, files: &[(&str, &[u8])]) -> Result<PathBuf> {
    let name = format!("{PREFIX}{step:08}");
    let final_dir = out.join(&name);
    let partial = out.join(format!("{name}{PARTIAL}"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)?;
    }
    std::fs::create_dir_all(&partial)?;
    for (f, bytes) in files {
        write_synced(&partial.join(f), bytes)?;
    }
    sync_dir(&partial);
    let previous = resolve_current(out);
    if final_dir.exists() {
        if previous.as_deref() == Some(final_dir.as_path()) {
            return Err(Error::Model(format!(
                "{} is the current checkpoint and would be overwritten",
                final_dir.display()
            )));
        }
        std::fs::remove_dir_all(&final_dir)?;
    }
    std::fs::rename(&partial, &final_dir)?;
    sync_dir(out);
    let tmp = out.join(format!("{CURRENT}.tmp"));
    write_synced(&tmp, format!("{name}\n").as_bytes())?;
    std::fs::rename(&tmp, out.join(CURRENT))?;
    sync_dir(out);
    // Keep the new generation and the previous one; remove the rest (and stray partials).
    for (_, p) in generations(out) {
        if p != final_dir && Some(&p) != previous.as_ref() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
    if let Ok(rd) = std::fs::read_dir(out) {
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with(PREFIX) && n.ends_with(PARTIAL) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(final_dir)
}

/// The generation `CURRENT` names, if complete.
fn resolve_current(out: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(out.join(CURRENT)).ok()?;
    let g = out.join(name.trim());
    is_complete(&g).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tag: &str) -> Vec<(&'static str, Vec<u8>)> {
        [files::CONFIG, files::VOCAB, files::WEIGHTS, STATE]
            .iter()
            .map(|f| (*f, format!("{f} {tag}").into_bytes()))
            .collect()
    }

    #[test]
    fn generations_rotate_and_fall_back() -> Result<()> {
        let out = std::env::temp_dir().join(format!("cws-ckpt-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        assert_eq!(resolve(&out), None);
        for step in [1u64, 2, 3] {
            let f = files(&step.to_string());
            let refs: Vec<(&str, &[u8])> = f.iter().map(|(n, b)| (*n, b.as_slice())).collect();
            write_generation(&out, step, &refs)?;
        }
        let cur = resolve(&out).unwrap();
        assert!(cur.ends_with("gen-00000003"));
        let kept: Vec<u64> = generations(&out).into_iter().map(|g| g.0).collect();
        assert_eq!(kept, [2, 3]);
        // A half-written generation (as after a kill) is ignored; so is a dangling pointer.
        std::fs::create_dir_all(out.join("gen-00000004"))?;
        std::fs::write(out.join("gen-00000004").join(STATE), "x")?;
        assert!(resolve(&out).unwrap().ends_with("gen-00000003"));
        std::fs::write(out.join(CURRENT), "gen-00000009\n")?;
        assert!(resolve(&out).unwrap().ends_with("gen-00000003"));
        std::fs::remove_file(out.join(CURRENT))?;
        assert!(resolve(&out).unwrap().ends_with("gen-00000003"));
        std::fs::remove_dir_all(&out)?;
        Ok(())
    }
}
