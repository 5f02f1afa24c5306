//! Issue 15 from the command line: `train --net diffusers-unet --unet-config`, `export`, and the
//! exported folder opening in kexue's diffusers loader; an MLP checkpoint does not export.

use super::{fails, ok, s, scratch};

#[test]
fn train_diffusers_unet_then_export() {
    let dir = scratch("diffusion-export", "run");
    let ckpt = dir.join("ckpt");
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../diffusion-nn/tests/data/export/tiny_unet.json");
    ok(&[
        "diffusion",
        "train",
        "--data",
        "digits",
        "--net",
        "diffusers-unet",
        "--unet-config",
        s(&config),
        "--out",
        s(&ckpt),
        "--steps",
        "2",
        "--batch-size",
        "8",
    ]);
    let text = ok(&[
        "diffusion",
        "train",
        "--out",
        s(&ckpt),
        "--resume",
        "--steps",
        "3",
    ]);
    assert!(text.contains("trained steps 3..3"), "{text}");
    let out = dir.join("pipeline");
    let text = ok(&[
        "diffusion",
        "export",
        "--ckpt",
        s(&ckpt),
        "--out",
        s(&out),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["step"], 3);
    assert_eq!(report["n_params"], 44_969);
    let pre = diffusion_nn::diffusers::load(&out, &diffusion_nn::Device::Cpu).unwrap();
    assert_eq!(pre.unet.n_params(), 44_969);

    // --unet-config with the MLP, an MLP export, an existing --out: one clean error line each.
    let err = fails(&[
        "diffusion",
        "train",
        "--data",
        "digits",
        "--net",
        "mlp",
        "--unet-config",
        s(&config),
        "--out",
        s(&dir.join("x")),
    ]);
    assert!(err.contains("--net diffusers-unet"), "{err}");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let err = fails(&[
        "diffusion",
        "export",
        "--ckpt",
        s(&shipped),
        "--out",
        s(&dir.join("mlp")),
    ]);
    assert!(err.contains("only U-Nets"), "{err}");
    let err = fails(&["diffusion", "export", "--ckpt", s(&ckpt), "--out", s(&out)]);
    assert!(err.contains("already exists"), "{err}");
}
