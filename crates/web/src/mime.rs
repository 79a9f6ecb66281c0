//! Content types from file names (mime_guess), with `charset=utf-8` on text.
//!
//! Text served without a charset is decoded by browsers with a locale-dependent
//! guess; we write UTF-8 and say so. Types mime_guess does not know are sent as
//! `application/octet-stream`, which browsers download instead of rendering —
//! the safe reading of an unknown file.
//!
//! Used by `Response::file` here, and by the compression middleware and the
//! static-file server, which is why it lives in osprey-web.

use std::path::Path;

use osprey_proto::HeaderValue;

/// Whether a media type is text a charset applies to.
fn is_textual(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/manifest+json"
                | "image/svg+xml"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// The `Content-Type` for `path`, from its extension.
pub fn for_path(path: &Path) -> HeaderValue {
    let guess = mime_guess::from_path(path).first_raw();
    let essence = guess.unwrap_or("application/octet-stream");
    // Modern browsers and RFC 9239 call JavaScript `text/javascript`.
    let essence = if essence == "application/javascript" {
        "text/javascript"
    } else {
        essence
    };
    if is_textual(essence) {
        HeaderValue::try_from(format!("{essence}; charset=utf-8"))
            .unwrap_or(HeaderValue::from_static("application/octet-stream"))
    } else {
        HeaderValue::try_from(essence)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"))
    }
}

/// Whether a response of this `Content-Type` is worth compressing: text and
/// structured text yes; images, video, audio, fonts in WOFF/WOFF2 and archives
/// are compressed already.
pub fn is_compressible(content_type: &[u8]) -> bool {
    let ct = String::from_utf8_lossy(content_type).to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    is_textual(essence)
        || matches!(
            essence,
            "application/wasm"
                | "application/x-javascript"
                | "application/xhtml+xml"
                | "image/x-icon"
                | "image/bmp"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(name: &str) -> String {
        for_path(Path::new(name)).to_str().unwrap().to_string()
    }

    #[test]
    fn types_and_charsets() {
        assert_eq!(ct("a.html"), "text/html; charset=utf-8");
        assert_eq!(ct("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(ct("a.json"), "application/json; charset=utf-8");
        assert_eq!(ct("a.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(ct("a.png"), "image/png");
        assert_eq!(ct("a.unknownext"), "application/octet-stream");
        assert_eq!(ct("noext"), "application/octet-stream");
    }

    #[test]
    fn compressibility() {
        assert!(is_compressible(b"text/html; charset=utf-8"));
        assert!(is_compressible(b"application/json"));
        assert!(is_compressible(b"Image/SVG+XML"));
        assert!(!is_compressible(b"image/png"));
        assert!(!is_compressible(b"application/zip"));
        assert!(!is_compressible(b"font/woff2"));
    }
}
