//! Data loaders: error paths with tiny generated files, and the happy paths.

use std::path::Path;

use diffusion_nn::data::{self, DataShape, DataSpec, parse_cifar_batch, parse_idx_images};

use super::scratch;

fn idx(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [n, rows, cols] {
        b.extend(v.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

#[test]
fn idx_errors() {
    let p = Path::new("x-idx3-ubyte");
    let err = parse_idx_images(&[0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], p).unwrap_err();
    assert!(
        err.to_string().contains("wrong magic number 0x00000801"),
        "{err}"
    );
    let err =
        parse_idx_images(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], p).unwrap_err();
    assert!(err.to_string().contains("gunzip"), "{err}");
    let err = parse_idx_images(&idx(3, 2, 2, &[0; 11]), p).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = parse_idx_images(&[0, 0, 8], p).unwrap_err();
    assert!(err.to_string().contains("truncated IDX header"), "{err}");
    let (n, r, c, px) = parse_idx_images(&idx(3, 2, 2, &[7; 12]), p).unwrap();
    assert_eq!((n, r, c, px.len()), (3, 2, 2, 12));
}

#[test]
fn mnist_folder_loads_and_scales() {
    let dir = scratch("mnist");
    let train: Vec<u8> = (0..20 * 4).map(|i| (i * 3 % 256) as u8).collect();
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx(20, 2, 2, &train)).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(2, 2, 2, &[0, 255, 51, 204, 0, 0, 0, 0]),
    )
    .unwrap();
    let d = data::load(&DataSpec::Mnist(dir.clone())).unwrap();
    assert_eq!(
        d.shape,
        DataShape::Image {
            channels: 1,
            height: 2,
            width: 2
        }
    );
    assert_eq!((d.n_train(), d.n_test(), d.levels), (20, 2, Some(256)));
    assert_eq!(&d.test[..4], &[-1.0, 1.0, -0.6, 0.6]);
    // Missing folder content is a clear error.
    let empty = scratch("mnist-empty");
    let err = data::load(&DataSpec::Mnist(empty)).unwrap_err();
    assert!(
        err.to_string().contains("no train-images-idx3-ubyte"),
        "{err}"
    );
    let err = data::load(&DataSpec::Mnist(dir.join("nope"))).unwrap_err();
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[test]
fn cifar_errors_and_values() {
    let p = Path::new("data_batch_1.bin");
    let err = parse_cifar_batch(&vec![0; 3073 * 2 - 5], p).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let mut rec = vec![0u8; 3073];
    rec[0] = 12;
    let err = parse_cifar_batch(&rec, p).unwrap_err();
    assert!(err.to_string().contains("label byte 12"), "{err}");
    rec[0] = 3;
    rec[1] = 255;
    let rows = parse_cifar_batch(&rec, p).unwrap();
    assert_eq!((rows.len(), rows[0], rows[1]), (3072, 1.0, -1.0));
}

#[test]
fn png_folder_errors_and_values() {
    let dir = scratch("png");
    let err = data::load(&DataSpec::Png(dir.clone())).unwrap_err();
    assert!(err.to_string().contains("no .png files"), "{err}");
    for i in 0..10u8 {
        let img = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x + 3 * y) as u8 * 51 + i]));
        img.save(dir.join(format!("img{i:02}.png"))).unwrap();
    }
    let d = data::load(&DataSpec::Png(dir.clone())).unwrap();
    assert_eq!(
        d.shape,
        DataShape::Image {
            channels: 1,
            height: 2,
            width: 3
        }
    );
    assert_eq!((d.n_train(), d.n_test()), (9, 1));
    assert_eq!(d.train[1], (2.0 * 51.0 / 255.0 - 1.0) as f32);
    std::fs::write(dir.join("zz-broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = data::load(&DataSpec::Png(dir.clone())).unwrap_err();
    assert!(err.to_string().contains("zz-broken.png"), "{err}");
    std::fs::remove_file(dir.join("zz-broken.png")).unwrap();
    image::GrayImage::new(4, 4)
        .save(dir.join("zz-big.png"))
        .unwrap();
    let err = data::load(&DataSpec::Png(dir)).unwrap_err();
    assert!(err.to_string().contains("4×4 image"), "{err}");
}
