//! The demo checkpoint shipped with kexue (`models/digits`: the MLP ε-network trained on the
//! UCI digits), found without the source tree.
//!
//! [`digits_dir`] looks, in order, in
//! 1. `$KEXUE_MODELS/digits` when `KEXUE_MODELS` is set (an error if it holds no checkpoint);
//! 2. `models/digits` under the working directory (running from the repository);
//! 3. the copy compiled into the binary (`checkpoint.json` and `model.safetensors`, 3.5 MB),
//!    unpacked once into `$XDG_CACHE_HOME/kexue/models/digits` (default `~/.cache/kexue/…`,
//!    the system temporary folder when there is no home) and rewritten when it differs.
//!
//! So an installed `kexue` (`cargo install --path crates/cli`) runs the demo anywhere.

use std::path::{Path, PathBuf};

use crate::checkpoint::{META_FILE, MODEL_FILE};
use crate::{Error, Result};

/// The shipped checkpoint's `checkpoint.json`.
pub const DIGITS_META: &[u8] = include_bytes!("../../../models/digits/checkpoint.json");
/// The shipped checkpoint's `model.safetensors` (EMA weights).
pub const DIGITS_WEIGHTS: &[u8] = include_bytes!("../../../models/digits/model.safetensors");

/// The environment variable naming a folder of shipped models.
pub const MODELS_ENV: &str = "KEXUE_MODELS";

/// Where the compiled-in copy is unpacked.
pub fn unpack_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("kexue").join("models").join("digits")
}

/// The digits checkpoint folder, by the lookup order of the module docs.
///
/// # Errors
/// [`Error::Checkpoint`] when `KEXUE_MODELS` is set but holds no `digits` checkpoint;
/// [`Error::Io`] when the compiled-in copy cannot be unpacked.
pub fn digits_dir() -> Result<PathBuf> {
    if let Some(root) = std::env::var_os(MODELS_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(root).join("digits");
        if dir.join(META_FILE).is_file() {
            return Ok(dir);
        }
        return Err(Error::checkpoint(
            &dir,
            format!("{MODELS_ENV} is set, but this folder holds no {META_FILE}"),
        ));
    }
    let local = PathBuf::from("models/digits");
    if local.join(META_FILE).is_file() {
        return Ok(local);
    }
    let dir = unpack_dir();
    unpack(&dir)?;
    Ok(dir)
}

/// Writes the compiled-in checkpoint into `dir` unless it already holds exactly these files
/// (each file goes to a temporary name first and is renamed, the weights before the JSON).
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written.
pub fn unpack(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, bytes) in [(MODEL_FILE, DIGITS_WEIGHTS), (META_FILE, DIGITS_META)] {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|b| b == bytes) {
            continue;
        }
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacked_copy_opens_and_is_rewritten_when_damaged() {
        let dir = std::env::temp_dir().join(format!("kexue-shipped-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        unpack(&dir).unwrap();
        let ck = crate::Checkpoint::open(&dir).unwrap();
        assert_eq!(ck.dim(), 64);
        std::fs::write(dir.join(MODEL_FILE), b"broken").unwrap();
        unpack(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join(MODEL_FILE)).unwrap(), DIGITS_WEIGHTS);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
