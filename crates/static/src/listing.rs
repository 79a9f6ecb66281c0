//! Directory listings: an HTML page that reads well without JavaScript, or
//! JSON (`?format=json`).
//!
//! Directories come first, then files, each sorted by name (case-insensitive,
//! then exact). Names are HTML-escaped in text and percent-encoded in links,
//! and every link starts with `./` so a file named `javascript:alert(1)` is a
//! relative path, not a URL scheme. Hidden names follow the handler's
//! `hidden` setting and symbolic links its [`SymlinkPolicy`] (a link out of
//! the root is not listed), names that are not UTF-8 are left out (no URL
//! could ask for them), and so are FIFOs, sockets and devices. At most
//! [`MAX_LISTING_ENTRIES`] entries are read; past that the listing says it
//! is truncated.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::resolve::SymlinkPolicy;
use osprey_web::percent;

/// Most directory entries read for one listing: bounds the time and memory a
/// request for a huge directory costs. The first entries the directory
/// yields are shown (sorted); a note says the rest were left out.
pub const MAX_LISTING_ENTRIES: usize = 10_000;

/// One listed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The file name.
    pub name: String,
    /// Whether it is a directory (after following an allowed link).
    pub is_dir: bool,
    /// Its size in bytes (0 for a directory).
    pub size: u64,
    /// Its modification time, when the file system keeps one.
    pub modified: Option<SystemTime>,
}

/// A directory's entries, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The entries: directories first, then by name.
    pub entries: Vec<Entry>,
    /// Whether entries were left out because of the limit.
    pub truncated: bool,
}

/// Reads the directory `dir` under `root`, keeping at most `max` entries.
pub fn read_listing(
    dir: &Path,
    root: &Path,
    hidden: bool,
    policy: SymlinkPolicy,
    max: usize,
) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for item in fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !hidden && name.starts_with('.') {
            continue;
        }
        let Ok(kind) = item.file_type() else { continue };
        let meta = if kind.is_symlink() {
            let allowed = match policy {
                SymlinkPolicy::Never => false,
                SymlinkPolicy::Always => true,
                SymlinkPolicy::InsideRoot => {
                    fs::canonicalize(item.path()).is_ok_and(|real| real.starts_with(root))
                }
            };
            if !allowed {
                continue;
            }
            fs::metadata(item.path())
        } else {
            item.metadata()
        };
        let Ok(meta) = meta else { continue };
        if !(meta.is_file() || meta.is_dir()) {
            continue;
        }
        if listing.entries.len() == max {
            listing.truncated = true;
            break;
        }
        listing.entries.push(Entry {
            name,
            is_dir: meta.is_dir(),
            size: if meta.is_dir() { 0 } else { meta.len() },
            modified: meta.modified().ok(),
        });
    }
    sort(&mut listing.entries);
    Ok(listing)
}

/// Directories first, then by name ignoring case, then exactly.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape_html(s: &str) -> Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A size for people: `604 B`, `1.5 KiB`, `2.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn date(t: Option<SystemTime>) -> Option<String> {
    t.map(httpdate::fmt_http_date)
}

/// The HTML page for `listing` of the directory at URL path `url_path`
/// (decoded, shown in the title); `is_root` leaves out the parent link.
pub fn render_html(url_path: &str, listing: &Listing, is_root: bool) -> String {
    let title = escape_html(url_path);
    let mut out = String::with_capacity(1024 + listing.entries.len() * 160);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Index of {title}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}}\n\
         table{{border-collapse:collapse;width:100%}}\n\
         th,td{{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd}}\n\
         td.size,th.size{{text-align:right;white-space:nowrap}}\n\
         td.modified{{white-space:nowrap;color:#555}}\n\
         a{{text-decoration:none}}a:hover{{text-decoration:underline}}\n\
         </style>\n</head>\n<body>\n<h1>Index of {title}</h1>\n<table>\n\
         <thead><tr><th>Name</th><th class=\"size\">Size</th><th>Modified</th></tr></thead>\n<tbody>\n"
    );
    if !is_root {
        out.push_str(
            "<tr><td><a href=\"../\">../</a></td><td class=\"size\">-</td><td class=\"modified\"></td></tr>\n",
        );
    }
    for e in &listing.entries {
        let slash = if e.is_dir { "/" } else { "" };
        // Percent-encoded for the URL, then escaped for the attribute (a
        // segment may keep `&` and `'`).
        let encoded = percent::encode_segment(&e.name);
        let href = escape_html(&encoded);
        let name = escape_html(&e.name);
        let size = if e.is_dir {
            "-".to_string()
        } else {
            human_size(e.size)
        };
        let modified = date(e.modified).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"./{href}{slash}\">{name}{slash}</a></td>\
             <td class=\"size\">{size}</td><td class=\"modified\">{modified}</td></tr>"
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if listing.truncated {
        let _ = writeln!(
            out,
            "<p><em>Only the first {} entries are shown.</em></p>",
            listing.entries.len()
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `null` for directories.
    size: Option<u64>,
    /// An HTTP-date, like `Last-Modified`.
    modified: Option<String>,
}

/// The JSON array for `listing`:
/// `[{"name":…,"type":"file"|"dir","size":n|null,"modified":"HTTP-date"|null}]`.
pub fn render_json(listing: &Listing) -> Vec<u8> {
    let entries: Vec<JsonEntry<'_>> = listing
        .entries
        .iter()
        .map(|e| JsonEntry {
            name: &e.name,
            kind: if e.is_dir { "dir" } else { "file" },
            size: (!e.is_dir).then_some(e.size),
            modified: date(e.modified),
        })
        .collect();
    serde_json::to_vec(&entries).unwrap_or_else(|_| b"[]".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool) -> Entry {
        Entry {
            name: name.into(),
            is_dir,
            size: 2048,
            modified: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)),
        }
    }

    #[test]
    fn escapes_names_and_encodes_links() {
        let listing = Listing {
            entries: vec![
                entry("<script>alert(1)</script>.txt", false),
                entry("a \"quoted\" & 'single'.txt", false),
                entry("javascript:alert(1)", false),
                entry("dir with space", true),
            ],
            truncated: false,
        };
        let html = render_html("/x/<b>/", &listing, false);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("Index of /x/&lt;b&gt;/"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.txt"));
        assert!(html.contains("href=\"./%3Cscript%3Ealert(1)%3C%2Fscript%3E.txt\""));
        assert!(html.contains("a &quot;quoted&quot; &amp; &#39;single&#39;.txt"));
        assert!(html.contains("href=\"./a%20%22quoted%22%20&amp;%20&#39;single&#39;.txt\""));
        assert!(html.contains("href=\"./javascript:alert(1)\""));
        assert!(html.contains("href=\"./dir%20with%20space/\">dir with space/</a>"));
        assert!(html.contains("href=\"../\""));
        assert!(html.contains("2.0 KiB"));
        assert!(html.contains("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(!html.contains("<script"), "no JavaScript at all");
        let root = render_html("/", &listing, true);
        assert!(!root.contains("href=\"../\""));
    }

    #[test]
    fn attribute_values_cannot_be_broken_out_of() {
        // A quote in a name is percent-encoded in href and escaped in text.
        let listing = Listing {
            entries: vec![entry("x\" onmouseover=\"alert(1)", false)],
            truncated: false,
        };
        let html = render_html("/", &listing, true);
        assert!(!html.contains("\" onmouseover"));
    }

    #[test]
    fn sorted_dirs_first_then_name() {
        let mut entries = vec![
            entry("b.txt", false),
            entry("Zdir", true),
            entry("A.txt", false),
            entry("adir", true),
            entry("a.txt", false),
        ];
        sort(&mut entries);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["adir", "Zdir", "A.txt", "a.txt", "b.txt"]);
    }

    #[test]
    fn json_shape() {
        let listing = Listing {
            entries: vec![entry("d", true), entry("f.txt", false)],
            truncated: false,
        };
        let v: serde_json::Value = serde_json::from_slice(&render_json(&listing)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"name": "d", "type": "dir", "size": null, "modified": "Sun, 06 Nov 1994 08:49:37 GMT"},
                {"name": "f.txt", "type": "file", "size": 2048, "modified": "Sun, 06 Nov 1994 08:49:37 GMT"},
            ])
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(604), "604 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn reads_a_directory_with_limits() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        for name in ["b", "a", ".hidden"] {
            fs::write(root.join(name), "x").unwrap();
        }
        fs::create_dir(root.join("sub")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("in")).unwrap();
        let names = |hidden, policy, max| {
            let l = read_listing(&root, &root, hidden, policy, max).unwrap();
            let names: Vec<String> = l.entries.iter().map(|e| e.name.clone()).collect();
            (names, l.truncated)
        };
        use SymlinkPolicy::*;
        assert_eq!(
            names(false, InsideRoot, 100),
            (
                vec!["sub".into(), "a".into(), "b".into(), "in".into()],
                false
            )
        );
        assert_eq!(
            names(true, InsideRoot, 100).0,
            ["sub", ".hidden", "a", "b", "in"]
        );
        assert_eq!(names(false, Never, 100).0, ["sub", "a", "b"]);
        assert_eq!(names(false, Always, 100).0, ["out", "sub", "a", "b", "in"]);
        let (some, truncated) = names(false, Never, 2);
        assert_eq!((some.len(), truncated), (2, true));
    }
}
