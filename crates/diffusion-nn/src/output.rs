//! Writing samples: a PNG grid of images (or a scatter plot of 2-D points) and NumPy `.npy`.
//!
//! Both are written to a temporary file beside the target and renamed, so a failed write never
//! leaves a half-written file under the requested name.

use std::path::Path;

use crate::checkpoint::write_atomic;
use crate::data::DataShape;
use crate::{Error, Result};

/// Range [−R, R]² drawn by the 2-D scatter plot.
pub const SCATTER_RANGE: f64 = 3.0;

fn to_byte(v: f64) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) / 2.0) * 255.0).round() as u8
}

/// Writes rows in [−1, 1] as a PNG: images as a near-square grid (small images enlarged to
/// about 32 px), 2-D vectors as a 512×512 scatter plot of [−3, 3]².
///
/// # Errors
/// [`Error::Config`] for rows that are neither images nor 2-D points; [`Error::Image`] or
/// [`Error::Io`] when the file cannot be written.
pub fn write_png(rows: &[f64], shape: DataShape, path: &Path) -> Result<()> {
    check_png_path(path)?;
    let dim = shape.dim();
    let n = rows.len() / dim;
    let img: image::DynamicImage = match shape {
        DataShape::Image {
            channels,
            height,
            width,
        } => {
            let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
            let grid_rows = n.div_ceil(cols).max(1);
            let scale = (32 / height.max(width)).max(1);
            let (cell_w, cell_h) = (width * scale + 2, height * scale + 2);
            let (w, h) = ((cols * cell_w) as u32, (grid_rows * cell_h) as u32);
            let mut canvas = image::RgbImage::from_pixel(w, h, image::Rgb([40, 40, 40]));
            for (i, row) in rows.chunks_exact(dim).enumerate() {
                let (gx, gy) = ((i % cols) * cell_w + 1, (i / cols) * cell_h + 1);
                for y in 0..height * scale {
                    for x in 0..width * scale {
                        let px = (y / scale) * width + x / scale;
                        let c =
                            |ch: usize| to_byte(row[ch.min(channels - 1) * height * width + px]);
                        canvas.put_pixel(
                            (gx + x) as u32,
                            (gy + y) as u32,
                            image::Rgb([c(0), c(1), c(2)]),
                        );
                    }
                }
            }
            canvas.into()
        }
        DataShape::Vector { dim: 2 } => {
            let size = 512u32;
            let mut canvas = image::RgbImage::from_pixel(size, size, image::Rgb([255, 255, 255]));
            let to_px =
                |v: f64| ((v + SCATTER_RANGE) / (2.0 * SCATTER_RANGE) * size as f64).floor();
            for p in rows.chunks_exact(2) {
                let (x, y) = (to_px(p[0]), to_px(-p[1]));
                for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (px, py) = (x + dx, y + dy);
                    if px >= 0.0 && py >= 0.0 && px < size as f64 && py < size as f64 {
                        canvas.put_pixel(px as u32, py as u32, image::Rgb([20, 60, 160]));
                    }
                }
            }
            canvas.into()
        }
        DataShape::Vector { dim } => {
            return Err(Error::config(
                "png",
                format!("rows of dimension {dim} are neither images nor 2-D points; use --npy"),
            ));
        }
    };
    write_atomic(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| Error::Image {
                path: path.to_path_buf(),
                msg: e.to_string(),
            })
    })
}

/// Writes rows as a little-endian f32 NumPy array of shape `(n, d)` for vectors or
/// `(n, C, H, W)` for images.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_npy(rows: &[f64], shape: DataShape, path: &Path) -> Result<()> {
    let n = rows.len() / shape.dim();
    let dims = match shape {
        DataShape::Vector { dim } => format!("({n}, {dim})"),
        DataShape::Image {
            channels,
            height,
            width,
        } => format!("({n}, {channels}, {height}, {width})"),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Preamble (10 bytes) + header + '\n' must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * rows.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in rows {
        bytes.extend_from_slice(&(v as f32).to_le_bytes());
    }
    write_atomic(path, |tmp| {
        std::fs::write(tmp, &bytes).map_err(|e| Error::io(path, e))
    })
}

/// Checks that an image path ends in `.png` (any case): kexue writes PNG only, and PNG bytes
/// under a `.jpg` name mislead every program that trusts the name.
///
/// # Errors
/// [`Error::Config`] naming the extension and the fix.
pub fn check_png_path(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(()),
        other => Err(Error::config(
            "output",
            format!(
                "cannot write {}: images are written as PNG only, and the name ends in {}; \
                 name the file .png",
                path.display(),
                other.map_or_else(|| "no extension".to_string(), |e| format!(".{e}"))
            ),
        )),
    }
}

/// Bytes of memory the system can still give, from `/proc/meminfo` (`MemAvailable`), or
/// `None` where that is not known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Checks up front that `rows` rows of `dim` f64 values, held `copies` times at once, fit in
/// the available memory (all of it counts when it is not known: only an overflow is refused),
/// so that a huge `--samples` or `--m` is a clear error instead of an out-of-memory kill.
///
/// # Errors
/// [`Error::Config`] naming `what` (the flag), the memory needed and the largest value that fits.
pub fn check_memory(what: &'static str, rows: usize, dim: usize, copies: usize) -> Result<()> {
    let per_row = (dim.max(1) as u128) * 8 * copies.max(1) as u128;
    let need = rows as u128 * per_row;
    let have = available_memory().map_or(u128::from(u64::MAX), u128::from);
    if need > have {
        let gb = |b: u128| b as f64 / 1e9;
        return Err(Error::config(
            what,
            format!(
                "--{what} {rows}: {rows} rows of {dim} values need about {:.1} GB, more than the \
                 {:.1} GB of memory available; use at most {}",
                gb(need),
                gb(have),
                have / per_row
            ),
        ));
    }
    Ok(())
}

/// Checks that `path` can be written: its folder exists and it is not a folder itself.
///
/// # Errors
/// [`Error::Config`] saying which.
pub fn check_writable(path: &Path) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::config(
            "output",
            format!(
                "cannot write {}: folder {} does not exist",
                path.display(),
                parent.display()
            ),
        ));
    }
    if path.is_dir() {
        return Err(Error::config(
            "output",
            format!("cannot write {}: it is a folder", path.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_check_refuses_what_cannot_fit() {
        assert!(check_memory("samples", 64, 3072, 4).is_ok());
        let err = check_memory("samples", usize::MAX, 3072, 4).unwrap_err();
        assert!(err.to_string().contains("--samples"), "{err}");
        assert!(err.to_string().contains("use at most"), "{err}");
    }

    #[test]
    fn npy_header_is_aligned_and_data_follows() {
        let dir = std::env::temp_dir().join(format!("kexue-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        write_npy(&[1.0, -2.0, 0.5, 4.0], DataShape::Vector { dim: 2 }, &path).unwrap();
        let b = std::fs::read(&path).unwrap();
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 2)"), "{header}");
        let data: Vec<f32> = b[10 + hlen..]
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(data, vec![1.0, -2.0, 0.5, 4.0]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn png_grid_and_scatter_round_trip() {
        let dir = std::env::temp_dir().join(format!("kexue-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shape = DataShape::Image {
            channels: 1,
            height: 8,
            width: 8,
        };
        let mut rows = vec![-1.0; 4 * 64];
        rows[0] = 1.0; // top-left pixel of the first image is white
        let path = dir.join("g.png");
        write_png(&rows, shape, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2 * 34, 2 * 34));
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(5, 1).0, [0, 0, 0]);
        write_png(&[0.0, 0.0], DataShape::Vector { dim: 2 }, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.get_pixel(256, 256).0, [20, 60, 160]);
        assert!(write_png(&[0.0; 3], DataShape::Vector { dim: 3 }, &path).is_err());
        // A non-PNG name is refused (it used to get PNG bytes) and nothing is written.
        let jpg = dir.join("g.jpg");
        let err = write_png(&[0.0, 0.0], DataShape::Vector { dim: 2 }, &jpg).unwrap_err();
        assert!(err.to_string().contains(".jpg"), "{err}");
        assert!(!jpg.exists());
        assert!(check_png_path(Path::new("a.PNG")).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
