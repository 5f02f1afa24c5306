//! Golden outputs (issue 13): every case of `tests/data/golden/*.json` (recorded by
//! `tests/data/golden/make.py` with the binary before the application layer moved into the
//! libraries) is run again and must print the same numbers: JSON numbers equal to 1e-12
//! relative, text equal once the wall time is blanked, and the `--npy` samples equal to 1e-12.
//! Timing fields (`seconds`, `dp_seconds`) are not compared. `{CKPT}` is a fresh copy of
//! `models/digits` per case, so no cache is written into the shipped folder.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{kexue, scratch};

/// Fields that hold wall times.
const TIMING: [&str; 2] = ["seconds", "dp_seconds"];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// Compares two JSON values; returns the path of the first difference.
fn same(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if close(a, b) {
                Ok(())
            } else {
                Err(format!("{at}: {a} vs {b}"))
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| same(x, y, &format!("{at}[{i}]"))),
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| {
                let mut k: Vec<String> = o
                    .keys()
                    .filter(|k| !TIMING.contains(&k.as_str()))
                    .cloned()
                    .collect();
                k.sort();
                k
            };
            if keys(a) != keys(b) {
                return Err(format!("{at}: keys {:?} vs {:?}", keys(a), keys(b)));
            }
            keys(a)
                .iter()
                .try_for_each(|k| same(&a[k], &b[k], &format!("{at}.{k}")))
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: {want} vs {got}")),
    }
}

/// `text` with every wall time "(1.23s)" blanked.
fn blank_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(end) = rest.find("s)") {
        let (head, tail) = rest.split_at(end);
        match head.rfind('(') {
            Some(open)
                if open + 1 < head.len()
                    && head[open + 1..]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.') =>
            {
                out.push_str(&head[..=open]);
                out.push_str("…s)");
            }
            _ => {
                out.push_str(head);
                out.push_str("s)");
            }
        }
        rest = &tail[2..];
    }
    out.push_str(rest);
    out
}

/// The f32 values of a NumPy `<f4` file, as f64.
fn read_npy(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap();
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!(String::from_utf8_lossy(&bytes[10..10 + hlen]).contains("'<f4'"));
    bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

fn check_case(path: &Path) -> Result<(), String> {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = scratch("golden", &name);
    let (ckpt, out) = (dir.join("ckpt"), dir.join("out"));
    copy_dir(&manifest().join("../../models/digits"), &ckpt);
    std::fs::create_dir_all(&out).unwrap();
    let (ckpt_s, out_s) = (ckpt.to_str().unwrap(), out.to_str().unwrap());
    let args: Vec<String> = golden["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("{CKPT}", ckpt_s)
                .replace("{OUT}", out_s)
        })
        .collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let res = kexue(&argv, "");
    if !res.status.success() {
        return Err(format!(
            "{name}: failed: {}",
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&res.stdout)
        .replace(ckpt_s, "{CKPT}")
        .replace(out_s, "{OUT}");
    let want = golden["stdout"].as_str().unwrap();
    match (
        serde_json::from_str::<Value>(want),
        serde_json::from_str::<Value>(&stdout),
    ) {
        (Ok(w), Ok(g)) => same(&w, &g, &name)?,
        _ if blank_times(want) == blank_times(&stdout) => {}
        _ => return Err(format!("{name}: stdout\n{want}\nvs\n{stdout}")),
    }
    if let Some(npy) = golden.get("npy") {
        let got = read_npy(&out.join("x.npy"));
        let want: Vec<f64> = npy
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        if want.len() != got.len() {
            return Err(format!("{name}: {} samples vs {}", want.len(), got.len()));
        }
        if let Some(i) = (0..want.len()).find(|&i| !close(want[i], got[i])) {
            return Err(format!(
                "{name}: sample value {i}: {} vs {}",
                want[i], got[i]
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn outputs_equal_the_goldens() {
    let dir: PathBuf = manifest().join("tests/data/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 14,
        "golden cases missing in {}",
        dir.display()
    );
    let failures: Vec<String> = cases.iter().filter_map(|p| check_case(p).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_comparison_can_fail() {
    // A changed number, a missing key and a changed text are differences; timing is not.
    let a: Value = serde_json::from_str(r#"{"x": 1.0, "seconds": 3, "r": [{"y": 2}]}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"x": 1.0, "seconds": 9, "r": [{"y": 2}]}"#).unwrap();
    assert!(same(&a, &b, "").is_ok());
    let c: Value = serde_json::from_str(r#"{"x": 1.000001, "r": [{"y": 2}]}"#).unwrap();
    assert!(same(&a, &c, "").is_err());
    let d: Value = serde_json::from_str(r#"{"x": 1.0, "r": [{"y": 2, "z": 0}]}"#).unwrap();
    assert!(same(&a, &d, "").is_err());
    assert_eq!(
        blank_times("16 samples with x (0.52s): mean [0.1000]"),
        blank_times("16 samples with x (13.02s): mean [0.1000]")
    );
    assert_ne!(
        blank_times("16 samples with x (0.52s): mean [0.1000]"),
        blank_times("16 samples with x (0.52s): mean [0.1001]")
    );
}
