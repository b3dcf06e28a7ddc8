//! Photos as taken: decoded (JPEG, PNG, WebP), turned upright by their
//! orientation tag, shrunk to at most [`LONG_SIDE`] pixels on the long side
//! and re-encoded as JPEG, which also drops their metadata (a phone's
//! location in EXIF stays off the server; the case's own fields carry the
//! location the worker chose to give).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use crate::error::AppError;

/// The long side of a stored photo: enough to read a sign or a crack, about
/// 300–600 KB as JPEG.
pub const LONG_SIDE: u32 = 1600;
/// The largest file a worker may pick: a 50 MP camera's JPEG fits.
pub const MAX_INPUT: usize = 40 * 1024 * 1024;
/// The most pixels a photo may have: a 64 MP camera's, about 256 MB
/// decoded.
pub const MAX_PIXELS: u64 = 64_000_000;
const QUALITY: u8 = 82;

/// A photo ready to store.
#[derive(Debug)]
pub struct Shrunk {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn unreadable(detail: impl std::fmt::Display) -> AppError {
    AppError::invalid(
        Some("attachments"),
        format!("this file is not a photo the app can read (JPEG, PNG or WebP): {detail}"),
        format!("无法读取此文件,请选择JPEG、PNG或WebP格式的照片:{detail}"),
    )
}

/// Decodes, turns upright, shrinks and re-encodes a photo.
pub fn shrink(bytes: &[u8]) -> Result<Shrunk, AppError> {
    if bytes.len() > MAX_INPUT {
        return Err(AppError::invalid(
            Some("attachments"),
            format!("this file is {} MB; a photo may be at most {} MB", bytes.len() >> 20, MAX_INPUT >> 20),
            format!("文件大小为{}MB,照片不能超过{}MB", bytes.len() >> 20, MAX_INPUT >> 20),
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(unreadable)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(320 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(AppError::invalid(
            Some("attachments"),
            format!(
                "this photo is {width}×{height} pixels; a photo may have at most {} million",
                MAX_PIXELS / 1_000_000
            ),
            format!("照片为{width}×{height}像素,不能超过{}百万像素", MAX_PIXELS / 1_000_000),
        ));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    // Shrunk first, turned upright after: the copy a turn makes is small.
    if image.width().max(image.height()) > LONG_SIDE {
        image = image.resize(LONG_SIDE, LONG_SIDE, image::imageops::FilterType::Triangle);
    }
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let rgb = DynamicImage::ImageRgb8(image.into_rgb8());
    let mut jpeg = Vec::new();
    rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, QUALITY)).map_err(AppError::internal)?;
    Ok(Shrunk { jpeg, width: rgb.width(), height: rgb.height() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn a_large_photo_is_shrunk_to_the_long_side_keeping_its_shape() {
        let shrunk = shrink(&png(4000, 3000)).unwrap();
        assert_eq!((shrunk.width, shrunk.height), (1600, 1200));
        assert_eq!(&shrunk.jpeg[..2], &[0xFF, 0xD8], "stored as JPEG");
        let back = image::load_from_memory(&shrunk.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (1600, 1200));
    }

    #[test]
    fn a_small_photo_keeps_its_size() {
        let shrunk = shrink(&png(800, 1200)).unwrap();
        assert_eq!((shrunk.width, shrunk.height), (800, 1200));
    }

    #[test]
    fn a_photo_of_too_many_pixels_is_refused_before_it_is_decoded() {
        // 9000 x 9000 = 81 MP: the PNG is small (one colour), decoded it
        // would take 243 MB.
        let image = RgbImage::from_pixel(9000, 9000, image::Rgb([200, 200, 200]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        let error = shrink(&bytes).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("attachments"));
        assert!(error.message.contains("9000×9000"), "{error:?}");
    }

    #[test]
    fn what_is_not_a_photo_is_refused_naming_the_field() {
        let error = shrink(b"%PDF-1.7 not a photo").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("attachments"));
        assert!(error.message_zh.contains("JPEG"));
    }
}
